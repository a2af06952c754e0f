/**
 * The runtime in browsers: the only module that imports onnxruntime-web. It opens a generator
 * from a model folder's URL (manifest.json + the ONNX file it names, checked against the
 * manifest's sha256, one version even across a server's hot reload: see fetchModel) on WebGPU or
 * WebAssembly. `device: 'auto'` tries WebGPU first (when `navigator.gpu` gives an adapter and a
 * session can be created on it) and falls back to WASM, keeping the reason in `refused`. No
 * `node:*` imports: this file is bundled for browsers.
 *
 * onnxruntime-web loads its `.wasm` (and `.mjs`) files from `wasmPaths`: by default the folder of
 * the bundled script itself (same origin, no CDN). Two of its builds are used: the WebGPU one
 * (`ort-wasm-simd-threaded.jsep.*`) for `webgpu`, and the WASM-only one (`ort-wasm-simd-threaded.*`)
 * for `wasm`, which runs without the WebGPU build's asynchronous-call instrumentation (faster on the
 * CPU, measured in bench:web). Each loads its binary only when a session needs it.
 *
 * @example
 *   const { manifest, session, choice } = await openWebSession('/models/mnist-cgan/', { device: 'auto' });
 *   choice.device  // 'webgpu' or 'wasm'
 *   choice.refused // [{ device: 'webgpu', reason: 'navigator.gpu is missing …' }]
 *   const g = new Generator(manifest, session, choice, open); // src/web's WebGenerator adds pictures
 *   // open: the critic's graphs (critic.onnx, refine.onnx), fetched when a refinement first needs them
 */
import * as ortAll from 'onnxruntime-web';
import * as ortWasm from 'onnxruntime-web/wasm';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { resolveDevice, WEB_DEVICES, type DeviceChoice, type WebDevice } from './devices.js';
import type { GraphOpener } from './generator.js';
import type { RefineGraph } from './refine/index.js';
import { runtimeMessage, type Session, type TensorValue } from './session.js';

export { Generator } from './generator.js';
export { WEB_DEVICES, type WebDevice } from './devices.js';

type Ort = typeof ortAll;
/** The onnxruntime-web build that runs `device`. */
const ORT_FOR: Readonly<Record<WebDevice, Ort>> = { webgpu: ortAll, wasm: ortWasm as Ort };
const ORT_BUILDS: readonly Ort[] = [ortAll, ortWasm as Ort];

class WebSession implements Session {
  constructor(
    private readonly ort: Ort,
    private readonly inner: ortAll.InferenceSession,
  ) {}

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  async run(feeds: Readonly<Record<string, TensorValue>>, outputs?: readonly string[]): Promise<Record<string, TensorValue>> {
    // Tensors of the same build as the session (each build has its own Tensor class).
    const tensors: Record<string, ortAll.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new this.ort.Tensor(t.dtype, t.data, t.dims);
    const out = outputs ? await this.inner.run(tensors, [...outputs]) : await this.inner.run(tensors);
    const values: Record<string, TensorValue> = {};
    for (const [name, t] of Object.entries(out)) {
      // Outputs are on the CPU already (no preferredOutputLocation): getData returns their data.
      const data = (await t.getData(true)) as TensorValue['data'];
      values[name] = { dtype: t.type as TensorValue['dtype'], data, dims: t.dims };
    }
    return values;
  }

  release(): Promise<void> {
    return this.inner.release();
  }
}

/** onnxruntime-web's version, for the page and benchmarks. */
export function runtimeVersion(): string {
  return ortAll.env.versions.web ?? ortAll.env.versions.common;
}

interface GpuLike {
  requestAdapter(): Promise<unknown>;
}

/** Whether `device` can run in this browser: null when it can, else the reason. */
export async function probeWebDevice(device: WebDevice): Promise<string | null> {
  if (device === 'wasm') return typeof WebAssembly === 'object' ? null : 'this browser has no WebAssembly';
  const gpu = (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) return 'navigator.gpu is missing: this browser has no WebGPU, or it is switched off';
  try {
    if (!(await gpu.requestAdapter())) return 'navigator.gpu.requestAdapter() found no adapter';
  } catch (err) {
    return `navigator.gpu.requestAdapter() failed: ${runtimeMessage(err)}`;
  }
  return null;
}

