/**
 * Loading one `models/<name>/` folder into a servable model: manifest (validated with the core
 * schema), ONNX bytes checked against the manifest's sha256, `instances` worker sessions, one
 * warm-up run, and a dynamic batcher in front of them.
 *
 * With `--device auto` on a GPU, each model is also timed on the CPU provider at `--max-batch`
 * rows and stays on the CPU when that serves it faster: small MLP generators (the bundled ring,
 * grid and MNIST models) run several times faster on CPU cores than through WebGPU, while
 * convolutional generators gain 10–30× from the GPU.
 *
 * @example
 *   const model = await loadModel('models/ring', 'ring', ctx);
 *   const { data } = await model.batcher.submit({ rows: 4, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null });
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { DynamicBatcher, type BatcherHooks } from './batcher.js';
import { DEVICE_PROVIDERS, type DeviceChoice } from './device.js';
import { SessionInstance, type InferenceBackend } from './instance.js';
import type { Device } from './options.js';
import type { SessionSpec } from './protocol.js';

/** Largest manifest.json read (a manifest is a few KiB; anything huge is not one). */
const MAX_MANIFEST_BYTES = 1024 * 1024;

export class ModelLoadError extends WganxError {
  override name = 'ModelLoadError';
}

export interface LoadContext {
  device: DeviceChoice;
  instances: number;
  threads: number;
  batcher: { maxBatch: number; maxQueueDelayMs: number; maxQueue: number; timeoutMs: number };
  hooks: (model: string) => BatcherHooks;
  /** Session factory: real worker sessions by default, a fake in unit tests. */
  createBackend?: (opts: { model: Uint8Array; providers: string[]; threads: number; spec: SessionSpec; label: string }) => Promise<InferenceBackend>;
}

/** Where one model runs, and why when `auto` compared devices for it. */
export interface ModelDevice {
  device: Device;
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
  spec: SessionSpec;
  /** Shape of one output row: [H, W, C] for images, [2] for points. */
  rowShape: number[];
  batcher: DynamicBatcher;
  loadedAt: string;
  /** Milliseconds the warm-up run took (includes kernel compilation on WebGPU). */
  warmupMs: number;
  device: ModelDevice;
}

/** Timed runs per device when `auto` compares a GPU with the CPU for a model. */
const COMPARE_RUNS = 3;

/**
 * Samples/s of `backend` at `rows` rows: the best of {@link COMPARE_RUNS} runs after one warm-up,
 * timed inside the worker (`computeMs`), so that waiting for the shared GPU — the old version of a
 * model being replaced may still be serving — does not count as compute.
 */
async function samplesPerSecond(backend: InferenceBackend, rows: number, spec: SessionSpec): Promise<number> {
  const batch = () => ({ rows, segments: [{ kind: 'seeded' as const, seed: 0, start: 0, count: rows }], labels: spec.label ? new Int32Array(rows) : null });
  await backend.run(batch());
  let best = Infinity;
  for (let i = 0; i < COMPARE_RUNS; i++) best = Math.min(best, (await backend.run(batch())).computeMs);
  return rows / (Math.max(best, 1e-3) / 1000);
}

/** A one-row run: the first run allocates buffers (and compiles shaders on WebGPU). */
function warmUpRun(spec: SessionSpec) {
  return { rows: 1, segments: [{ kind: 'seeded' as const, seed: 0, start: 0, count: 1 }], labels: spec.label ? new Int32Array(1) : null };
}

/**
 * `auto` on a GPU: time the model on a CPU session too, at the batch size served under load, and
 * replace the GPU sessions in `backends` by CPU ones when the CPU is faster. The CPU trial is
 * optional: if it fails (say, out of memory at this batch size), the model stays on the GPU.
 */
async function keepFasterDevice(backends: InferenceBackend[], create: (providers: string[]) => Promise<InferenceBackend>, ctx: LoadContext, spec: SessionSpec): Promise<ModelDevice> {
  const rows = ctx.batcher.maxBatch;
  const gpu = ctx.device.device;
  const cpuProviders = [...DEVICE_PROVIDERS.cpu];
  const gpuRate = await samplesPerSecond(backends[0], rows, spec);
  let cpu: InferenceBackend | null = null;
  let cpuRate: number | null = null;
  let trialError = '';
  try {
    cpu = await create(cpuProviders);
    cpuRate = await samplesPerSecond(cpu, rows, spec);
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
    const extra = await create(cpuProviders);
    backends.push(extra);
    await extra.run(warmUpRun(spec));
  }
  return { device: 'cpu', providers: cpuProviders, choice: `cpu: faster for this model (${figures})` };
}

