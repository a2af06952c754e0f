/**
 * Choosing and starting the TensorFlow.js backend for a training run.
 *
 * `auto` takes a native backend when the user has installed one (`@tensorflow/tfjs-node-gpu`,
 * then `@tensorflow/tfjs-node`: imported dynamically, neither is a dependency of wganx), then
 * WebGPU on a hardware adapter (./webgpu.ts: Dawn's Node bindings over Vulkan), else the
 * fastest portable backend that has every kernel the run needs: `wasm` (with the kernels of
 * ./kernels/, registered by ./kernels/register-all.ts) is several times faster than `cpu` for the
 * MLP nets (bench/RESULTS.md). The convolution gradients are replaced before a run starts: on wasm
 * by matrix products (./kernels/conv2d-backprop-*.ts), on cpu by ./conv-filter-grad.ts (its own
 * filter gradient is pathologically slow): a DCGAN trains on wasm too. On wasm the matrix products
 * and convolutions go to a host engine when the caller offers one (`openGemm`, `matmul`:
 * ./wasm-host-gemm.ts; `wganx train` offers onnxruntime-node's). The choice and the reason are
 * returned for the log line, the report and the manifest.
 *
 * @example
 *   const info = await startBackend('auto', requiredKernels(config));
 *   console.log(`backend: ${info.name} (${info.reason})`);
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import type { HostGemm } from '../core/gemm.js';
import { registerConv2DBackpropFilter } from './conv-filter-grad.js';
import { registerResizeNearestGrad } from './resize-nearest-grad.js';
import type { BackendChoice, MatmulChoice } from './choices.js';
import { useHostGemm } from './wasm-host-gemm.js';
import { registerWasmKernels } from './kernels/register-all.js';
import { planWasmThreads, productThreads, startThreadedWasm, type WasmThreadPlan } from './wasm-threads.js';
import { startWebgpu } from './webgpu.js';

export { BACKEND_CHOICES, MATMUL_CHOICES, type BackendChoice, type MatmulChoice } from './choices.js';

/** Native packages in order of preference; each registers the `tensorflow` backend. */
export const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
/** Portable backends, fastest first for the MLP nets (measured, see module header). */
export const PORTABLE_BACKENDS = ['wasm', 'cpu'] as const;
export type PortableBackend = (typeof PORTABLE_BACKENDS)[number];

export interface BackendInfo {
  /** tfjs backend name: `tensorflow`, `webgpu`, `wasm` or `cpu`. */
  name: string;
  requested: BackendChoice;
  reason: string;
  /** wasm: the threads of its matrix products (on the host engine, or XNNPACK's: 1 is the one-thread build). */
  threads?: number;
  /** wasm: what runs its matrix products (a host engine, or XNNPACK and why). */
  matmul?: string;
}

export interface BackendOptions {
  /** wasm threads: 0 (default) every core, at most 8; 1 the one-thread build (./wasm-threads.ts). */
  threads?: number;
  /** The run's nets are small (the toy MLPs): threads 0 then means one thread. */
  smallNets?: boolean;
  /** wasm: `auto` / `onnxruntime` run products on `openGemm`'s engine (./wasm-host-gemm.ts); default xnnpack. */
  matmul?: MatmulChoice;
  /** Opens the host engine with this many threads for its products; a string says why it cannot. */
  openGemm?: (threads: number) => HostGemm | string;
}

/** Kernels that not every backend has, by feature of the run. */
export const FEATURE_KERNELS = {
  dense: ['_FusedMatMul', 'BatchMatMul'],
  conv: ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'],
  embedding: ['GatherV2', 'UnsortedSegmentSum'],
  norm: ['FusedBatchNorm'],
  classifier: ['OneHot'],
  resample: ['ResizeNearestNeighbor', 'ResizeNearestNeighborGrad', 'AvgPool', 'AvgPoolGrad'],
} as const;

export type KernelFeature = keyof typeof FEATURE_KERNELS;

/** The kernels a run with this config calls, forward and backward (those that differ between backends). */
export interface KernelFeatures {
  /** What the architecture's nets call beyond dense products (src/train/models/archs.ts `kernels`). */
  archKernels: readonly KernelFeature[];
  conditional: boolean;
  criticNorm: 'none' | 'layer';
  acWeight?: number;
}

