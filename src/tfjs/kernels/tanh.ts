/**
 * `Tanh` as 2·sigmoid(2x) − 1 for float32: wasm's own is a scalar loop, its sigmoid a SIMD kernel
 * (bench/RESULTS.md). The error is ~1e-7 absolute. Other dtypes: the original kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { callKernel, type WasmBackend } from '../wasm-heap.js';
import { composed, scalar } from './compose.js';
import type { WasmKernelConfig } from './kernel.js';

export const tanhConfig: WasmKernelConfig = {
  kernelName: 'Tanh',
  own: 'fallback',
  kernelFunc: (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32') return original!(args);
    const backend = args.backend as unknown as WasmBackend;
    return composed(backend, (keep) => {
      const two = keep(scalar(backend, 2));
      const s = keep(callKernel('Sigmoid', backend, { x: keep(callKernel('Multiply', backend, { a: x, b: two })) }));
      return callKernel('Sub', backend, { a: keep(callKernel('Multiply', backend, { a: s, b: two })), b: keep(scalar(backend, 1)) });
    });
  },
};
