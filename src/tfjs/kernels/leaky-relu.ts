/**
 * `LeakyRelu` for float32 and α in [0, 1] as relu(x) + α·(x − relu(x)), four of wasm's SIMD
 * kernels (Relu, Sub, Multiply, Add): its own takes a branch per element (bench/RESULTS.md). The same formula exactly: x > 0 gives
 * x + α·0, x ≤ 0 gives 0 + α·x. Other dtypes and α: the original kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { callKernel, type WasmBackend } from '../wasm-heap.js';
import { composed, scalar } from './compose.js';
import type { WasmKernelConfig } from './kernel.js';

export const leakyReluConfig: WasmKernelConfig = {
  kernelName: 'LeakyRelu',
  own: 'fallback',
  kernelFunc: (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const alpha = Number((args.attrs as { alpha: number }).alpha);
    if (x.dtype !== 'float32' || !(alpha >= 0 && alpha <= 1)) return original!(args);
    const backend = args.backend as unknown as WasmBackend;
    return composed(backend, (keep) => {
      const positive = keep(callKernel('Relu', backend, { x }));
      const negative = keep(callKernel('Sub', backend, { a: x, b: positive }));
      const scaled = keep(callKernel('Multiply', backend, { a: negative, b: keep(scalar(backend, alpha)) }));
      return callKernel('Add', backend, { a: positive, b: scaled });
    });
  },
};
