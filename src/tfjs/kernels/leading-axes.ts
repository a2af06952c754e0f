/**
 * `Sum` and `Mean` over the leading axes (bias and batch-norm gradients of NHWC tensors: sums over
 * batch, height and width) as one product w·X on the host engine, with w a row of ones (or of
 * 1/rows): wasm's own kernels transpose the tensor first (bench/RESULTS.md). Without the host
 * engine, and for other reductions, the original kernels: XNNPACK's matrix product caches its
 * operator by the right operand's tensor id, and X's id outlives this call, reshaped.
 * ./sum.ts and ./mean.ts are the two kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { heapIndex, type WasmBackend } from '../wasm-heap.js';
import { hostGemm, operand, productIntoHeap } from '../wasm-host-gemm.js';
import type { PatchFunc } from './kernel.js';

/**
 * The reduction axes of a `Sum`/`Mean` when they are the leading ones and at least one axis is kept:
 * their count. 0 for any other reduction.
 */
function leadingAxes(x: tf.TensorInfo, axis: number | number[]): number {
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  return axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i) ? axes.length : 0;
}

/** A row of `length` copies of `value` (the left operand of a column sum), kept for the next call. */
let weightRow = new Float32Array(0);
function constantRow(length: number, value: number): Float32Array {
  if (weightRow.length !== length || weightRow[0] !== Math.fround(value)) weightRow = new Float32Array(length).fill(value);
  return weightRow;
}

/** The kernel of `Sum` (`mean` false) or `Mean` (true) over leading axes. */
export function columnReduction(mean: boolean): PatchFunc {
  return (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const engine = hostGemm();
    const lead = engine && x.dtype === 'float32' && x.shape.every((d) => d > 0) ? leadingAxes(x, axis) : 0;
    if (!engine || lead === 0) return original!(args);
    const backend = args.backend as unknown as WasmBackend;
    const kept = x.shape.slice(lead);
    const rows = tf.util.sizeFromShape(x.shape.slice(0, lead));
    const cols = tf.util.sizeFromShape(kept);
    const out = backend.makeOutput(keepDims ? [...new Array<number>(lead).fill(1), ...kept] : kept, 'float32');
    // Views after the allocation: the heap may have grown.
    const heap = backend.wasm.HEAPF32;
    try {
      const w = constantRow(rows, mean ? 1 / rows : 1);
      productIntoHeap(engine, heap, heapIndex(backend, out), w, operand(heap, heapIndex(backend, x), rows * cols, 1), null, 1, rows, cols, false, false);
      return out;
    } catch (err) {
      backend.disposeData(out.dataId);
      throw err;
    }
  };
}
