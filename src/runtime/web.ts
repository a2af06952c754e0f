/**
 * The runtime in browsers: the only module that imports onnxruntime-web. It opens a generator
 * from a model folder's URL (manifest.json + the ONNX file it names, checked against the
 * manifest's sha256) on WebGPU or WebAssembly. `device: 'auto'` tries WebGPU first (when
 * `navigator.gpu` gives an adapter and a session can be created on it) and falls back to WASM,
 * keeping the reason in `refused`. No `node:*` imports: this file is bundled for browsers.
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
 *   const g = new Generator(manifest, session, choice); // src/web's WebGenerator adds pictures
 */
import * as ortAll from 'onnxruntime-web';
import * as ortWasm from 'onnxruntime-web/wasm';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { resolveDevice, WEB_DEVICES, type DeviceChoice, type WebDevice } from './devices.js';
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
}

async function fetchOk(fetcher: typeof fetch, url: string, what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetcher(url);
  } catch (err) {
    throw new WganxError(`cannot fetch ${what} from ${url}: ${runtimeMessage(err)}`);
  }
  if (!res.ok) throw new WganxError(`cannot fetch ${what} from ${url}: HTTP ${res.status} ${res.statusText}`);
  return res;
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetch `<base>/manifest.json` and the ONNX file it names. */
export async function fetchModel(base: string, opts: Pick<WebOpenOptions, 'verify' | 'fetch'> = {}): Promise<{ manifest: Manifest; bytes: Uint8Array; url: string }> {
  if (typeof base !== 'string' || base.length === 0) throw new InvalidArgumentError('url', base, 'the URL of a model folder, e.g. /models/mnist-cgan/');
  const fetcher = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const root = base.endsWith('/') ? base : `${base}/`;
  let json: unknown;
  try {
    json = await (await fetchOk(fetcher, `${root}manifest.json`, 'the manifest')).json();
  } catch (err) {
    if (err instanceof WganxError) throw err;
    throw new WganxError(`${root}manifest.json is not valid JSON: ${runtimeMessage(err)}`);
  }
  const manifest = parseManifest(json, 'manifest.json');
  const url = `${root}${encodeURIComponent(manifest.export.file)}`;
  const bytes = new Uint8Array(await (await fetchOk(fetcher, url, 'the ONNX file')).arrayBuffer());
  const subtle = globalThis.crypto?.subtle;
  if ((opts.verify ?? subtle !== undefined) && manifest.export.sha256 !== null) {
    if (!subtle) throw new WganxError('verify: crypto.subtle is unavailable (pages served over plain http from another host); pass verify: false to skip the sha256 check');
    const sha = hex(await subtle.digest('SHA-256', bytes));
    if (sha !== manifest.export.sha256) throw new WganxError(`${url} has sha256 ${sha.slice(0, 12)}…, manifest.json says ${manifest.export.sha256.slice(0, 12)}… (file replaced or damaged)`);
  }
  return { manifest, bytes, url };
}

/** A session on `bytes` with the execution providers of `device`. */
export async function createWebSession(bytes: Uint8Array, device: WebDevice): Promise<Session> {
  const ort = ORT_FOR[device];
  const inner = await ort.InferenceSession.create(bytes, { executionProviders: [...WEB_DEVICES[device]], graphOptimizationLevel: 'all' });
  return new WebSession(ort, inner);
}

/** What a generator is built from: the manifest, a session and the device choice. */
export interface WebSessionParts {
  manifest: Manifest;
  session: Session;
  choice: DeviceChoice<WebDevice>;
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
  return { manifest, session: s, choice };
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
