/**
 * Adam's update of one variable as one WebAssembly function, for the tfjs wasm backend's kernel
 * `FusedAdam` (./kernels/fused-adam.ts).
 *
 * As tensor ops, one update is 13 kernels, each with a fresh output in the heap and a pass over
 * memory (more for small variables, where each kernel's fixed cost dominates). The kernel `FusedAdam` does it in one pass, four floats at a time, with a
 * tiny WebAssembly module (./wasm-adam.wat, SIMD) that works on the backend's own memory, several
 * times faster (bench/RESULTS.md). Its float32 operations are the tensor ops' in their order, so
 * the new weights and moments are the same bits (test/tfjs/wasm-adam.test.ts).
 *
 * src/train/optimizers.ts uses the kernel wherever the current backend registers it.
 */
import { ADAM_WASM_PLAIN, ADAM_WASM_SHARED } from './wasm-adam.binary.js';
import { isShared } from './wasm-host-gemm.js';

/** The kernel's name. Inputs `x` (the variable), `m`, `v`, `g`; outputs x', m', v'. */
export const FUSED_ADAM = 'FusedAdam';

/** Its attributes: the constants of one step (see src/train/optimizers.ts). */
export interface FusedAdamAttrs {
  beta1: number;
  beta2: number;
  /** lr / (1 − β1^t). */
  stepSize: number;
  /** √(1 − β2^t). */
  sqrtBc2: number;
  epsilon: number;
}

export type AdamExport = (w: number, m: number, v: number, g: number, wOut: number, mOut: number, vOut: number, n: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number) => void;

function base64Bytes(b64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** One instance per memory (a backend keeps its memory for life; growing it keeps the object). */
const instances = new WeakMap<WebAssembly.Memory, AdamExport>();

/** The module's `adam`, linked to `memory` (a plain or a shared one). */
export function adamFor(memory: WebAssembly.Memory): AdamExport {
  let fn = instances.get(memory);
  if (!fn) {
    const module = new WebAssembly.Module(base64Bytes(isShared(memory) ? ADAM_WASM_SHARED : ADAM_WASM_PLAIN));
    fn = new WebAssembly.Instance(module, { env: { memory } }).exports.adam as AdamExport;
    instances.set(memory, fn);
  }
  return fn;
}

/** Whether this process's WebAssembly has SIMD (else the optimiser keeps its tensor ops). */
export function adamAvailable(): boolean {
  return WebAssembly.validate(base64Bytes(ADAM_WASM_PLAIN));
}
