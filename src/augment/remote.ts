/**
 * Samples from a server: any Open Inference Protocol (KServe v2) server that serves the model
 * (`wganx serve`, Triton, KServe), through `POST /v2/models/<name>/infer` with the binary tensor
 * extension. The latents and classes are drawn here, so a data set drawn from a server is the one
 * drawn locally; many machines can share one GPU server. Refusals that a retry can cure (503 with
 * Retry-After, 429, 502, 504, a connection that fails, an answer cut off mid-body) are retried
 * with back-off; 401 and 403 are reported at once. The API key (`--api-key`, `WGANX_API_KEY`) goes
 * in an `Authorization: Bearer` header and is never printed; a URL that carries credentials
 * (`user:key@host`) is refused without echoing them.
 *
 * The manifest comes from `--model` when it is a model folder; otherwise from the server's
 * `GET /v1/models/<name>` (wganx serve publishes it; a plain KServe server does not).
 *
 * @example
 *   const src = await openRemote({ url: 'http://gpu-box:8080', model: 'mnist-cgan' });
 *   const { data } = await src.run(z, labels);
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { MANIFEST_FILE, MODEL_NAME_PATTERN, parseManifest, type Manifest } from '../core/manifest.js';
import { generatorIO } from '../runtime/generator.js';
import { readManifestFile } from '../runtime/model-folder.js';
import type { SampleSource } from './sources.js';

export interface RemoteOptions {
  /** Base URL of the server, e.g. http://gpu-box:8080. */
  url: string;
  /** A model folder (its manifest is read here) or the name of a model the server serves. */
  model: string;
  /** The server's API key (sent as `Authorization: Bearer`), or null. */
  apiKey?: string | null;
  /** Attempts per request before giving up (default 8). */
  attempts?: number;
  /** First back-off delay, doubled after each failure (default 250 ms; Retry-After wins). */
  backoffMs?: number;
  log?: (line: string) => void;
  fetch?: typeof fetch;
}

/** Longest wait between two attempts. */
const MAX_BACKOFF_MS = 10_000;
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const URL_EXAMPLE = 'an http(s) URL such as http://gpu-box:8080';

function baseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Whatever was given may hold a key: quote no more than its scheme.
    throw new InvalidArgumentError('--remote', /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(not a URL)', URL_EXAMPLE);
  }
  if (u.username || u.password) {
    u.username = '';
    u.password = '';
    throw new InvalidArgumentError('--remote', `${u.origin} with credentials (not shown)`, `${URL_EXAMPLE} without user:key@: give the key with --api-key or WGANX_API_KEY`);
  }
  if (u.search || u.hash) throw new InvalidArgumentError('--remote', `${u.origin}${u.pathname} with a query or fragment (not shown)`, `${URL_EXAMPLE} without ?… or #…: give a key with --api-key or WGANX_API_KEY`);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('--remote', url, URL_EXAMPLE);
  return u.href.replace(/\/+$/, '');
}

/** The reason of a failed fetch or body read, with the system's code (`fetch failed (ECONNREFUSED)`, `terminated (UND_ERR_SOCKET)`). */
function reasonOf(err: unknown): string {
  const code = (err as { cause?: { code?: string } }).cause?.code;
  return `${(err as Error).message}${code ? ` (${code})` : ''}`;
}

/** A 401/403: no retry cures it. */
function authError(base: string, path: string, status: number, keyGiven: boolean): WganxError {
  const what = status === 401 ? (keyGiven ? 'the API key given (--api-key or WGANX_API_KEY) was refused' : 'it needs an API key: give it with --api-key or WGANX_API_KEY') : 'the API key given is not allowed to use it';
  return new WganxError(`--remote: ${base}${path} answered HTTP ${status} (${status === 401 ? 'Unauthorized' : 'Forbidden'}): ${what}`);
}