export interface WebOpenOptions {
  /** `auto` (default: WebGPU, else WASM), `webgpu` or `wasm`. */
  device?: string;
  /**
   * WASM threads (onnxruntime-web needs a cross-origin isolated page for more than 1); default: its
   * own choice. onnxruntime-web reads it once, at its first session in the page: a different count
   * afterwards is refused (reload the page to change it).
   */
  threads?: number;
  /** Where onnxruntime-web's `.wasm`/`.mjs` files are, when not beside the bundled script (a URL prefix ending in `/`). */
  wasmPaths?: string;
  /** Check the ONNX file against the manifest's sha256 (default: when `crypto.subtle` exists). */
  verify?: boolean;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * Downloads of the manifest and ONNX pair in all (default {@link FETCH_TRIES}): a pair that
   * straddles a hot reload (409, or an ONNX file of another version than the manifest) is fetched
   * again at once, a 503 with `Retry-After` after that wait (at most {@link MAX_RETRY_WAIT_S} s).
   */
  tries?: number;
}

/** Default {@link WebOpenOptions.tries}: rapid swaps on the server rarely straddle more than two pairs. */
export const FETCH_TRIES = 4;
/** Longest wait on one `Retry-After` (seconds): a server asking for more is asked again after this. */
export const MAX_RETRY_WAIT_S = 5;
/** The header with which wganx serve names the version (sha256 of the ONNX file) a model file belongs to. */
const SHA256_HEADER = 'X-Wganx-Sha256';

/** A download to do again: why, and how long the server asked to wait first (seconds). */
class Retry {
  constructor(
    readonly reason: string,
    readonly waitS = 0,
  ) {}
}

/** `Retry-After` in seconds (delta-seconds or an HTTP date), or null when absent or unreadable. */
function retryAfterSeconds(value: string | null): number | null {
  if (value === null) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, (at - Date.now()) / 1000);
}

/** The `error` of a JSON error body (wganx serve's), else the status text. */
async function errorText(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof error === 'string') return error.slice(0, 300);
  } catch {
    // not JSON: the status text says enough
  }
  return res.statusText;
}