export function requiredKernels(config: KernelFeatures): string[] {
  const out: string[] = [...FEATURE_KERNELS.dense];
  for (const feature of config.archKernels) out.push(...FEATURE_KERNELS[feature]);
  if (config.conditional) out.push(...FEATURE_KERNELS.embedding);
  if (config.criticNorm === 'layer') out.push(...FEATURE_KERNELS.norm);
  if ((config.acWeight ?? 0) > 0) out.push(...FEATURE_KERNELS.classifier);
  return [...new Set(out)];
}

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');
let wasmModule: WasmModule | null = null;
/** How the wasm backend was started: the first start fixes its threads for the process. */
let wasmStarted: WasmThreadPlan | null = null;

async function loadPortable(name: PortableBackend): Promise<void> {
  if (name === 'cpu') {
    registerConv2DBackpropFilter(); // cpu's own is very slow
    registerResizeNearestGrad(); // cpu's own is wrong past the first image of a batch
  }
  if (name === 'wasm' && !wasmModule) {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    // In Node the .wasm files are read from the package's dist folder.
    wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
    registerWasmKernels();
    wasmModule = wasm;
  }
}

/** Start the wasm backend: threaded on its first start when more than one thread is planned. */
async function activateWasm(threads: number, smallNets: boolean, why?: string): Promise<WasmThreadPlan> {
  if (wasmStarted) {
    await activate('wasm');
    return wasmStarted;
  }
  let plan = threads === 1 && why ? { threads: 1, reason: why } : planWasmThreads(threads, { smallNets });
  if (plan.threads > 1) {
    try {
      await startThreadedWasm(plan, wasmModule!.setThreadsCount, () => activate('wasm'));
    } catch (err) {
      // The one-thread build still works where the threaded one did not start.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      wasmModule!.setThreadsCount(1);
      await activate('wasm');
      plan = { threads: 1, reason: `1 thread: the threaded build failed to start (${(err as Error).message.split('\n')[0]})` };
    }
  } else await activate('wasm');
  const actual = wasmModule!.getThreadsCount();
  wasmStarted = actual === plan.threads ? plan : { threads: actual, reason: `${actual} thread${actual === 1 ? '' : 's'} (${plan.threads} asked for)` };
  return wasmStarted;
}

export function missingKernels(backend: string, kernels: readonly string[]): string[] {
  return kernels.filter((k) => !tf.getKernel(k, backend));
}

/**
 * Silence tfjs's multi-line "Hi, looks like you are running TensorFlow.js in Node.js" banner (and
 * its other warnings), which would otherwise come before a command's one-line errors.
 */
export function quietTfjs(): void {
  tf.env().set('PROD', true);
}

async function activate(name: string): Promise<void> {
  // We print our own backend line.
  quietTfjs();
  const ok = await tf.setBackend(name);
  if (!ok) throw new WganxError(`the tfjs backend "${name}" failed to initialise`);
  await tf.ready();
}

/**
 * Start wasm for a run: with a host engine (`matmul` auto / onnxruntime, and `openGemm` opens), the
 * products run on its threads and the wasm backend keeps the one-thread build (its own threads
 * would only serve XNNPACK, and element loops over the threaded build's shared heap are slower);
 * otherwise XNNPACK on the threaded build. Returns the backend line's words.
 */
