/**
 * `GatherV2`: wasm's own is slow on the small tables of every `Embedding` lookup of a conditional
 * run (several per step; bench/RESULTS.md); float32 gathers without batch dimensions are row copies
 * in the heap instead. Other dtypes and batched gathers: the original kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { heapIndex, type WasmBackend } from '../wasm-heap.js';
import type { WasmKernelConfig } from './kernel.js';

export const gatherV2Config: WasmKernelConfig = {
  kernelName: 'GatherV2',
  own: 'fallback',
  kernelFunc: (args, original) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number | number[]; batchDims?: number };
    if (x.dtype !== 'float32' || indices.dtype !== 'int32' || (batchDims ?? 0) !== 0) return original!(args);
    const backend = args.backend as unknown as WasmBackend;
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const ids = backend.readSync(indices.dataId) as Int32Array;
    const dimSize = x.shape[ax];
    for (const i of ids) if (!(i >= 0 && i < dimSize)) throw new Error(`GatherV2: the index value ${i} is not in [0, ${dimSize - 1}]`);
    const outer = x.shape.slice(0, ax).reduce((a, b) => a * b, 1);
    const slice = x.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
    const out = backend.makeOutput([...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)], 'float32');
    const heap = backend.wasm.HEAPF32;
    const src = heapIndex(backend, x);
    let dst = heapIndex(backend, out);
    for (let o = 0; o < outer; o++) {
      const base = src + o * dimSize * slice;
      for (let j = 0; j < ids.length; j++, dst += slice) heap.copyWithin(dst, base + ids[j] * slice, base + (ids[j] + 1) * slice);
    }
    return out;
  },
};
