/**
 * The wganx HTTP API (/v1): model listing, samples (grid image, JSON list, .npy), cacheable
 * sample images for `<img>` tags, and latent interpolation strips and animations.
 */
import { createHash, randomInt } from 'node:crypto';
import express, { type Request, type Router } from 'express';
import { InvalidArgumentError } from '../../core/errors.js';
import { resolveLabels } from '../../core/labels.js';
import { interpolateLatents, MAX_SAFE_COUNTER } from '../../core/latent.js';
import { encodeAnimation, encodeGrid, encodeNpy, encodeNpz, encodeScatter, checkImageSize, gridImageSize, CONTENT_TYPES, type ImageFormat, type ImagePlan } from '../../encode/encode.js';
import { encodeEachBase64, encodeGridImage } from '../../encode/encode-pool.js';
import type { Engine } from '../engine/engine.js';
import { HttpError } from './http-error.js';
import { admission, clientSignal, etagFresh, info, lookupModel, serverTiming } from './http-util.js';
import type { LoadedModel } from '../engine/model.js';
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

function sampleEntries(model: LoadedModel, data: Float32Array, n: number, seed: number, start: number, labels: Int32Array | null) {
  const rowSize = data.length / n;
  const names = model.manifest.conditional?.labels;
  return Array.from({ length: n }, (_, k) => ({
    index: start + k,
    seed,
    ...(labels ? { label: labels[k], labelName: names![labels[k]] } : {}),
    ...(model.manifest.kind === 'points' ? { point: Array.from(data.subarray(k * rowSize, (k + 1) * rowSize)) } : {}),
  }));
}

