/** Helpers of the kernels composed from wasm's own SIMD kernels (LeakyRelu, Tanh, FusedBatchNorm). */
import type * as tf from '@tensorflow/tfjs';
import type { WasmBackend } from '../wasm-heap.js';

/** A float32 scalar tensor in the heap (dispose it). */
export function scalar(backend: WasmBackend, value: number): tf.TensorInfo {
  return backend.makeOutput([], 'float32', undefined, Float32Array.of(value));
}

/** Run `build` with a list for its intermediate tensors, which are disposed afterwards. */
export function composed(backend: WasmBackend, build: (keep: (t: tf.TensorInfo) => tf.TensorInfo) => tf.TensorInfo): tf.TensorInfo {
  const temporaries: tf.TensorInfo[] = [];
  try {
    return build((t) => (temporaries.push(t), t));
  } finally {
    for (const t of temporaries) backend.disposeData(t.dataId);
  }
}
