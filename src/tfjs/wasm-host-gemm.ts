/**
 * wasm's matrix products on a faster engine outside tfjs, when the run has one: `BatchMatMul` and
 * `_FusedMatMul` (dense layers) hand their operands, read in place in the wasm heap, to a
 * synchronous `HostGemm` (in Node: onnxruntime-node's MLAS, src/runtime/node-gemm.ts) and write its
 * product back; ./wasm-conv-kernels.ts runs the convolutions on it too. What the engine cannot take
 * (other dtypes, broadcast batches it cannot stride, fused activations other than linear / relu /
 * leakyrelu, biases that are not one row) goes to the kernels registered before (./wasm-kernels.ts).
 *
 * The threaded build's heap is a SharedArrayBuffer, which onnxruntime-node refuses: operands are
 * then copied into private buffers first (`operand`), reused from call to call.
 *
 * @example
 *   useHostGemm(gemm);  // after the wasm backend is active; null puts XNNPACK back
 */
import * as tf from '@tensorflow/tfjs';
import { heapIndex, type WasmBackend } from './wasm-heap.js';

/** A synchronous c [m, n] = op(a)·op(b) (+ bias [n] on every row), row-major float32. */
export interface HostGemm {
  /** What runs the products, for the backend line. */
  readonly describe: string;
  /** With `out` (not on a SharedArrayBuffer) the product is written there and `out` returned. */
  run(a: Float32Array, b: Float32Array, bias: Float32Array | null, m: number, k: number, n: number, transA: boolean, transB: boolean, out?: Float32Array): Float32Array;
  /**
   * A convolution's input gradient (its adjoint: dy NHWC [B, OH, OW, Co], w [KH, KW, Ci, Co] →
   * [B, H, W, Ci]; src/runtime/node-gemm.ts). Engines without it leave dx to products.
   */
  convTranspose?(dy: Float32Array, dyShape: readonly number[], w: Float32Array, wShape: readonly number[], geometry: HostConvGeometry): Float32Array;
}

/** Strides, explicit pads (top, left, bottom, right), and the input size [H, W] to give back. */
export interface HostConvGeometry {
  strides: readonly [number, number];
  pads: readonly [number, number, number, number];
  outSize: readonly [number, number];
}

let engine: HostGemm | null = null;
let registered = false;

/** Private buffers: operands from a shared heap (a, b, bias), and patch matrices (./wasm-conv-kernels.ts). */
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

const elements = (dims: readonly number[]) => dims.reduce((x, y) => x * y, 1);

/**
 * op(a)·op(b) on the engine, or null to leave it to the kernel before. Batches: equal, or one
 * side a single matrix (broadcast), as tfjs's BatchMatMul allows.
 */
function hostProduct(args: Parameters<tf.KernelFunc>[0], fused: boolean): tf.TensorInfo | null {
  if (!engine) return null;
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean; activation?: string; leakyreluAlpha?: number };
  if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const transA = !!attrs.transposeA;
  const transB = !!attrs.transposeB;
  const m = transA ? a.shape.at(-1)! : a.shape.at(-2)!;
  const k = transA ? a.shape.at(-2)! : a.shape.at(-1)!;
  const n = transB ? b.shape.at(-2)! : b.shape.at(-1)!;
  if ((transB ? b.shape.at(-1)! : b.shape.at(-2)!) !== k) return null;
  const activation = fused ? HOST_ACTIVATIONS[attrs.activation ?? 'linear'] : HOST_ACTIVATIONS.linear;
  if (!activation || preluActivationWeights) return null;
  if (bias && (bias.dtype !== 'float32' || bias.shape.at(-1) !== n || elements(bias.shape) !== n)) return null;
  let outer: number[];
  try {
    outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    return null; // the kernel before reports the mismatch in its own words
  }
  const batch = elements(outer);
  const batchA = elements(a.shape.slice(0, -2));
  const batchB = elements(b.shape.slice(0, -2));
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null;

  const backend = args.backend as WasmBackend;
  const out = backend.makeOutput([...outer, m, n], 'float32');
  // Views after the allocation: the heap may have grown.
  const heap = backend.wasm.HEAPF32;
  const ai = heapIndex(backend, a);
  const bi = heapIndex(backend, b);
  const oi = heapIndex(backend, out);
  const view = (slot: OperandSlot, from: number, length: number) => operand(heap, from, length, slot);
  const biasView = bias ? view(2, heapIndex(backend, bias), n) : null;
  const alpha = attrs.leakyreluAlpha ?? 0.2;
  const product = (a0: number, b0: number, rows: number, ta: boolean, at: number) =>
    productIntoHeap(engine!, heap, at, view(0, a0, rows * k), view(1, b0, k * n), biasView, rows, k, n, ta, transB, (y) => activation(y, alpha));
  try {
    if (batchA === batch && batchB === 1 && !transA) {
      // Every matrix of a times one b: a single product of [batch·m, k].
      product(ai, bi, batch * m, false, oi);
      return out;
    }
    for (let i = 0; i < batch; i++) product(ai + (batchA === 1 ? 0 : i * m * k), bi + (batchB === 1 ? 0 : i * k * n), m, transA, oi + i * m * n);
    return out;
  } catch (err) {
    backend.disposeData(out.dataId);
    throw err;
  }
}

function wrap(kernelName: string): void {
  const before = tf.getKernel(kernelName, 'wasm');
  if (!before) return;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ ...before, kernelFunc: (args) => hostProduct(args, kernelName === '_FusedMatMul') ?? before.kernelFunc(args) });
}

/**
 * Route wasm's products to `gemm` from now on (null: back to the kernels before). Registers the
 * wrappers once, on top of whatever is registered now: call after ./wasm-kernels.ts's patches.
 */
export function useHostGemm(gemm: HostGemm | null): void {
  if (!registered && gemm) {
    registered = true;
    wrap('BatchMatMul');
    wrap('_FusedMatMul');
  }
  engine = gemm;
}

/** The engine the products run on now, if any. */
export function hostGemm(): HostGemm | null {
  return engine;
}
