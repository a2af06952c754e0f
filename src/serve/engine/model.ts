/**
 * Loading one `models/<name>/` folder into a servable model: manifest (validated with the core
 * schema), ONNX bytes checked against the manifest's sha256, `instances` worker sessions, one
 * warm-up run, and a dynamic batcher in front of them.
 *
 * With `--device auto` on a GPU, each model is also timed on the CPU provider at `--max-batch`
 * rows and stays on the CPU when that serves it faster: small MLP generators (the bundled ring,
 * grid and MNIST models) run several times faster on CPU cores than through WebGPU, while
 * convolutional generators gain an order of magnitude from the GPU (bench/RESULTS.md, H200).
 *
 * @example
 *   const model = await loadModel('models/ring', 'ring', ctx);
 *   const { data } = await model.batcher.submit({ rows: 4, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null });
 */
import type { Manifest } from '../../core/manifest.js';
import { NODE_DEVICES, type DeviceChoice, type NodeDevice } from '../../runtime/devices.js';
import { generatorIO, type GeneratorIO } from '../../runtime/generator.js';
import { ModelLoadError, readModelFolder, type ModelFile } from '../../runtime/model-folder.js';
import { refineMethodsFor, type RefineMethodName } from '../../runtime/refine/index.js';
import { DynamicBatcher, type BatcherHooks } from './batcher.js';
import { SessionInstance, type InferenceBackend } from './instance.js';
import type { CriticBytes } from './protocol.js';

/** One of the critic's files as loaded: browsers get these bytes (src/serve/http/routes-web.ts). */
export type CriticFile = Pick<ModelFile, 'file' | 'sha256' | 'bytes'>;

/** What a session factory gets: the model's bytes and manifest, and the device to run it on. */
export interface BackendOptions {
  model: Uint8Array;
  /** critic.onnx and refine.onnx, when the folder has them. */
  graphs: CriticBytes;
  manifest: Manifest;
  device: DeviceChoice<NodeDevice>;
  threads: number;
  /** For messages: model name and file. */
  label: string;
}

export interface LoadContext {
  device: DeviceChoice<NodeDevice>;
  instances: number;
  threads: number;
  batcher: { maxBatch: number; maxQueueDelayMs: number; maxQueue: number; timeoutMs: number };
  hooks: (model: string) => BatcherHooks;
  /** Session factory: real worker sessions by default, a fake in unit tests. */
  createBackend?: (opts: BackendOptions) => Promise<InferenceBackend>;
}

/** Where one model runs, and why when `auto` compared devices for it. */
export interface ModelDevice {
  device: NodeDevice;
  providers: string[];
  /** The measurement behind the choice (`auto` on a GPU), else null. */
  choice: string | null;
}

export interface LoadedModel {
  name: string;
  dir: string;
  manifest: Manifest;
  /** sha256 of the ONNX file that is loaded. */
  sha256: string;
  /**
   * The ONNX file as loaded (the bytes the sessions run): browsers get these, never the file on
   * disk, which a replacement may already have changed (src/serve/http/routes-web.ts).
   */
  bytes: Uint8Array;
  /** critic.onnx as loaded (the workers open it on first need), or null: the folder has none. */
  critic: CriticFile | null;
  /** refine.onnx (the critic's gradient graph) as loaded, or null. */
  refine: CriticFile | null;
  /** The refinement methods its files allow (`none` always; the server's limits may forbid more). */
  refineMethods: RefineMethodName[];
  /** The graph's input and output names as the manifest gives them. */
  io: GeneratorIO;
  /** Shape of one output row: [H, W, C] for images, [2] for points. */
  rowShape: number[];
  batcher: DynamicBatcher;
  loadedAt: string;
  /** Milliseconds the warm-up run took (includes kernel compilation on WebGPU). */
  warmupMs: number;
  device: ModelDevice;
  /** Something the operator should fix although the model serves (a copied folder), else null. */
  warning: string | null;
}

/**
 * A folder whose manifest names another model (`cp -r models/ring models/ring2`) serves under its
 * folder's name — requests, /v1/models and the manifest it hands out all say that name — with a
 * warning that says how to make the copy its own model.
 */
function servedManifest(manifest: Manifest, name: string): { manifest: Manifest; warning: string | null } {
  if (manifest.name === name) return { manifest, warning: null };
  const warning = `manifest.json names the model "${manifest.name}" but its folder is "${name}" (a copy?): serving it as "${name}". To keep the copy, set "name": "${name}" in ${name}/manifest.json; to serve it as "${manifest.name}", rename the folder`;
  return { manifest: { ...manifest, name }, warning };
}

/** Timed runs per device when `auto` compares a GPU with the CPU for a model. */
const COMPARE_RUNS = 3;

/**
 * Samples/s of `backend` at `rows` rows: the best of {@link COMPARE_RUNS} runs after one warm-up,
 * timed inside the worker (`computeMs`), so that waiting for the shared GPU — the old version of a
 * model being replaced may still be serving — does not count as compute.
 */
async function samplesPerSecond(backend: InferenceBackend, rows: number, manifest: Manifest): Promise<number> {
  const batch = () => ({ rows, segments: [{ kind: 'seeded' as const, seed: 0, start: 0, count: rows }], labels: manifest.conditional ? new Int32Array(rows) : null });
  await backend.run(batch());
  let best = Infinity;
  for (let i = 0; i < COMPARE_RUNS; i++) best = Math.min(best, (await backend.run(batch())).computeMs);
  return rows / (Math.max(best, 1e-3) / 1000);
}

