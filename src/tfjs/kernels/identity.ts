/** `Identity` shares its input's data, as the cpu backend's does (wasm's own copies it). */
import type * as tf from '@tensorflow/tfjs';
import type { WasmBackend } from '../wasm-heap.js';
import type { WasmKernelConfig } from './kernel.js';

export const identityConfig: WasmKernelConfig = {
  kernelName: 'Identity',
  own: 'fallback',
  kernelFunc: (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    (args.backend as unknown as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  },
};
