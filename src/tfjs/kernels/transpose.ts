/**
 * `Transpose`: wasm's own is a generic N-D loop; swapping the last two axes of a float32 tensor
 * (what the matrix products' transposed operands need, and what backward passes ask for) goes
 * through a tiled copy in the heap instead (../wasm-heap.ts), whose reads and writes stay in cache.
 * Other permutations and dtypes: the original kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { transposeLastTwo, type WasmBackend } from '../wasm-heap.js';
import type { WasmKernelConfig } from './kernel.js';

/** Whether `perm` swaps the last two axes and keeps the others. */
function swapsLastTwo(perm: readonly number[]): boolean {
  const r = perm.length;
  return r >= 2 && perm[r - 2] === r - 1 && perm[r - 1] === r - 2 && perm.slice(0, -2).every((p, i) => p === i);
}

export const transposeConfig: WasmKernelConfig = {
  kernelName: 'Transpose',
  own: 'fallback',
  kernelFunc: (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const perm = (args.attrs as { perm: number[] }).perm;
    // Only float32: copying int32 words through float registers could alter NaN-looking bit patterns.
    if (x.dtype === 'float32' && swapsLastTwo(perm)) return transposeLastTwo(args.backend as unknown as WasmBackend, x);
    return original!(args);
  },
};