export async function openRemote(opts: RemoteOptions): Promise<SampleSource> {
  const base = baseUrl(opts.url);
  const fetcher = opts.fetch ?? globalThis.fetch;
  const attempts = opts.attempts ?? 8;
  const log = opts.log ?? (() => {});

  const auth: Record<string, string> = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};

  /**
   * One request and the reading of its answer, retried while the answer says "later", the
   * connection fails or the answer is cut off before its end (the server died while sending).
   */
  async function request(path: string, init: RequestInit = {}): Promise<{ res: Response; bytes: Buffer }> {
    let delay = opts.backoffMs ?? 250;
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let res: Response | null = null;
      try {
        res = await fetcher(`${base}${path}`, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), ...auth } });
        if (res.status === 401 || res.status === 403) {
          await res.body?.cancel().catch(() => {});
          throw authError(base, path, res.status, opts.apiKey != null);
        }
        const bytes = Buffer.from(await res.arrayBuffer());
        if (!RETRY_STATUSES.has(res.status)) return { res, bytes };
        last = `HTTP ${res.status}: ${bytes.toString('utf8', 0, 200)}`;
        const after = Number(res.headers.get('retry-after'));
        if (Number.isFinite(after) && after > 0) delay = after * 1000;
      } catch (err) {
        if (err instanceof WganxError) throw err;
        last = res ? `the answer (HTTP ${res.status}) was cut off: ${reasonOf(err)}` : reasonOf(err);
      }
      if (attempt === attempts) break;
      log(`--remote: ${base}${path}: ${last}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${attempts})`);
      await sleep(delay);
      delay = Math.min(MAX_BACKOFF_MS, delay * 2);
    }
    throw new WganxError(`--remote: ${base}${path} did not answer after ${attempts} attempts: ${last}`);
  }

  async function json(path: string): Promise<unknown> {
    const { res, bytes } = await request(path);
    const text = bytes.toString('utf8');
    if (!res.ok) throw new WganxError(`--remote: ${base}${path} answered HTTP ${res.status}: ${text.slice(0, 300)}`);
    try {
      return JSON.parse(text);
    } catch {
      throw new WganxError(`--remote: ${base}${path} did not answer JSON`);
    }
  }

  const parsed = (bytes: Buffer): unknown => {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      return null;
    }
  };

  /**
   * Why `name` has no manifest on the server: a wganx server lists its models (/v1/models), so
   * say the model is not among them and name those it serves; a plain KServe server publishes no
   * manifests at all.
   */
  async function noRemoteManifest(name: string, status: number): Promise<WganxError> {
    const list = await request('/v1/models').then(({ res, bytes }) => (res.ok ? (parsed(bytes) as { models?: unknown } | null) : null));
    const served = Array.isArray(list?.models) ? (list.models as { name?: unknown; ready?: unknown; state?: unknown; reason?: unknown }[]).filter((m) => typeof m?.name === 'string') : null;
    if (served === null) {
      return new InvalidArgumentError('--model', opts.model, `a model folder holding ${MANIFEST_FILE}: ${base} publishes no manifest for "${name}" (it is no wganx server, which would; give the folder for a plain KServe server)`);
    }
    const names = served.map((m) => `${m.name as string}${m.ready === false ? ' (not ready)' : ''}`);
    const entry = served.find((m) => m.name === name);
    const state = typeof entry?.state === 'string' ? entry.state : null;
    const reason = typeof entry?.reason === 'string' ? `: ${entry.reason}` : '';
    const what = !entry ? `${base} does not serve a model "${name}"`
      : state === 'failed' ? `${base} could not load "${name}"${reason}`
      : state === 'loading' ? `${base} is still loading "${name}"; try again shortly`
      : `${base} lists "${name}" but gave no manifest for it (HTTP ${status}${state ? `, state ${state}` : ''})`;
    return new InvalidArgumentError('--model', opts.model, `a model folder, or one of the models ${base} serves: ${names.length ? names.join(', ') : 'none'} (${what})`);
  }

  // The manifest: from a local folder, else from wganx serve.
  let manifest: Manifest;
  let localSha: string | null = null;
  const folder = existsSync(join(opts.model, MANIFEST_FILE));
  if (folder) {
    manifest = (await readManifestFile(opts.model)).manifest;
    localSha = manifest.export.sha256;
  } else {
    const name = basename(opts.model);
    if (!MODEL_NAME_PATTERN.test(name)) throw new InvalidArgumentError('--model', opts.model, 'a model folder, or the name of a model the --remote server serves');
    const { res, bytes } = await request(`/v1/models/${name}`);
    const body = parsed(bytes) as { manifest?: unknown } | null;
    if (!res.ok || !body?.manifest) throw await noRemoteManifest(name, res.status);
    manifest = parseManifest(body.manifest, `${base}/v1/models/${name} manifest`);
  }
  const io = generatorIO(manifest);
  const name = manifest.name;

  // What the server serves under that name: the inputs the manifest names, and (wganx serve) the same file.
  const meta = (await json(`/v2/models/${name}`)) as { inputs?: { name: string }[]; versions?: unknown };
  const inputs = (meta.inputs ?? []).map((i) => i.name);
  for (const wanted of [io.latent.name, ...(io.label ? [io.label.name] : [])]) {
    if (!inputs.includes(wanted)) throw new WganxError(`--remote: ${base} serves "${name}" with inputs [${inputs.join(', ')}], the manifest names "${wanted}": not the same model`);
  }
  let remoteSha: string | null = null;
  const summary = await request(`/v1/models/${name}`).then(({ res, bytes }) => (res.ok ? (parsed(bytes) as { sha256?: string } | null) : null));
  if (summary?.sha256) remoteSha = summary.sha256;
  if (localSha && remoteSha && localSha !== remoteSha) {
    throw new WganxError(`--remote: ${base} serves "${name}" from a file with sha256 ${remoteSha.slice(0, 12)}…, ${opts.model} has ${localSha.slice(0, 12)}…: they are different models`);
  }

  // The version served now is the one every chunk must come from: a hot reload of the model on the
  // server during the run would mix two models in one data set. Requests name that version (KServe's
  // versioned route: wganx serve answers 404 once it serves another), and each answer is checked
  // (its model_version, and wganx serve's X-Wganx-Sha256).
  const versions = Array.isArray(meta.versions) ? meta.versions.filter((v): v is string => typeof v === 'string') : [];
  let version: string | null = versions.length === 1 ? versions[0] : null;
  const inferPath = version === null ? `/v2/models/${name}/infer` : `/v2/models/${name}/versions/${encodeURIComponent(version)}/infer`;
  const replaced = (now: string) =>
    new WganxError(`--remote: ${base} replaced "${name}" during the run (${now}); the samples written so far are from the model the run started with: serve that one again and --resume, or write the new model's samples to another --out`);

  return {
    manifest,
    sha256: localSha ?? remoteSha,
    where: base,
    async run(z, labels) {
      const rows = z.length / io.latent.dim;
      const tensors: { name: string; shape: number[]; datatype: string; bytes: Uint8Array }[] = [{ name: io.latent.name, shape: [rows, io.latent.dim], datatype: 'FP32', bytes: new Uint8Array(z.buffer, z.byteOffset, z.byteLength) }];
      if (io.label && labels) {
        const l = BigInt64Array.from(labels, (v) => BigInt(v));
        tensors.push({ name: io.label.name, shape: [rows, 1], datatype: 'INT64', bytes: new Uint8Array(l.buffer) });
      }
      const header = Buffer.from(
        JSON.stringify({
          inputs: tensors.map((t) => ({ name: t.name, shape: t.shape, datatype: t.datatype, parameters: { binary_data_size: t.bytes.length } })),
          outputs: [{ name: io.output.name, parameters: { binary_data: true } }],
        }),
      );
      const { res, bytes } = await request(inferPath, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
        body: Buffer.concat([header, ...tensors.map((t) => t.bytes)]),
      });
      if (res.status === 404 && version !== null) {
        const now = (await json(`/v2/models/${name}`).catch(() => null)) as { versions?: unknown } | null;
        if (now && JSON.stringify(now.versions) !== JSON.stringify([version])) throw replaced(`version ${JSON.stringify(version)} → ${JSON.stringify(now.versions)}`);
      }
      if (!res.ok) throw new WganxError(`--remote: ${base}${inferPath} answered HTTP ${res.status}: ${bytes.toString('utf8', 0, 300)}`);
      const sha = res.headers.get('x-wganx-sha256');
      if (sha !== null && remoteSha !== null && sha !== remoteSha) throw replaced(`sha256 ${remoteSha.slice(0, 12)}… → ${sha.slice(0, 12)}…`);
      const headerLength = Number(res.headers.get('inference-header-content-length') ?? bytes.length);
      const answer = JSON.parse(bytes.toString('utf8', 0, headerLength)) as { model_version?: unknown; outputs: { name: string; shape: number[]; datatype: string }[] };
      if (typeof answer.model_version === 'string') {
        version ??= answer.model_version;
        if (answer.model_version !== version) throw replaced(`version ${JSON.stringify(version)} → ${JSON.stringify(answer.model_version)}`);
      }
      const out = answer.outputs.find((o) => o.name === io.output.name);
      if (!out || out.datatype !== 'FP32') throw new WganxError(`--remote: the server's answer holds no FP32 output "${io.output.name}"`);
      const payload = bytes.subarray(headerLength);
      const data = new Float32Array(payload.length / 4);
      new Uint8Array(data.buffer).set(payload);
      return { data, rowShape: out.shape.slice(1) };
    },
    async close() {},
  };
}