/** {@link checkImageSize} for a grid of `n` samples: too long a side names `columns` when given, too many pixels `n`. */
function checkGridSize(where: string, model: LoadedModel, n: number, columns: number | undefined, scale: number, format: ImageFormat): void {
  const count = { field: 'n', value: n };
  const side = columns === undefined ? count : { field: 'columns', value: columns };
  checkImageSize(where, scale, (s) => ({ ...gridImageSize(model.rowShape, n, s, columns), count: 1, format }), { side, pixels: count });
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
    const { start, format, layout, scale } = body;
    const n = body.n ?? defaultSampleCount(model.manifest.kind, engine.options.maxSamples);
    const seed = body.seed ?? randomInt(RANDOM_SEED_LIMIT);
    if (start + n > MAX_SAFE_COUNTER) throw new InvalidArgumentError('body.start', start, `at most ${MAX_SAFE_COUNTER - n} (start + n must stay exact)`);
    const labels = resolveLabels(model.manifest, { n, seed, start, labels: body.labels, cls: body.class }, 'body');
    if (model.manifest.kind === 'image' && format !== 'npy' && format !== 'npz') {
      const [h, w] = model.rowShape;
      if (format === 'json' || layout === 'list') {
        const each = format === 'json' ? 'png' : format;
        const count = { field: 'n', value: n };
        checkImageSize('body', scale, (s) => ({ width: w * s, height: h * s, count: n, format: each }), { side: count, pixels: count });
      } else {
        checkGridSize('body', model, n, body.columns, scale, format);
      }
    }
    const result = await engine.submit(model, { rows: n, source: { kind: 'seeded', seed, start }, labels, signal: clientSignal(res) });
    serverTiming(res, result.queueMs, result.computeMs);
    res.setHeader('X-Wganx-Seed', String(seed));
    res.setHeader('X-Wganx-Model-Version', model.manifest.version);
    const { data, rowShape } = result;
    const range = model.manifest.output.range;
    if (format === 'npy') {
      res.type(CONTENT_TYPES.npy).setHeader('Content-Disposition', `attachment; filename="${model.name}-${seed}-${start}.npy"`);
      res.send(encodeNpy(data, [n, ...rowShape]));
      return;
    }
    if (format === 'npz') {
      // For Python: the samples with their classes and latent indices, as augment's npz files hold them.
      const arrays = {
        [model.manifest.kind === 'image' ? 'images' : 'points']: { data, shape: [n, ...rowShape] },
        ...(labels ? { labels: { data: BigInt64Array.from(labels, (c) => BigInt(c)), shape: [n] } } : {}),
        indices: { data: BigInt64Array.from({ length: n }, (_, k) => BigInt(start + k)), shape: [n] },
      };
      res.type(CONTENT_TYPES.npz).setHeader('Content-Disposition', `attachment; filename="${model.name}-${seed}-${start}.npz"`);
      res.send(encodeNpz(arrays));
      return;
    }
    const head = { model: model.name, version: model.manifest.version, kind: model.manifest.kind, seed, start, n, range, shape: [n, ...rowShape] };
    if (format === 'json' || layout === 'list') {
      const samples = sampleEntries(model, data, n, seed, start, labels);
      if (model.manifest.kind === 'image') {
        const encoding: ImageFormat = format === 'json' ? 'png' : (format as ImageFormat);
        const images = await encodeEachBase64(data, rowShape, n, range, { format: encoding, scale });
        res.json({ ...head, encoding, samples: samples.map((s, k) => ({ ...s, image: images[k] })) });
      } else {
        res.json({ ...head, samples });
      }
      return;
    }
    const imageFormat = format as ImageFormat;
    const body2 =
      model.manifest.kind === 'image'
        ? await encodeGridImage(data, rowShape, n, range, { format: imageFormat, scale, columns: body.columns })
        : await encodeScatter(data, rowShape.reduce((a, b) => a * b, 1), n, range, labels, { format: imageFormat, scale, modes: model.manifest.output.modes });
    res.type(CONTENT_TYPES[imageFormat]).send(body2);
  });

  r.get('/v1/models/:name/samples.png', async (req, res) => {
    info(res).endpoint = 'samples.png';
    const model = lookupModel(engine, req.params.name, res);
    const q = parseInput(schemas.samplesQuery, req.query, 'query');
    const { seed, start, scale } = q;
    const n = q.n ?? defaultSampleCount(model.manifest.kind, engine.options.maxSamples);
    if (start + n > MAX_SAFE_COUNTER) throw new InvalidArgumentError('query.start', start, `at most ${MAX_SAFE_COUNTER - n}`);
    const labels = resolveLabels(model.manifest, { n, seed, start, cls: q.class }, 'query');
    if (model.manifest.kind === 'image') checkGridSize('query', model, n, q.columns, scale, 'png');
    // The response is a pure function of the model file and the parameters: a strong ETag.
    const key = JSON.stringify([model.name, model.sha256, n, seed, start, labels ? Array.from(labels) : null, scale, q.columns ?? null]);
    // Revalidated on every use: the model may be replaced.
    if (etagFresh(req, res, createHash('sha256').update(key).digest('base64url').slice(0, 27))) return void res.status(304).end();
    const result = await engine.submit(model, { rows: n, source: { kind: 'seeded', seed, start }, labels, signal: clientSignal(res) });
    serverTiming(res, result.queueMs, result.computeMs);
    const range = model.manifest.output.range;
    const png =
      model.manifest.kind === 'image'
        ? await encodeGridImage(result.data, result.rowShape, n, range, { format: 'png', scale, columns: q.columns })
        : await encodeScatter(result.data, result.rowShape.reduce((a, b) => a * b, 1), n, range, labels, { format: 'png', scale, modes: model.manifest.output.modes });
    res.type('image/png').send(png);
  });

  r.post('/v1/models/:name/interpolate', endpoint('interpolate'), admit, jsonParser, async (req, res) => {
    const model = lookupModel(engine, req.params.name, res);
    const body = parseInput(schemas.interpolateBody, requireJson(req), 'body');
    const { seedA, seedB, steps, format, scale } = body;
    const kind = model.manifest.kind;
    if (kind === 'points' && (format === 'gif' || format === 'webp')) {
      throw new InvalidArgumentError('body.format', format, 'png or json for a point model (animations need an image model)');
    }
    if (kind === 'image') {
      const [h, w] = model.rowShape;
      const plan =
        format === 'png'
          ? (s: number): ImagePlan => ({ ...gridImageSize(model.rowShape, steps, s, steps), count: 1, format })
          : (s: number): ImagePlan => ({ width: w * s, height: h * s, count: steps, format: format === 'json' ? 'png' : format });
      const count = { field: 'steps', value: steps };
      checkImageSize('body', scale, plan, { side: count, pixels: count });
    }
    const { dim, distribution } = model.manifest.latent;
    const z = interpolateLatents(seedA, seedB, steps, dim, distribution);
    const labels = resolveLabels(model.manifest, { n: 1, seed: seedA, start: 0, cls: body.class }, 'body');
    const rowLabels = labels ? new Int32Array(steps).fill(labels[0]) : null;
    const result = await engine.submit(model, { rows: steps, source: { kind: 'raw', z }, labels: rowLabels, signal: clientSignal(res) });
    serverTiming(res, result.queueMs, result.computeMs);
    const { data, rowShape } = result;
    const range = model.manifest.output.range;
    const rowSize = rowShape.reduce((a, b) => a * b, 1);
    if (format === 'json') {
      const frames = Array.from({ length: steps }, (_, k) => ({ t: k / (steps - 1), ...(kind === 'points' ? { point: Array.from(data.subarray(k * rowSize, (k + 1) * rowSize)) } : {}) }));
      if (kind === 'image') {
        const images = await encodeEachBase64(data, rowShape, steps, range, { format: 'png', scale });
        res.json({ model: model.name, version: model.manifest.version, seedA, seedB, steps, label: rowLabels?.[0] ?? null, encoding: 'png', frames: frames.map((f, k) => ({ ...f, image: images[k] })) });
      } else {
        res.json({ model: model.name, version: model.manifest.version, seedA, seedB, steps, label: rowLabels?.[0] ?? null, frames });
      }
      return;
    }
    if (format === 'png') {
      const png =
        kind === 'image'
          ? await encodeGrid(data, rowShape, steps, range, { format: 'png', scale, columns: steps })
          : await encodeScatter(data, rowSize, steps, range, rowLabels, { format: 'png', scale, modes: model.manifest.output.modes });
      res.type('image/png').send(png);
      return;
    }
    res.type(CONTENT_TYPES[format]).send(await encodeAnimation(data, rowShape, steps, range, { format, scale, delayMs: body.delayMs }));
  });

  return r;
}