/** A one-row run: the first run allocates buffers (and compiles shaders on WebGPU). */
function warmUpRun(manifest: Manifest) {
  return { rows: 1, segments: [{ kind: 'seeded' as const, seed: 0, start: 0, count: 1 }], labels: manifest.conditional ? new Int32Array(1) : null };
}

/**
 * `auto` on a GPU: time the model on a CPU session too, at the batch size served under load, and
 * replace the GPU sessions in `backends` by CPU ones when the CPU is faster. The CPU trial is
 * optional: if it fails (say, out of memory at this batch size), the model stays on the GPU.
 */
async function keepFasterDevice(backends: InferenceBackend[], create: (device: DeviceChoice<NodeDevice>) => Promise<InferenceBackend>, ctx: LoadContext, manifest: Manifest): Promise<ModelDevice> {
  const rows = ctx.batcher.maxBatch;
  const gpu = ctx.device.device;
  const cpuDevice: DeviceChoice<NodeDevice> = { ...ctx.device, device: 'cpu', providers: [...NODE_DEVICES.cpu] };
  const cpuProviders = cpuDevice.providers;
  const gpuRate = await samplesPerSecond(backends[0], rows, manifest);
  let cpu: InferenceBackend | null = null;
  let cpuRate: number | null = null;
  let trialError = '';
  try {
    cpu = await create(cpuDevice);
    cpuRate = await samplesPerSecond(cpu, rows, manifest);
  } catch (err) {
    trialError = (err as Error).message;
  }
  const figures = `${Math.round(cpuRate ?? 0)} samples/s on cpu vs ${Math.round(gpuRate)} on ${gpu} at batch ${rows}`;
  if (cpu === null || cpuRate === null || cpuRate <= gpuRate) {
    await cpu?.close();
    return { device: gpu, providers: ctx.device.providers, choice: cpuRate === null ? `${gpu}: the CPU trial failed (${trialError})` : `${gpu}: faster for this model (${figures})` };
  }
  const gpuBackends = backends.splice(0, backends.length, cpu);
  await Promise.all(gpuBackends.map((b) => b.close()));
  for (let i = 1; i < ctx.instances; i++) {
    const extra = await create(cpuDevice);
    backends.push(extra);
    await extra.run(warmUpRun(manifest));
  }
  return { device: 'cpu', providers: cpuProviders, choice: `cpu: faster for this model (${figures})` };
}

function expectedRowShape(manifest: Manifest): (number | string)[] {
  return manifest.outputs[0].shape.slice(1);
}

export async function loadModel(dir: string, name: string, ctx: LoadContext): Promise<LoadedModel> {
  // Served files stay inside their folder: a manifest or model linked from elsewhere is refused.
  const folder = await readModelFolder(dir, { confined: true });
  const { file, bytes, sha256 } = folder;
  const { manifest, warning } = servedManifest(folder.manifest, name);
  const io = generatorIO(manifest); // refuses inputs and outputs the runtime cannot feed or read, before any thread starts
  const critic = folder.critic && { file: folder.critic.file, sha256: folder.critic.sha256, bytes: folder.critic.bytes };
  const refine = folder.refine && { file: folder.refine.file, sha256: folder.refine.sha256, bytes: folder.refine.bytes };
  const graphs: CriticBytes = { critic: critic?.bytes ?? null, refine: refine?.bytes ?? null };
  const refineMethods = refineMethodsFor({ critic: critic !== null, refine: refine !== null });
  const createBackend = ctx.createBackend ?? ((o) => SessionInstance.create(o));
  const create = (device: DeviceChoice<NodeDevice>) => createBackend({ model: bytes, graphs, manifest, device, threads: ctx.threads, label: `${name}/${file}` });
  const backends: InferenceBackend[] = [];
  try {
    for (let i = 0; i < ctx.instances; i++) backends.push(await create(ctx.device));
    // Warm-up: one sample per instance (the first run allocates buffers and, on WebGPU, compiles shaders).
    const t0 = performance.now();
    const expected = expectedRowShape(manifest);
    let rowShape: number[] = [];
    for (const b of backends) {
      const out = await b.run(warmUpRun(manifest));
      const got = out.dims.slice(1);
      const fits = got.length === expected.length && got.every((d, i) => typeof expected[i] !== 'number' || expected[i] === d);
      if (!fits) throw new ModelLoadError(`warm-up output has shape [${out.dims.join(', ')}], manifest.json says [${manifest.outputs[0].shape.join(', ')}]`);
      rowShape = got;
    }
    const warmupMs = performance.now() - t0;
    const device = ctx.device.requested === 'auto' && ctx.device.device !== 'cpu' ? await keepFasterDevice(backends, create, ctx, manifest) : { device: ctx.device.device, providers: ctx.device.providers, choice: null };
    const batcher = new DynamicBatcher(name, backends, { ...ctx.batcher, dim: manifest.latent.dim }, ctx.hooks(name));
    return { name, dir, manifest, sha256, bytes, critic, refine, refineMethods, io, rowShape, batcher, loadedAt: new Date().toISOString(), warmupMs, device, warning };
  } catch (err) {
    await Promise.all(backends.map((b) => b.close()));
    throw err;
  }
}
