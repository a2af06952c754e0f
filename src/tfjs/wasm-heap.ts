/**
 * What wganx's wasm kernels share: the parts of tfjs-backend-wasm's backend object they use (its
 * heap and tensor bookkeeping, not exported as types by tfjs), calls into the backend's own
 * kernels, and a batched matrix transpose that works in the heap directly.
 *
 * Kernels built on these read and write tensors where they live (the wasm heap), with plain
 * JavaScript loops, which V8 compiles to tight machine code: faster than the wasm backend's own
 * generic N-D `Transpose`, and no copies through JavaScript arrays.
 */
import * as tf from '@tensorflow/tfjs';

/** The parts of tfjs-backend-wasm's `BackendWasm` that the kernels use. */
export interface WasmBackend {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array): tf.TensorInfo;
  readSync(dataId: object): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
  incRef(dataId: object): void;
}

export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** Index (in floats) of a tensor's first element in the wasm heap (read the heap after the last allocation: it may grow). */
export function heapIndex(be: WasmBackend, t: tf.TensorInfo): number {
  const data = be.dataIdMap.get(t.dataId);
  if (!data) throw new Error('wasm tensor without data');
  return data.memoryOffset / Float32Array.BYTES_PER_ELEMENT;
}

/** Run a wasm kernel (as registered now) on TensorInfos. */
export function callKernel(name: string, backend: WasmBackend, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`the wasm backend has no ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend: backend as unknown as tf.KernelBackend, attrs }) as tf.TensorInfo;
}

export function reshape(backend: WasmBackend, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return callKernel('Reshape', backend, { x }, { shape });
}

/** Side of the square tiles of {@link transposeInHeap}: 32 × 32 floats of each matrix stay in L1. */
const TILE = 32;

/**
 * dst[b, j, i] = src[b, i, j] for `batch` matrices of `rows × cols` floats in the heap (or from the
 * heap into `out`), tile by tile so that reads and writes both stay in cache.
 */
export function transposeInHeap(heap: Float32Array, src: number, dst: number, batch: number, rows: number, cols: number, out: Float32Array = heap): void {
  const size = rows * cols;
  for (let b = 0; b < batch; b++) {
    const s0 = src + b * size;
    const d0 = dst + b * size;
    for (let i0 = 0; i0 < rows; i0 += TILE) {
      const i1 = Math.min(rows, i0 + TILE);
      for (let j0 = 0; j0 < cols; j0 += TILE) {
        const j1 = Math.min(cols, j0 + TILE);
        for (let i = i0; i < i1; i++) {
          const s = s0 + i * cols;
          for (let j = j0; j < j1; j++) out[d0 + j * rows + i] = heap[s + j];
        }
      }
    }
  }
}

/** A new tensor holding `x` [..., r, c] as [..., c, r] (float32). */
export function transposeLastTwo(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  const rank = x.shape.length;
  const rows = x.shape[rank - 2];
  const cols = x.shape[rank - 1];
  const batch = x.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([...x.shape.slice(0, -2), cols, rows], x.dtype);
  transposeInHeap(backend.wasm.HEAPF32, heapIndex(backend, x), heapIndex(backend, out), batch, rows, cols);
  return out;
}
