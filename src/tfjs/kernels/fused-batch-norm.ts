/**
 * `FusedBatchNorm` with per-channel parameters ([C], the last axis of x) as x·k + (offset − mean·k),
 * k = scale / sqrt(variance + ε): two broadcast SIMD kernels over x instead of wasm's own scalar
 * loop (bench/RESULTS.md). Other shapes and dtypes: the original kernel.
 */
import type * as tf from '@tensorflow/tfjs';
import { callKernel, type WasmBackend } from '../wasm-heap.js';
import { composed, scalar } from './compose.js';
import type { WasmKernelConfig } from './kernel.js';

export const fusedBatchNormConfig: WasmKernelConfig = {
  kernelName: 'FusedBatchNorm',
  own: 'fallback',
  kernelFunc: (args, original) => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const channels = x?.shape.at(-1);
    const perChannel = (t: tf.TensorInfo | undefined) => t === undefined || t === null || (t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === channels);
    if (!x || !mean || !variance || x.dtype !== 'float32' || x.shape.length < 2 || ![mean, variance, offset, scale].every(perChannel)) return original!(args);
    const backend = args.backend as unknown as WasmBackend;
    const epsilon = Number((args.attrs as { varianceEpsilon: number }).varianceEpsilon);
    return composed(backend, (keep) => {
      let k = keep(callKernel('Rsqrt', backend, { x: keep(callKernel('Add', backend, { a: variance, b: keep(scalar(backend, epsilon)) })) }));
      if (scale) k = keep(callKernel('Multiply', backend, { a: k, b: scale }));
      const meanK = keep(callKernel('Multiply', backend, { a: mean, b: k }));
      const shift = keep(offset ? callKernel('Sub', backend, { a: offset, b: meanK }) : callKernel('Neg', backend, { x: meanK }));
      return callKernel('Add', backend, { a: keep(callKernel('Multiply', backend, { a: x, b: k })), b: shift });
    });
  },
};
