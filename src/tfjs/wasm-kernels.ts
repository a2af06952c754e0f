/**
 * Patches to the tfjs wasm backend that training needs. Registered once, for `wasm` only.
 *
 * 1. `UnsortedSegmentSum` is missing from tfjs-backend-wasm 4.22. It is the gradient of `gather`,
 *    i.e. of every `Embedding` layer, so without it a conditional model cannot train on wasm.
 *    The kernel below is a plain JavaScript loop over the wasm heap (embedding tables are small).
 * 2. wasm's `BatchMatMul` and `_FusedMatMul` reach XNNPACK only when neither operand is
 *    transposed; with `transposeA`/`transposeB` (every matmul of a backward pass) they fall back
 *    to a naive loop about 8× slower (measured: 128×256·256×128, 6 GFLOP/s plain vs 0.8
 *    transposed). We transpose the operand explicitly (a cheap copy) and run the fast path.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackendLike {
  readSync(dataId: object): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: string, memoryOffset?: number, values?: Float32Array): tf.TensorInfo;
  disposeData(dataId: object): void;
}

let patched = false;

function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = Number(args.attrs?.numSegments);
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum (wasm polyfill) supports float32 only, got ${x.dtype}`);
  const values = backend.readSync(x.dataId) as Float32Array;
  const ids = backend.readSync(segmentIds.dataId) as Int32Array;
  const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
  const inner = values.length / Math.max(rows, 1);
  const out = new Float32Array(numSegments * inner);
  for (let r = 0; r < rows; r++) {
    const s = ids[r];
    if (s < 0 || s >= numSegments) continue; // TensorFlow drops out-of-range ids
    const src = r * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += values[src + j];
  }
  return backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], 'float32', undefined, out);
}

function withExplicitTranspose(kernelName: string): void {
  const original = tf.getKernel(kernelName, 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const backend = args.backend as WasmBackendLike;
      const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
      const temporaries: tf.TensorInfo[] = [];
      const flip = (t: tf.TensorInfo): tf.TensorInfo => {
        const r = t.shape.length;
        const perm = [...Array(r).keys()];
        [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
        const out = transpose.kernelFunc({ inputs: { x: t }, backend: args.backend, attrs: { perm } }) as tf.TensorInfo;
        temporaries.push(out);
        return out;
      };
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const inputs = { ...args.inputs, a: attrs.transposeA ? flip(a) : a, b: attrs.transposeB ? flip(b) : b };
      try {
        return original.kernelFunc({ ...args, inputs, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
      } finally {
        for (const t of temporaries) backend.disposeData(t.dataId);
      }
    },
  });
}

/** Register the patches (idempotent). Call after the wasm backend package is imported. */
export function patchWasmKernels(): void {
  if (patched) return;
  patched = true;
  if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as tf.KernelFunc });
  }
  withExplicitTranspose('BatchMatMul');
  withExplicitTranspose('_FusedMatMul');
}
