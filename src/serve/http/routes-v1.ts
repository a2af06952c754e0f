/**
 * The wganx HTTP API (/v1): model listing, samples (grid image, JSON list, .npy), cacheable
 * sample images for `<img>` tags, and latent interpolation strips and animations.
 *
 * Samples may be refined by the model's critic (`refine`, issue 35: the runtime's method table,
 * checked against the model's files and the server's limits by ../engine/refine.ts); a refined
 * request is computed alone in a session worker by the runtime's own function, so it gives what
 * `Generator.sample` gives. Interpolation takes no refinement (docs/serve.md says why).
 */
import { createHash, randomInt } from 'node:crypto';
import express, { type Request, type Router } from 'express';
import { InvalidArgumentError } from '../../core/errors.js';
import { classFromText } from '../../core/labels.js';
import { seededSamples, walkSamples } from '../../core/seeded.js';
import { describeRefine, refineRequest, resolveRefine, type RefineRequest, type ResolvedRefine } from '../../runtime/refine/index.js';
import { checkSampleView, renderSamples, type RenderedBytes, type SampleBatch, type SampleView } from '../../encode/render.js';
import type { Engine } from '../engine/engine.js';
import { HttpError } from './http-error.js';
import { admission, clientSignal, etagFresh, info, lookupModel, modelHeaders, serverTiming } from './http-util.js';
import type { LoadedModel } from '../engine/model.js';
import { refineSummary, servedRefine } from '../engine/refine.js';
import type { ModelEntry } from '../engine/registry.js';
import { defaultSampleCount, parseInput, type RequestSchemas } from './schemas.js';

/** Random seeds (when a request gives none) stay below 2^48 − 1, the limit of crypto.randomInt. */
const RANDOM_SEED_LIMIT = 2 ** 48 - 1;

export function modelSummary(engine: Engine, e: ModelEntry) {
  const m = e.model;
  return {
    name: e.name,
    state: e.state,
    ready: e.state === 'ready',
    reason: e.reason,
    reloadError: e.reloadError,
    warning: m?.warning ?? null,
    device: m?.device.device ?? engine.device.device,
    providers: m?.device.providers ?? engine.device.providers,
    deviceChoice: m?.device.choice ?? null,
    version: m?.manifest.version ?? null,
    sha256: m?.sha256 ?? null,
    loadedAt: m?.loadedAt ?? null,
    kind: m?.manifest.kind ?? null,
    outputShape: m ? m.rowShape : null,
    conditional: m?.manifest.conditional ?? null,
    /** The refinement methods this model can run here (`none` always) and the server's limits. */
    refine: m ? refineSummary(m, engine.options) : null,
    queue: m ? { length: m.batcher.queueLength, runningBatches: m.batcher.running } : null,
    /** Since this version was loaded (`loadedAt`). */
    counters: m ? { ...m.batcher.counters } : null,
    manifest: m?.manifest ?? null,
  };
}

/** The JSON `device` block of /v1/models: what was chosen and why each faster device was refused. */
export function deviceSummary(engine: Engine) {
  return { requested: engine.device.requested, device: engine.device.device, providers: engine.device.providers, refused: publicRefusals(engine) };
}