/** GET `url`: the response, a {@link Retry} for a 409 or a 503 with `Retry-After`, else an error naming `what`. */
async function fetchOk(fetcher: typeof fetch, url: string, what: string): Promise<Response | Retry> {
  let res: Response;
  try {
    res = await fetcher(url);
  } catch (err) {
    throw new WganxError(`cannot fetch ${what} from ${url}: ${runtimeMessage(err)}`);
  }
  if (res.ok) return res;
  const wait = retryAfterSeconds(res.headers.get('Retry-After'));
  if (res.status === 409) return new Retry(`${what}: HTTP 409 ${await errorText(res)}`);
  if (res.status === 503 && wait !== null) return new Retry(`${what}: HTTP 503 ${await errorText(res)}`, Math.min(wait, MAX_RETRY_WAIT_S));
  throw new WganxError(`cannot fetch ${what} from ${url}: HTTP ${res.status} ${res.statusText}`);
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

type ModelFiles = { manifest: Manifest; bytes: Uint8Array; url: string };

/**
 * One download of the pair: the manifest, then the ONNX file of the version it names (asked for by
 * its sha256, which wganx serve answers with that file or a 409; a static host ignores the query).
 */
async function fetchPair(fetcher: typeof fetch, root: string, verify: boolean | undefined): Promise<ModelFiles | Retry> {
  const got = await fetchOk(fetcher, `${root}manifest.json`, 'the manifest');
  if (got instanceof Retry) return got;
  let json: unknown;
  try {
    json = await got.json();
  } catch (err) {
    throw new WganxError(`${root}manifest.json is not valid JSON: ${runtimeMessage(err)}`);
  }
  const manifest = parseManifest(json, 'manifest.json');
  const sha256 = manifest.export.sha256;
  const url = `${root}${encodeURIComponent(manifest.export.file)}`;
  const res = await fetchOk(fetcher, sha256 === null ? url : `${url}?sha256=${sha256}`, 'the ONNX file');
  if (res instanceof Retry) return res;
  // wganx serve says which version it sent; a server that ignored the query may have sent another.
  const sentSha = res.headers.get(SHA256_HEADER);
  const sentVersion = res.headers.get('X-Wganx-Model-Version');
  if (sha256 !== null && sentSha !== null && sentSha !== sha256) return new Retry(`${url} is sha256 ${sentSha.slice(0, 12)}…, manifest.json says ${sha256.slice(0, 12)}… (replaced between the two downloads)`);
  if (sentVersion !== null && sentVersion !== manifest.version) return new Retry(`${url} is version ${JSON.stringify(sentVersion)}, manifest.json says ${JSON.stringify(manifest.version)} (replaced between the two downloads)`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const subtle = globalThis.crypto?.subtle;
  if ((verify ?? subtle !== undefined) && sha256 !== null) {
    if (!subtle) throw new WganxError('verify: crypto.subtle is unavailable (pages served over plain http from another host); pass verify: false to skip the sha256 check');
    const sha = hex(await subtle.digest('SHA-256', bytes));
    if (sha !== sha256) return new Retry(`${url} has sha256 ${sha.slice(0, 12)}…, manifest.json says ${sha256.slice(0, 12)}… (file replaced or damaged)`);
  }
  return { manifest, bytes, url };
}

/**
 * Fetch `<base>/manifest.json` and the ONNX file it names, as one version: a pair that straddles a
 * hot reload, or a server asking to wait (503 + `Retry-After`: a model loading), is fetched again,
 * up to `tries` downloads in all; then the error says why the last one failed.
 */
export async function fetchModel(base: string, opts: Pick<WebOpenOptions, 'verify' | 'fetch' | 'tries'> = {}): Promise<ModelFiles> {
  if (typeof base !== 'string' || base.length === 0) throw new InvalidArgumentError('url', base, 'the URL of a model folder, e.g. /models/mnist-cgan/');
  const tries = opts.tries ?? FETCH_TRIES;
  if (!Number.isInteger(tries) || tries < 1 || tries > 100) throw new InvalidArgumentError('tries', tries, 'an integer from 1 to 100');
  const fetcher = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const root = base.endsWith('/') ? base : `${base}/`;
  let last = '';
  for (let attempt = 1; attempt <= tries; attempt++) {
    const got = await fetchPair(fetcher, root, opts.verify);
    if (!(got instanceof Retry)) return got;
    last = got.reason;
    if (attempt < tries && got.waitS > 0) await new Promise((resolve) => setTimeout(resolve, got.waitS * 1000));
  }
  throw new WganxError(`cannot fetch a matching manifest.json and ONNX file from ${root} in ${tries} ${tries === 1 ? 'try' : 'tries'} (the model was being replaced or loaded meanwhile); the last: ${last}`);
}

/**
 * onnxruntime's log level for the critic's graphs: errors only. On WebGPU it places their shape
 * arithmetic (the gradient graph has plenty) on the CPU on purpose and warns about it through
 * console.error, which a page must not show for an expected placement.
 */
const CRITIC_LOG_SEVERITY = 3;

/** A session on `bytes` with the execution providers of `device` (`quiet`: errors only in onnxruntime's log). */
export async function createWebSession(bytes: Uint8Array, device: WebDevice, quiet = false): Promise<Session> {
  const ort = ORT_FOR[device];
  const inner = await ort.InferenceSession.create(bytes, { executionProviders: [...WEB_DEVICES[device]], graphOptimizationLevel: 'all', ...(quiet ? { logSeverityLevel: CRITIC_LOG_SEVERITY } : {}) });
  return new WebSession(ort, inner);
}

/** What a generator is built from: the manifest, a session, the device choice and (a model with a critic) the opener of its critic's graphs. */
export interface WebSessionParts {
  manifest: Manifest;
  session: Session;
  choice: DeviceChoice<WebDevice>;
  /** Opens critic.onnx / refine.onnx on the same device when a refinement first needs them; null without a critic. */
  open: GraphOpener | null;
}

/**
 * The opener of a model's critic.onnx / refine.onnx at `root` (the folder's URL ending in `/`): each
 * file is fetched when first needed, asked for by its sha256 as the generator's is (wganx serve
 * answers 409 when it holds another version; a static host ignores the query), checked against
 * the manifest's sha256 when `crypto.subtle` exists, and opened on `device`.
 */
export function webGraphOpener(root: string, manifest: Manifest, device: WebDevice, opts: Pick<WebOpenOptions, 'fetch' | 'verify'> = {}): GraphOpener | null {
  const critic = manifest.critic;
  if (!critic) return null;
  const fetcher = opts.fetch ?? globalThis.fetch.bind(globalThis);
  return async (graph: RefineGraph) => {
    const entry = graph === 'critic' ? critic : critic.refine;
    if (!entry) throw new WganxError(`model ${manifest.name}: its manifest names no ${graph} graph`);
    const url = `${root}${encodeURIComponent(entry.file)}`;
    const res = await fetchOk(fetcher, entry.sha256 === null ? url : `${url}?sha256=${entry.sha256}`, `the ${graph} graph`);
    if (res instanceof Retry) throw new WganxError(`cannot fetch ${url}: ${res.reason} (the model was replaced: open it again)`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const subtle = globalThis.crypto?.subtle;
    if ((opts.verify ?? subtle !== undefined) && entry.sha256 !== null && subtle) {
      const sha = hex(await subtle.digest('SHA-256', bytes));
      if (sha !== entry.sha256) throw new WganxError(`${url} has sha256 ${sha.slice(0, 12)}…, manifest.json says ${entry.sha256.slice(0, 12)}… (the model was replaced: open it again)`);
    }
    try {
      return await createWebSession(bytes, device, true);
    } catch (err) {
      throw new WganxError(`model ${manifest.name}: onnxruntime-web could not load ${url} on ${device}: ${runtimeMessage(err)}`);
    }
  };
}

/** Fetch the model folder at `url` and create its session on the first device that works (see module header). */
export async function openWebSession(url: string, opts: WebOpenOptions = {}): Promise<WebSessionParts> {
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) throw new InvalidArgumentError('threads', opts.threads, 'a positive integer');
  const requested = opts.device === 'webgpu' || opts.device === 'wasm' ? [ORT_FOR[opts.device]] : ORT_BUILDS;
  for (const ort of requested) {
    const running = startedThreads.get(ort);
    if (opts.threads !== undefined && running !== undefined && running !== opts.threads) {
      throw new InvalidArgumentError('threads', opts.threads, `${running}, the count onnxruntime-web started with in this page (it reads it once: reload the page to change it)`);
    }
  }
  for (const ort of ORT_BUILDS) {
    if (opts.wasmPaths !== undefined) ort.env.wasm.wasmPaths = opts.wasmPaths;
    if (opts.threads !== undefined && !startedThreads.has(ort)) ort.env.wasm.numThreads = opts.threads;
  }
  const { manifest, bytes } = await fetchModel(url, opts);
  let session: Session | null = null;
  // Probing a device means creating the session on it: WebGPU can pass the adapter check and
  // still fail to compile a kernel, and that too must fall back with its reason.
  const choice = await resolveDevice(WEB_DEVICES, opts.device ?? 'auto', async (device) => {
    const reason = await probeWebDevice(device);
    if (reason !== null) return reason;
    try {
      session = await createWebSession(bytes, device);
      const ort = ORT_FOR[device];
      if (!startedThreads.has(ort)) startedThreads.set(ort, threadsOf(ort));
      return null;
    } catch (err) {
      return `onnxruntime-web could not create a session: ${runtimeMessage(err)}`;
    }
  });
  const s = session as Session | null;
  if (!s) throw new WganxError(`no session was created on ${choice.device}`);
  return { manifest, session: s, choice, open: webGraphOpener(url.endsWith('/') ? url : `${url}/`, manifest, choice.device, opts) };
}

/** The thread count each onnxruntime-web build started with (it reads `numThreads` at its first session only). */
const startedThreads = new Map<Ort, number>();

/** Threads a build runs with: 1 unless the page is cross-origin isolated; else the count it was given or chose. */
function threadsOf(ort: Ort): number {
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== true) return 1;
  const n = ort.env.wasm.numThreads; // onnxruntime-web writes its own choice here when it starts
  if (typeof n === 'number' && n > 0) return n;
  const cores = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(4, Math.ceil(cores / 2)));
}

/** WASM threads of the `wasm` device: those it started with, or (before its first session) those it will use. */
export function wasmThreads(): number {
  return startedThreads.get(ortWasm as Ort) ?? threadsOf(ortWasm as Ort);
}

/** Whether the `wasm` device has started (its thread count can no longer change in this page). */
export function wasmStarted(): boolean {
  return startedThreads.has(ortWasm as Ort);
}