async function startWasm(opts: BackendOptions): Promise<{ reason: string; threads: number; matmul: string }> {
  const requested = opts.threads ?? 0;
  const smallNets = opts.smallNets ?? false;
  const choice = opts.matmul ?? 'xnnpack';
  let refusal: string | null = choice !== 'xnnpack' && !opts.openGemm ? 'no host engine in this process' : null;
  if (choice !== 'xnnpack' && opts.openGemm) {
    const products = productThreads(requested, smallNets);
    const gemm = opts.openGemm(products.threads);
    if (typeof gemm !== 'string') {
      const pool = await activateWasm(1, smallNets, 'the one-thread wasm build for the rest');
      useHostGemm(gemm);
      const rest = pool.threads === 1 ? pool.reason : `wasm ${pool.reason}`;
      return { reason: `matrix products on ${gemm.describe} (${products.why}); ${rest}`, threads: products.threads, matmul: gemm.describe };
    }
    refusal = gemm;
  }
  if (choice === 'onnxruntime') throw new InvalidArgumentError('--matmul', choice, `auto or xnnpack here: the host engine did not open (${refusal})`);
  useHostGemm(null);
  const pool = await activateWasm(requested, smallNets);
  const matmul = refusal ? `XNNPACK (${refusal})` : 'XNNPACK';
  return { reason: `${pool.reason}; matrix products on ${matmul}`, threads: pool.threads, matmul };
}

/** Pick, start and report a backend. Throws when the requested one cannot run this config. */
export async function startBackend(choice: BackendChoice, kernels: readonly string[], opts: BackendOptions = {}): Promise<BackendInfo> {
  const failures: string[] = [];
  if (choice === 'auto' || choice === 'tensorflow') {
    for (const pkg of NATIVE_PACKAGES) {
      try {
        const specifier: string = pkg; // a variable: not a static dependency
        await import(specifier);
        await activate('tensorflow');
        return { name: 'tensorflow', requested: choice, reason: `${pkg} is installed (native TensorFlow)` };
      } catch (err) {
        failures.push(`${pkg}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    if (choice === 'tensorflow') {
      throw new WganxError(
        `--backend tensorflow needs @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node installed beside wganx (npm install @tensorflow/tfjs-node-gpu); ${failures.join('; ')}`,
      );
    }
  }
  // WebGPU on Dawn: a hardware adapter for auto, any adapter when asked for by name.
  const refusedGpu: string[] = [];
  if (choice === 'auto' || choice === 'webgpu') {
    const gpu = await startWebgpu({ allowSoftware: choice === 'webgpu' });
    if (gpu.ok) {
      const missing = missingKernels('webgpu', kernels);
      if (missing.length === 0) {
        await activate('webgpu');
        const why = choice === 'webgpu' ? 'requested with --backend' : 'no native backend installed; a WebGPU adapter is';
        return { name: 'webgpu', requested: choice, reason: `${why} (${gpu.adapter}${gpu.software ? ', a software renderer' : ''})` };
      }
      refusedGpu.push(`webgpu lacks ${missing.join(', ')}`);
    } else refusedGpu.push(`webgpu: ${gpu.reason}`);
    if (choice === 'webgpu') throw new InvalidArgumentError('--backend', choice, `a backend that can run here (${refusedGpu.join('; ')})`);
  }
  const candidates: readonly PortableBackend[] = choice === 'auto' ? PORTABLE_BACKENDS : [choice as PortableBackend];
  const skipped: string[] = [...refusedGpu];
  for (const name of candidates) {
    await loadPortable(name);
    const missing = missingKernels(name, kernels);
    if (missing.length > 0) {
      if (choice !== 'auto') {
        throw new InvalidArgumentError('--backend', choice, `a backend with every kernel this run needs (${name} lacks ${missing.join(', ')}; use --backend cpu or a native backend)`);
      }
      skipped.push(`${name} lacks ${missing.join(', ')}`);
      continue;
    }
    const wasm = name === 'wasm' ? await startWasm(opts) : null;
    if (!wasm) await activate(name);
    let reason: string;
    if (choice !== 'auto') reason = 'requested with --backend';
    else {
      const native = 'no native backend installed (npm install @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node to use one)';
      reason = skipped.length
        ? `${native}; ${skipped.join('; ')}; ${name} has every kernel this run needs${skipped.length === refusedGpu.length ? ' and is the fastest portable backend for these nets' : ''}`
        : `${native}; ${name} has every kernel this run needs and is the fastest portable backend for these nets`;
    }
    if (wasm) return { name, requested: choice, reason: `${reason}; ${wasm.reason}`, threads: wasm.threads, matmul: wasm.matmul };
    return { name, requested: choice, reason };
  }
  throw new WganxError(`no backend can run this configuration: ${[...failures, ...skipped].join('; ')}`);
}