/** The device refusals as clients see them: file names without the server's folders (the log keeps those). */
function publicRefusals(engine: Engine): { device: string; reason: string }[] {
  return engine.device.refused.map((r) => ({ device: r.device, reason: r.reason.replace(/(?:\/[^\s/'"(),;:]+)+\/([^\s/'"(),;:]+)/g, '$1') }));
}

/** Names the endpoint for metrics before anything else can fail. */
function endpoint(name: string): express.RequestHandler {
  return (_req, res, next) => {
    info(res).endpoint = name;
    next();
  };
}

/** Requires a JSON body (or none at all) on POST endpoints. */
function requireJson(req: Request): unknown {
  if (req.body !== undefined) return req.body;
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > 0 || req.headers['transfer-encoding']) {
    throw new HttpError(415, `content-type ${JSON.stringify(req.headers['content-type'] ?? '')} is not accepted; send application/json`, { field: 'content-type', value: req.headers['content-type'] ?? null, allowed: 'application/json' });
  }
  return {};
}

/**
 * A rendered body: one part as express sends it; several (a `.npy`'s header and the outputs' own
 * memory) written to the socket one after the other, never copied into one buffer first.
 */
function sendRendered(res: express.Response, out: RenderedBytes): void {
  res.type(out.contentType);
  if (out.parts.length === 1) return void res.send(out.parts[0]);
  res.setHeader('Content-Length', out.parts.reduce((n, p) => n + p.length, 0));
  out.parts.forEach((p, i) => (i < out.parts.length - 1 ? res.write(p) : res.end(p)));
}

/** The JSON entry of each sample (its coordinates or image come from renderSamples). */
function sampleEntries(model: LoadedModel, n: number, seed: number, start: number, labels: Int32Array | null) {
  const names = model.manifest.conditional?.labels;
  return Array.from({ length: n }, (_, k) => ({ index: start + k, seed, ...(labels ? { label: labels[k], labelName: names![labels[k]] } : {}) }));
}

/** The refinement a response says it ran (header `X-Wganx-Refine`: the method and every parameter). */
function refineHeader(res: express.Response, refine: ResolvedRefine): void {
  if (refine.method !== 'none') res.setHeader('X-Wganx-Refine', describeRefine(refine));
}

const QUERY_NUMBER = /^\s*-?\d+(\.\d+)?(e[+-]?\d+)?\s*$/i;

/**
 * `?refine=<method>&refine.<param>=<value>` as a request's `refine` (numbers as numbers; anything
 * else is left for the method table to refuse), and the other query keys. Built with
 * Object.fromEntries, so that no key reaches a prototype.
 */
function queryRefine(query: Record<string, unknown>): { rest: Record<string, unknown>; refine: RefineRequest | undefined } {
  const entries = Object.entries(query);
  const own = entries.filter(([k]) => k === 'refine' || k.startsWith('refine.'));
  const rest = Object.fromEntries(entries.filter(([k]) => !(k === 'refine' || k.startsWith('refine.'))));
  if (own.length === 0) return { rest, refine: undefined };
  const refine = Object.fromEntries(own.map(([k, v]) => (k === 'refine' ? ['method', v] : [k.slice('refine.'.length), typeof v === 'string' && QUERY_NUMBER.test(v) ? Number(v) : v])));
  return { rest, refine: refine as RefineRequest };
}

/** A batch's outputs with what src/encode needs to show them. */
function batchOf(model: LoadedModel, result: { data: Float32Array; rowShape: number[] }, n: number, labels: Int32Array | null): SampleBatch {
  const { kind, output } = model.manifest;
  return { kind, data: result.data, rowShape: result.rowShape, n, range: output.range, labels, modes: output.modes };
}

export function v1Router(engine: Engine, schemas: RequestSchemas, jsonParser: express.RequestHandler): Router {
  const r = express.Router();
  const admit = admission(engine, engine.options.maxBodyBytes);

  r.get('/v1/models', (_req, res) => {
    info(res).endpoint = 'models';
    res.json({ device: deviceSummary(engine), ready: engine.ready, models: engine.list().map((e) => modelSummary(engine, e)) });
  });

  r.get('/v1/models/:name', (req, res) => {
    info(res).endpoint = 'model';
    const name = String(req.params.name);
    const entry = engine.entry(name);
    if (!entry) lookupModel(engine, name, res); // throws the 400/404
    res.json({ ...modelSummary(engine, entry!), refusedDevices: publicRefusals(engine) });
  });

  r.post('/v1/models/:name/samples', endpoint('samples'), admit, jsonParser, async (req, res) => {
    const model = lookupModel(engine, req.params.name, res);
    const body = parseInput(schemas.samplesBody, requireJson(req), 'body');
    const { format, layout, scale } = body;
    const n = body.n ?? defaultSampleCount(model.manifest.kind, engine.options.maxSamples);
    const { seed, start, labels } = seededSamples(model.manifest, { seed: body.seed ?? randomInt(RANDOM_SEED_LIMIT), start: body.start, n, labels: body.labels, cls: body.class }, 'body');
    const view: SampleView =
      format === 'npy' ? { as: 'npy' }
      : format === 'npz' ? { as: 'npz', start }
      : format === 'json' || layout === 'list' ? { as: 'each', format: format === 'json' ? 'png' : format, scale }
      : { as: 'picture', format, scale, columns: body.columns };
    checkSampleView('body', { kind: model.manifest.kind, rowShape: model.rowShape, n }, view, { count: { field: 'n', value: n }, columns: body.columns === undefined ? undefined : { field: 'columns', value: body.columns } });
    const refine = servedRefine(model, body.refine, 'body.refine', engine.options);
    const result = await engine.submit(model, { rows: n, source: { kind: 'seeded', seed, start }, labels, signal: clientSignal(res), ...(refine.method === 'none' ? {} : { refine }) });
    serverTiming(res, result.queueMs, result.computeMs);
    res.setHeader('X-Wganx-Seed', String(seed));
    modelHeaders(res, model);
    refineHeader(res, refine);
    const out = await renderSamples(batchOf(model, result, n, labels), view);
    if (out.as === 'each') {
      const head = { model: model.name, version: model.manifest.version, kind: model.manifest.kind, seed, start, n, range: model.manifest.output.range, shape: [n, ...result.rowShape], refine: refineRequest(refine) };
      const samples = sampleEntries(model, n, seed, start, labels);
      res.json({ ...head, ...(out.encoding ? { encoding: out.encoding } : {}), samples: samples.map((e, k) => ({ ...e, ...out.items[k] })) });
      return;
    }
    if (format === 'npy' || format === 'npz') res.setHeader('Content-Disposition', `attachment; filename="${model.name}-${seed}-${start}.${format}"`);
    sendRendered(res, out);
  });

  // The server's picture of what the page draws in the browser for the same request (and the docs' gallery).
  r.get('/v1/models/:name/samples.png', async (req, res) => {
    info(res).endpoint = 'samples.png';
    const model = lookupModel(engine, req.params.name, res);
    const query = queryRefine(req.query as Record<string, unknown>);
    const q = parseInput(schemas.samplesQuery, query.rest, 'query', ['refine', 'refine.<param>']);
    const n = q.n ?? defaultSampleCount(model.manifest.kind, engine.options.maxSamples);
    const { seed, start, labels } = seededSamples(model.manifest, { seed: q.seed, start: q.start, n, cls: q.class === undefined ? undefined : classFromText(model.manifest, q.class) }, 'query');
    const view = { as: 'picture', format: 'png', scale: q.scale, columns: q.columns } as const;
    checkSampleView('query', { kind: model.manifest.kind, rowShape: model.rowShape, n }, view, { count: { field: 'n', value: n }, columns: q.columns === undefined ? undefined : { field: 'columns', value: q.columns } });
    const refine = servedRefine(model, query.refine, 'query.refine', engine.options);
    // The response is a pure function of the model files and the parameters: a strong ETag.
    const graphs = refine.method === 'none' ? [] : [model.critic?.sha256 ?? null, model.refine?.sha256 ?? null, refine.method, refine.params];
    const key = JSON.stringify([model.name, model.sha256, n, seed, start, labels ? Array.from(labels) : null, q.scale, q.columns ?? null, ...graphs]);
    // Revalidated on every use: the model may be replaced.
    if (etagFresh(req, res, createHash('sha256').update(key).digest('base64url').slice(0, 27))) return void res.status(304).end();
    const result = await engine.submit(model, { rows: n, source: { kind: 'seeded', seed, start }, labels, signal: clientSignal(res), ...(refine.method === 'none' ? {} : { refine }) });
    serverTiming(res, result.queueMs, result.computeMs);
    res.setHeader('X-Wganx-Seed', String(seed));
    modelHeaders(res, model);
    refineHeader(res, refine);
    const out = await renderSamples(batchOf(model, result, n, labels), view);
    sendRendered(res, out);
  });

  r.post('/v1/models/:name/interpolate', endpoint('interpolate'), admit, jsonParser, async (req, res) => {
    const model = lookupModel(engine, req.params.name, res);
    const body = parseInput(schemas.interpolateBody, requireJson(req), 'body');
    const { seedA, seedB, steps, format, scale } = body;
    // A walk's frames are points on the line between two latents, not seeded samples: rank's and
    // ddls's noise streams have no (seed, index) for them, and any method would bend the line.
    if (body.refine !== undefined && resolveRefine(body.refine as RefineRequest, 'body.refine').method !== 'none') {
      throw new InvalidArgumentError('body.refine', body.refine, '{ "method": "none" } or nothing: interpolation frames are not refined (a walk shows the straight line between two latents; refine its end points, sample 0 of seedA and of seedB, with POST /v1/models/{name}/samples)');
    }
    const view: SampleView =
      format === 'json' ? { as: 'each', format: 'png', scale }
      : format === 'png' ? { as: 'picture', format, scale, columns: steps }
      : { as: 'animation', format, scale, delayMs: body.delayMs };
    checkSampleView('body', { kind: model.manifest.kind, rowShape: model.rowShape, n: steps }, view, { count: { field: 'steps', value: steps } });
    const { z, labels } = walkSamples(model.manifest, { seedA, seedB, steps, cls: body.class }, 'body');
    const result = await engine.submit(model, { rows: steps, source: { kind: 'raw', z }, labels, signal: clientSignal(res) });
    serverTiming(res, result.queueMs, result.computeMs);
    modelHeaders(res, model);
    const out = await renderSamples(batchOf(model, result, steps, labels), view);
    if (out.as === 'each') {
      const head = { model: model.name, version: model.manifest.version, seedA, seedB, steps, label: labels?.[0] ?? null };
      res.json({ ...head, ...(out.encoding ? { encoding: out.encoding } : {}), frames: out.items.map((item, k) => ({ t: k / (steps - 1), ...item })) });
      return;
    }
    sendRendered(res, out);
  });

  return r;
}
