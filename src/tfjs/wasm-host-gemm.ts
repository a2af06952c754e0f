/**
 * The seam that hands wasm's matrix products to a faster engine outside tfjs, when the run has one:
 * the kernels of ./kernels/ (`BatchMatMul`, `_FusedMatMul`: ./kernels/matmul.ts; the convolutions;
 * `Sum` and `Mean` over leading axes) read their operands in place in the wasm heap, hand them to a
 * synchronous `HostGemm` (in Node: onnxruntime-node's MLAS, src/runtime/node-gemm.ts) and write
 * its product back. What the engine cannot take goes to XNNPACK, as with no engine.
 *
 * The threaded build's heap is a SharedArrayBuffer, which onnxruntime-node refuses: operands are
 * then copied into private buffers first (`operand`), reused from call to call.
 *
 * @example
 *   useHostGemm(gemm);  // after the wasm backend is active; null puts XNNPACK back
 */
import type { HostGemm } from '../core/gemm.js';

let engine: HostGemm | null = null;

/** Private buffers: operands from a shared heap (a, b, bias), and patch matrices (./kernels/conv-geometry.ts). */
const buffers: Float32Array[] = [];

/** Private buffer `slot`, at least `length` floats long (grown as needed, reused across calls). */
export function scratch(slot: number, length: number): Float32Array {
  const have = buffers[slot];
  if (!have || have.length < length) buffers[slot] = new Float32Array(Math.max(length, 2 * (have?.length ?? 0)));
  return buffers[slot].subarray(0, length);
}

/** `values` copied into private buffer `slot`. */
function staged(slot: number, values: Float32Array): Float32Array {
  const out = scratch(slot, values.length);
  out.set(values);
  return out;
}

/**
 * `length` floats of the heap from index `from`, as the engine can take them: a view, or a copy
 * in private buffer `slot` when the heap is the threaded build's SharedArrayBuffer (which
 * onnxruntime-node refuses). Valid until the next heap allocation.
 */
export function operand(heap: Float32Array, from: number, length: number, slot: OperandSlot): Float32Array {
  const view = heap.subarray(from, from + length);
  return isShared(heap) ? staged(slot, view) : view;
}

/** Whether `heap` (a view of the heap, or the memory itself) is the threaded build's SharedArrayBuffer. */
export function isShared(heap: { readonly buffer: ArrayBufferLike }): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && heap.buffer instanceof SharedArrayBuffer;
}

/**
 * op(a)·op(b) [m, n] on `gemm`, landing in the heap at `at`: written there by the engine on a plain
 * heap, copied there from the engine's result on a shared one. `before` (an activation) sees the
 * product first.
 */
export function productIntoHeap(
  gemm: HostGemm, heap: Float32Array, at: number,
  a: Float32Array, b: Float32Array, bias: Float32Array | null, m: number, k: number, n: number, transA: boolean, transB: boolean,
  before: (y: Float32Array) => void = () => {},
): void {
  const direct = !isShared(heap);
  const y = gemm.run(a, b, bias, m, k, n, transA, transB, direct ? heap.subarray(at, at + m * n) : undefined);
  before(y);
  if (!direct) heap.set(y, at);
}

/**
 * `length` floats computed by `compute` landing in the heap at `at`: written there by the engine
 * on a plain heap (`compute` gets the heap's view), copied there from its result on a shared one
 * (`compute` gets nothing and returns a new array). False when `compute` declines (null).
 */
export function intoHeap(heap: Float32Array, at: number, length: number, compute: (into: Float32Array | undefined) => Float32Array | null): boolean {
  const direct = !isShared(heap);
  const y = compute(direct ? heap.subarray(at, at + length) : undefined);
  if (!y) return false;
  if (!direct) heap.set(y, at);
  return true;
}

/** Private buffers of {@link operand}: a, b, bias. Patch matrices use PATCHES. */
export type OperandSlot = 0 | 1 | 2;
export const PATCHES = 3;

/** The activations a fused kernel may ask the engine's caller to apply (in place), by tfjs's names. */
export const HOST_ACTIVATIONS: Readonly<Record<string, (y: Float32Array, alpha: number) => void>> = {
  linear: () => {},
  relu: (y) => {
    for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0;
  },
  leakyrelu: (y, alpha) => {
    for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] *= alpha;
  },
};

/** Route wasm's products and convolutions to `gemm` from now on (null: back to XNNPACK). */
export function useHostGemm(gemm: HostGemm | null): void {
  engine = gemm;
}

/** The engine the products run on now, if any. */
export function hostGemm(): HostGemm | null {
  return engine;
}
