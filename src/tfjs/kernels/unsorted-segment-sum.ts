/**
 * `UnsortedSegmentSum`, which tfjs-backend-wasm 4.22 lacks. It is the gradient of `gather`, i.e.
 * of every `Embedding` layer, so without it a conditional model cannot train on wasm. A plain
 * JavaScript loop in the wasm heap (embedding tables are small).
 */
import * as tf from '@tensorflow/tfjs';
import { heapIndex, type WasmBackend } from '../wasm-heap.js';
import type { WasmKernelConfig } from './kernel.js';

export const unsortedSegmentSumConfig: WasmKernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  own: 'add',
  kernelFunc: (args) => {
    const backend = args.backend as unknown as WasmBackend;
    const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const numSegments = Number(args.attrs?.numSegments);
    if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum (wasm polyfill) supports float32 only, got ${x.dtype}`);
    const ids = backend.readSync(segmentIds.dataId) as Int32Array;
    const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
    const inner = tf.util.sizeFromShape(x.shape) / Math.max(rows, 1);
    const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], 'float32');
    // In the heap, read after the allocation (it may have grown).
    const heap = backend.wasm.HEAPF32;
    const x0 = heapIndex(backend, x);
    const o0 = heapIndex(backend, out);
    heap.fill(0, o0, o0 + numSegments * inner);
    for (let r = 0; r < rows; r++) {
      const s = ids[r];
      if (s < 0 || s >= numSegments) continue; // TensorFlow drops out-of-range ids
      const src = x0 + r * inner;
      const dst = o0 + s * inner;
      for (let j = 0; j < inner; j++) heap[dst + j] += heap[src + j];
    }
    return out;
  },
};