/** Session inputs/outputs from the manifest; only float32 outputs and int labels are served. */
export function sessionSpec(manifest: Manifest): SessionSpec {
  const latent = manifest.inputs.find((i) => i.role === 'latent')!;
  const label = manifest.inputs.find((i) => i.role === 'label') ?? null;
  if (latent.dtype !== 'float32') throw new InvalidArgumentError('manifest.inputs.latent.dtype', latent.dtype, 'float32');
  if (label && label.dtype !== 'int64' && label.dtype !== 'int32') throw new InvalidArgumentError('manifest.inputs.label.dtype', label.dtype, 'int64 or int32');
  const output = manifest.outputs[0];
  if (output.dtype !== 'float32') throw new InvalidArgumentError('manifest.outputs[0].dtype', output.dtype, 'float32 (serve the float32 file)');
  return {
    latent: { name: latent.name, dim: manifest.latent.dim, distribution: manifest.latent.distribution },
    label: label ? { name: label.name, dtype: label.dtype as 'int64' | 'int32' } : null,
    output: { name: output.name },
  };
}

function expectedRowShape(manifest: Manifest): (number | string)[] {
  return manifest.outputs[0].shape.slice(1);
}

export async function loadModel(dir: string, name: string, ctx: LoadContext): Promise<LoadedModel> {
  const manifestPath = path.join(dir, 'manifest.json');
  let raw: Buffer;
  try {
    raw = await readFile(manifestPath);
  } catch (err) {
    throw new ModelLoadError(`cannot read manifest.json: ${(err as Error).message}`);
  }
  if (raw.length > MAX_MANIFEST_BYTES) throw new ModelLoadError(`manifest.json is ${raw.length} bytes; at most ${MAX_MANIFEST_BYTES} allowed`);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ModelLoadError(`manifest.json is not valid JSON: ${(err as Error).message}`);
  }
  const manifest = parseManifest(json, 'manifest.json');
  if (manifest.name !== name) throw new ModelLoadError(`manifest.json names the model "${manifest.name}" but its folder is "${name}"`);
  const spec = sessionSpec(manifest);
  // The file name comes from disk, not from a request; still keep it inside the folder.
  const file = manifest.export.file;
  if (path.basename(file) !== file) throw new InvalidArgumentError('manifest.json.export.file', file, 'a file name inside the model folder');
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dir, file));
  } catch (err) {
    throw new ModelLoadError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (manifest.export.sha256 !== null && manifest.export.sha256 !== sha256) {
    throw new ModelLoadError(`${file} has sha256 ${sha256.slice(0, 12)}…, manifest.json says ${manifest.export.sha256.slice(0, 12)}… (file replaced or damaged)`);
  }
  const createBackend = ctx.createBackend ?? ((o) => SessionInstance.create(o));
  const create = (providers: string[]) => createBackend({ model: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), providers, threads: ctx.threads, spec, label: `${name}/${file}` });
  const backends: InferenceBackend[] = [];
  try {
    for (let i = 0; i < ctx.instances; i++) backends.push(await create(ctx.device.providers));
    // Warm-up: one sample per instance (the first run allocates buffers and, on WebGPU, compiles shaders).
    const t0 = performance.now();
    const expected = expectedRowShape(manifest);
    let rowShape: number[] = [];
    for (const b of backends) {
      const out = await b.run(warmUpRun(spec));
      const got = out.dims.slice(1);
      const fits = got.length === expected.length && got.every((d, i) => typeof expected[i] !== 'number' || expected[i] === d);
      if (!fits) throw new ModelLoadError(`warm-up output has shape [${out.dims.join(', ')}], manifest.json says [${manifest.outputs[0].shape.join(', ')}]`);
      rowShape = got;
    }
    const warmupMs = performance.now() - t0;
    const device = ctx.device.requested === 'auto' && ctx.device.device !== 'cpu' ? await keepFasterDevice(backends, create, ctx, spec) : { device: ctx.device.device, providers: ctx.device.providers, choice: null };
    const batcher = new DynamicBatcher(name, backends, { ...ctx.batcher, dim: manifest.latent.dim }, ctx.hooks(name));
    return { name, dir, manifest, sha256, spec, rowShape, batcher, loadedAt: new Date().toISOString(), warmupMs, device };
  } catch (err) {
    await Promise.all(backends.map((b) => b.close()));
    throw err;
  }
}
