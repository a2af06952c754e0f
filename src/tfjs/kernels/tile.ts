/**
 * `Tile` (also behind `broadcastTo`, e.g. in the batch-norm gradient): wasm's own costs a loop step
 * per output element; float32 tiles of any rank ≥ 1 are block copies in the heap instead
 * (`copyWithin`, a memmove; bench/RESULTS.md). Other dtypes: the original kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { heapIndex, type WasmBackend } from '../wasm-heap.js';
import type { WasmKernelConfig } from './kernel.js';

/**
 * out = tile(x, reps) in the heap: for each axis, from the innermost, the block holding one copy of
 * x along that axis is written once and then doubled into place.
 */
function tileInHeap(heap: Float32Array, src: number, dst: number, xShape: readonly number[], reps: readonly number[]): void {
  const rank = xShape.length;
  const outShape = xShape.map((d, i) => d * reps[i]);
  const xStride = new Array<number>(rank).fill(1);
  const outStride = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) {
    xStride[i] = xStride[i + 1] * xShape[i + 1];
    outStride[i] = outStride[i + 1] * outShape[i + 1];
  }
  const fill = (axis: number, from: number, to: number): void => {
    if (axis === rank - 1) heap.copyWithin(to, from, from + xShape[axis]);
    else for (let i = 0; i < xShape[axis]; i++) fill(axis + 1, from + i * xStride[axis], to + i * outStride[axis]);
    const block = xShape[axis] * outStride[axis];
    const total = block * reps[axis];
    for (let done = block; done < total; done += Math.min(done, total - done)) heap.copyWithin(to + done, to, to + Math.min(done, total - done));
  };
  if (outShape.every((d) => d > 0)) fill(0, src, dst);
}

export const tileConfig: WasmKernelConfig = {
  kernelName: 'Tile',
  own: 'fallback',
  kernelFunc: (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const reps = (args.attrs as { reps: number[] }).reps;
    if (x.dtype !== 'float32' || x.shape.length === 0 || reps.length !== x.shape.length) return original!(args);
    const backend = args.backend as unknown as WasmBackend;
    const out = backend.makeOutput(x.shape.map((d, i) => d * reps[i]), 'float32');
    tileInHeap(backend.wasm.HEAPF32, heapIndex(backend, x), heapIndex(backend, out), x.shape, reps);
    return out;
  },
};
