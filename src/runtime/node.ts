/**
 * The runtime on Node: the only module that imports onnxruntime-node. It creates sessions
 * (CPU, CUDA or WebGPU execution providers), probes which devices can run here, and opens
 * generators from model folders.
 *
 * Sessions created here run on the calling thread: onnxruntime-node's `run()` blocks it for the
 * whole inference. The server therefore calls this from worker threads (src/serve/engine);
 * command-line jobs may call it from the main thread.
 *
 * @example
 *   const g = await openGenerator(bundledModel('ring'), { device: 'auto' });   // or your own 'models/<name>'
 *   g.device   // 'cpu'
 *   g.refused  // [{ device: 'cuda', reason: '…' }, { device: 'webgpu', reason: '…' }]
 *   const { data } = await g.sample({ seed: 0, n: 2500 });
 *   await g.dispose();
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { MANIFEST_FILE, MODEL_NAME_PATTERN } from '../core/manifest.js';
import { BUNDLED_MODELS_DIR } from '../io/package-paths.js';
import { NO_VULKAN_LOADER, softwareVulkan, vulkanLoaderPresent } from '../io/vulkan.js';
import { NODE_DEVICES, resolveDevice, type DeviceChoice, type DeviceProbe, type NodeDevice } from './devices.js';
import { Generator } from './generator.js';
import { readModelFolder } from './model-folder.js';
import type { RefineGraph } from './refine/index.js';
import { runtimeMessage, type Session, type SessionOptions, type TensorValue } from './session.js';

const require = createRequire(import.meta.url);

class OrtSession implements Session {
  constructor(private readonly inner: ort.InferenceSession) {}

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  async run(feeds: Readonly<Record<string, TensorValue>>, outputs?: readonly string[]): Promise<Record<string, TensorValue>> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.dtype, t.data, t.dims);
    const out = outputs ? await this.inner.run(tensors, [...outputs]) : await this.inner.run(tensors);
    const values: Record<string, TensorValue> = {};
    for (const [name, t] of Object.entries(out)) values[name] = { dtype: t.type as TensorValue['dtype'], data: t.data as TensorValue['data'], dims: t.dims };
    return values;
  }

  release(): Promise<void> {
    return this.inner.release();
  }
}

/** A session on ONNX bytes (or a file path) with the given execution providers. */
export async function createSession(model: Uint8Array | string, opts: SessionOptions): Promise<Session> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [...opts.providers],
    intraOpNumThreads: opts.threads ?? 0,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  };
  // Idle intra-op threads sleep instead of spinning when asked: other threads share these cores.
  if (opts.spinning === false) options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  const inner = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  return new OrtSession(inner);
}

/** onnxruntime-node's version, for benchmark and log headers. */
export function runtimeVersion(): string {
  return ort.env.versions.common;
}

/** Where onnxruntime-node keeps its native libraries for this platform. */
function ortBinaryDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** Path of the CUDA provider library that `ONNXRUNTIME_NODE_INSTALL=cuda12` installs. */
export function cudaProviderLibrary(): string {
  return path.join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so');
}

