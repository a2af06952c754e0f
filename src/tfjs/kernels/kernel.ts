/**
 * How wganx's wasm kernels plug into tfjs: each kernel file exports one {@link WasmKernelConfig}
 * (as tfjs-backend-wasm's `kernels/LeakyRelu.ts` exports `leakyReluConfig`), and
 * ./register-all.ts registers them in one ordered list. A config says what becomes of the wasm
 * backend's own kernel of that name; {@link wganxKernelOf} tells whether the kernel registered now
 * is ours (test/tfjs/kernels.test.ts fails when a patch is no longer registered).
 */
import * as tf from '@tensorflow/tfjs';

/** Our kernel: `original` is the wasm backend's own kernel of the name, when there is one. */
export type PatchFunc = (args: Parameters<tf.KernelFunc>[0], original: tf.KernelFunc | null) => ReturnType<tf.KernelFunc>;

export interface WasmKernelConfig {
  kernelName: string;
  /**
   * What becomes of the wasm backend's own kernel:
   * - `fallback`: ours is registered only where wasm has the kernel, and calls it (`original`) for
   *   what it leaves alone (other dtypes, shapes, no host engine…); its setup is kept;
   * - `replace`: ours replaces it, or fills the gap where wasm has none;
   * - `add`: ours only where wasm has none (a kernel tfjs-backend-wasm lacks, or a new one).
   */
  own: 'fallback' | 'replace' | 'add';
  kernelFunc: PatchFunc;
  /** Whether this process can run it (e.g. WebAssembly SIMD); not registered when false. */
  available?: () => boolean;
}

/** The kernel functions we registered, by the function tfjs holds. */
const ours = new WeakMap<tf.KernelFunc, WasmKernelConfig>();

/** Register `config` for `wasm` as its `own` says. Returns whether it was registered. */
export function registerWasmKernel(config: WasmKernelConfig): boolean {
  const { kernelName, own, kernelFunc } = config;
  if (config.available && !config.available()) return false;
  const original = tf.getKernel(kernelName, 'wasm');
  if (ours.has(original?.kernelFunc as tf.KernelFunc)) return true; // registered already
  if (own === 'fallback' && !original) return false;
  if (own === 'add' && original) return false;
  const base = original?.kernelFunc ?? null;
  const func: tf.KernelFunc = base ? (args) => kernelFunc(args, base) : (args) => kernelFunc(args, null);
  if (original) tf.unregisterKernel(kernelName, 'wasm');
  // A fallback keeps the original's setup and disposal (XNNPACK operators); a replacement has none.
  tf.registerKernel(own === 'fallback' && original ? { ...original, kernelFunc: func } : { kernelName, backendName: 'wasm', kernelFunc: func });
  ours.set(func, config);
  return true;
}

/** The config of the `name` kernel registered for wasm now, when it is ours; else null. */
export function wganxKernelOf(name: string): WasmKernelConfig | null {
  const kernel = tf.getKernel(name, 'wasm');
  return (kernel && ours.get(kernel.kernelFunc)) ?? null;
}