/** A graph y = z + z on float32 [batch, 4], built by hand: enough for a provider to compile a kernel. */
function probeModel(): Uint8Array {
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
  const f = onnx.TensorProto.DataType.FLOAT;
  const value = (name: string) => ({ name, type: { tensorType: { elemType: f, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 4 }] } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'wganx-device-probe',
    graph: { name: 'probe', node: [{ opType: 'Add', input: ['z', 'z'], output: ['y'] }], input: [value('z')], output: [value('y')] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Whether `device` can run here: null when a session on a tiny graph computes the right answer on
 * that provider alone (no CPU fallback), else the reason. The CPU always can. Run it on the
 * thread that will own the sessions: the server probes in a worker thread.
 */
export async function probeNodeDevice(device: NodeDevice): Promise<string | null> {
  if (device === 'cpu') return null;
  if (device === 'cuda' && !existsSync(cudaProviderLibrary())) {
    return `onnxruntime-node's CUDA provider library is not installed (${cudaProviderLibrary()} is missing; reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12)`;
  }
  if (device === 'webgpu' && !vulkanLoaderPresent()) return NO_VULKAN_LOADER;
  let session: Session | null = null;
  try {
    session = await createSession(probeModel(), { providers: [device], threads: 1 });
    const out = await session.run({ z: { dtype: 'float32', data: new Float32Array([1, 2, 3, 4]), dims: [1, 4] } });
    const y = out.y.data as Float32Array;
    if (y[3] !== 8) return `the ${device} provider computed a wrong result on the probe graph (${Array.from(y).join(', ')})`;
    return null;
  } catch (err) {
    return runtimeMessage(err);
  } finally {
    await session?.release().catch(() => {});
  }
}

/** SwiftShader (Chromium's CPU Vulkan) passes the probe but runs far slower than the CPU provider. */
export const SOFTWARE_WEBGPU = 'the only Vulkan driver is SwiftShader (VK_ICD_FILENAMES), a software renderer slower than the CPU provider; use --device webgpu to force it';

/** `auto` never picks a software GPU (it is for tests); an explicit `--device webgpu` may. */
export function nodeAutoRefusal(device: NodeDevice): string | null {
  return device === 'webgpu' && softwareVulkan() ? SOFTWARE_WEBGPU : null;
}

/** Resolve `--device` on Node: `auto` tries cuda, webgpu, then cpu, and reports each refusal. */
export function resolveNodeDevice(requested: string, probe: DeviceProbe<NodeDevice> = probeNodeDevice, field = '--device'): Promise<DeviceChoice<NodeDevice>> {
  return resolveDevice(NODE_DEVICES, requested, probe, { field, autoRefusal: nodeAutoRefusal });
}

export interface OpenOptions {
  /** `auto`, `cuda`, `webgpu` or `cpu` (default). */
  device?: string;
  /** Intra-op threads (0 = one per core). */
  threads?: number;
  /** false: idle intra-op threads sleep rather than spin (other threads of this process need the cores). */
  spinning?: boolean;
}

/**
 * The folder of a model that ships with wganx (`models/<name>` inside the installed package, wherever
 * the calling program runs): `openGenerator(bundledModel('mnist-dcgan'))`. An unknown name is
 * refused, listing the bundled models.
 */
export function bundledModel(name: string): string {
  const bundled = existsSync(BUNDLED_MODELS_DIR)
    ? readdirSync(BUNDLED_MODELS_DIR, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(path.join(BUNDLED_MODELS_DIR, d.name, MANIFEST_FILE)))
        .map((d) => d.name)
        .sort()
    : [];
  if (typeof name !== 'string' || !MODEL_NAME_PATTERN.test(name) || !bundled.includes(name)) throw new InvalidArgumentError('name', name, `a bundled model: ${bundled.join(', ') || 'none (models/ is missing)'}`);
  return path.join(BUNDLED_MODELS_DIR, name);
}

/**
 * Open `<dir>/manifest.json` and its ONNX file as a {@link Generator} on this thread. The critic's
 * graphs (critic.onnx, refine.onnx), when the folder has them, are read and checked now and opened
 * on the same device when a refinement first needs them.
 */
export async function openGenerator(dir: string, opts: OpenOptions = {}): Promise<Generator<NodeDevice>> {
  const folder = await readModelFolder(dir);
  const choice = await resolveNodeDevice(opts.device ?? 'cpu');
  const sessionOptions: SessionOptions = { providers: choice.providers, threads: opts.threads ?? 0, spinning: opts.spinning };
  let session: Session;
  try {
    session = await createSession(folder.bytes, sessionOptions);
  } catch (err) {
    throw new WganxError(`model ${folder.manifest.name}: onnxruntime could not load ${path.join(dir, folder.file)} on [${choice.providers.join(', ')}]: ${runtimeMessage(err)}`);
  }
  const open = async (graph: RefineGraph): Promise<Session> => {
    const file = folder[graph];
    if (!file) throw new WganxError(`model ${folder.manifest.name}: its folder has no ${graph} graph`);
    try {
      return await createSession(file.bytes, sessionOptions);
    } catch (err) {
      throw new WganxError(`model ${folder.manifest.name}: onnxruntime could not load ${file.path} on [${choice.providers.join(', ')}]: ${runtimeMessage(err)}`);
    }
  };
  try {
    return new Generator(folder.manifest, session, choice, folder.critic ? open : null);
  } catch (err) {
    await session.release();
    throw err;
  }
}

export { Generator } from './generator.js';
export { NODE_DEVICES, type NodeDevice } from './devices.js';
