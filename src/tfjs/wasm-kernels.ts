/**
 * Patches to the tfjs wasm backend that training needs. Registered once, for `wasm` only.
 *
 * 0. The backward kernels of a convolution as matrix products (./wasm-conv-kernels.ts).
 * 1. `UnsortedSegmentSum` is missing from tfjs-backend-wasm 4.22. It is the gradient of `gather`,
 *    i.e. of every `Embedding` layer, so without it a conditional model cannot train on wasm.
 *    The kernel below is a plain JavaScript loop in the wasm heap (embedding tables are small).
 * 2. wasm's `BatchMatMul` and `_FusedMatMul` reach XNNPACK only when neither operand is
 *    transposed; with `transposeA`/`transposeB` (every matmul of a backward pass) they fall back
 *    to a naive loop about 8× slower. We transpose the operand explicitly and run the fast path, or,
 *    when that copies fewer floats, compute the transposed product from the untransposed operands.
 *    Its `_FusedMatMul` also adds the bias wrongly when the product is batched (batch > 1;
 *    tfjs-backend-wasm 4.22, found by test/tfjs/wasm-kernels.test.ts): such products run unfused
 *    (product, then `Add`, then the activation's own kernel).
 * 3. wasm's `Transpose` is a generic N-D loop; swapping the last two axes of a float32 tensor
 *    (what 2 needs, and what backward passes ask for) goes through a tiled copy in the heap
 *    instead (./wasm-heap.ts), several times faster.
 * 4. wasm's `Tile` (also behind `broadcastTo`, e.g. in the batch-norm gradient) costs ~100 ns per
 *    output element; float32 tiles are block copies in the heap instead (`copyWithin`, a memmove).
 * 5. wasm's `GatherV2` takes ~1.8 ms to gather 128 rows of a [10, 512] table (every `Embedding`
 *    lookup of a conditional run, several per step); float32 gathers without batch dimensions are
 *    row copies in the heap instead.
 * 6. wasm's `LeakyRelu` takes ~6 ms for [128, 14, 14, 32] (a branch per element); four of its
 *    SIMD kernels (Relu, Sub, Multiply, Add) give the same values in ~0.8 ms.
 * 7. wasm's `Sum` and `Mean` over leading axes (bias and batch-norm gradients) transpose first;
 *    with the host engine they are one product with a row of ones instead.
 * 8. wasm's `Tanh` and `FusedBatchNorm` are scalar loops (~1.2 ms for the generator's output,
 *    ~2.2 ms for [64, 14, 14, 32]); they are composed from its SIMD kernels instead, and
 *    `Identity` shares its input's data instead of copying it.
 * 9. A new kernel, `FusedAdam`: the optimiser's update in one pass (./wasm-adam.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { registerWasmAdam } from './wasm-adam.js';
import { registerWasmConvKernels } from './wasm-conv-kernels.js';
import { callKernel, heapIndex, transposeLastTwo, type KernelArgs, type WasmBackend } from './wasm-heap.js';
import { hostGemm, operand, productIntoHeap } from './wasm-host-gemm.js';

let patched = false;

function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
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
}

/** Whether `perm` swaps the last two axes and keeps the others. */
function swapsLastTwo(perm: readonly number[]): boolean {
  const r = perm.length;
  return r >= 2 && perm[r - 2] === r - 1 && perm[r - 1] === r - 2 && perm.slice(0, -2).every((p, i) => p === i);
}

/** Put `kernel` in place of wasm's own `name` kernel; it gets the original for the calls it leaves alone. */
function replaceWasmKernel(name: string, kernel: (args: Parameters<tf.KernelFunc>[0], original: tf.KernelFunc) => ReturnType<tf.KernelFunc>): void {
  const original = tf.getKernel(name, 'wasm');
  if (!original) return;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: (args) => kernel(args, original.kernelFunc) });
}

/** `Transpose` through the heap for float32 last-two-axes swaps; the original kernel otherwise. */
function fasterTranspose(): void {
  replaceWasmKernel('Transpose', (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const perm = (args.attrs as { perm: number[] }).perm;
    // Only float32: copying int32 words through float registers could alter NaN-looking bit patterns.
    if (x.dtype === 'float32' && swapsLastTwo(perm)) return transposeLastTwo(args.backend as WasmBackend, x);
    return original(args);
  });
}

/**
 * out = tile(x, reps) in the heap: for each axis, from the innermost, the block holding one copy of
 * x along that axis is written once and then doubled into place.
 */
function tileInHeap(heap: Float32Array, src: number, dst: number, xShape: readonly number[], reps: readonly number[]): void {
  const rank = xShape.length;
  const outShape = xShape.map((d, i) => d * reps[i]);
  const xStride = new Array<number>(rank).fill(1);
  const outStride = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) {
    xStride[i] = xStride[i + 1] * xShape[i + 1];
    outStride[i] = outStride[i + 1] * outShape[i + 1];
  }
  const fill = (axis: number, from: number, to: number): void => {
    if (axis === rank - 1) heap.copyWithin(to, from, from + xShape[axis]);
    else for (let i = 0; i < xShape[axis]; i++) fill(axis + 1, from + i * xStride[axis], to + i * outStride[axis]);
    const block = xShape[axis] * outStride[axis];
    const total = block * reps[axis];
    for (let done = block; done < total; done += Math.min(done, total - done)) heap.copyWithin(to + done, to, to + Math.min(done, total - done));
  };
  if (outShape.every((d) => d > 0)) fill(0, src, dst);
}

/** `Tile` as block copies for float32 (any rank ≥ 1); the original kernel otherwise. */
function fasterTile(): void {
  replaceWasmKernel('Tile', (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const reps = (args.attrs as { reps: number[] }).reps;
    if (x.dtype !== 'float32' || x.shape.length === 0 || reps.length !== x.shape.length) return original(args);
    const backend = args.backend as WasmBackend;
    const out = backend.makeOutput(x.shape.map((d, i) => d * reps[i]), 'float32');
    tileInHeap(backend.wasm.HEAPF32, heapIndex(backend, x), heapIndex(backend, out), x.shape, reps);
    return out;
  });
}

/** `GatherV2` as row copies for float32 (batchDims 0); the original kernel otherwise. */
function fasterGather(): void {
  replaceWasmKernel('GatherV2', (args, original) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number | number[]; batchDims?: number };
    if (x.dtype !== 'float32' || indices.dtype !== 'int32' || (batchDims ?? 0) !== 0) return original(args);
    const backend = args.backend as WasmBackend;
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
  });
}

/** A float32 scalar tensor in the heap (dispose it). */
function scalar(backend: WasmBackend, value: number): tf.TensorInfo {
  return backend.makeOutput([], 'float32', undefined, Float32Array.of(value));
}

/** Run `build` with a list for its intermediate tensors, which are disposed afterwards. */
function composed(backend: WasmBackend, build: (keep: (t: tf.TensorInfo) => tf.TensorInfo) => tf.TensorInfo): tf.TensorInfo {
  const temporaries: tf.TensorInfo[] = [];
  try {
    return build((t) => (temporaries.push(t), t));
  } finally {
    for (const t of temporaries) backend.disposeData(t.dataId);
  }
}

/**
 * `LeakyRelu` for float32 and α in [0, 1] as relu(x) + α·(x − relu(x)), four of wasm's SIMD
 * kernels: its own `LeakyRelu` takes ~6 ms for [128, 14, 14, 32] (a branch per element), these
 * ~0.8 ms. The same formula exactly: x > 0 gives x + α·0, x ≤ 0 gives 0 + α·x.
 */
function fasterLeakyRelu(): void {
  replaceWasmKernel('LeakyRelu', (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const alpha = Number((args.attrs as { alpha: number }).alpha);
    if (x.dtype !== 'float32' || !(alpha >= 0 && alpha <= 1)) return original(args);
    const backend = args.backend as WasmBackend;
    return composed(backend, (keep) => {
      const positive = keep(callKernel('Relu', backend, { x }));
      const negative = keep(callKernel('Sub', backend, { a: x, b: positive }));
      const scaled = keep(callKernel('Multiply', backend, { a: negative, b: keep(scalar(backend, alpha)) }));
      return callKernel('Add', backend, { a: positive, b: scaled });
    });
  });
}

/** `Identity` shares its input's data, as the cpu backend's does (wasm's own copies it). */
function sharedIdentity(): void {
  replaceWasmKernel('Identity', (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    (args.backend as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  });
}

/**
 * `Tanh` as 2·sigmoid(2x) − 1 for float32: wasm's own takes ~1.2 ms for [64, 28, 28, 1] (the
 * generator's output), its SIMD sigmoid ~0.1 ms. The error is ~1e-7 absolute.
 */
function fasterTanh(): void {
  replaceWasmKernel('Tanh', (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32') return original(args);
    const backend = args.backend as WasmBackend;
    return composed(backend, (keep) => {
      const two = keep(scalar(backend, 2));
      const s = keep(callKernel('Sigmoid', backend, { x: keep(callKernel('Multiply', backend, { a: x, b: two })) }));
      return callKernel('Sub', backend, { a: keep(callKernel('Multiply', backend, { a: s, b: two })), b: keep(scalar(backend, 1)) });
    });
  });
}

/**
 * `FusedBatchNorm` with per-channel parameters ([C], the last axis of x) as x·k + (offset − mean·k),
 * k = scale / sqrt(variance + ε): two broadcast SIMD kernels over x (~0.8 ms for [64, 14, 14, 32])
 * instead of wasm's own loop (~2.2 ms). Other shapes and dtypes: the original kernel.
 */
function fasterBatchNorm(): void {
  replaceWasmKernel('FusedBatchNorm', (args, original) => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const channels = x?.shape.at(-1);
    const perChannel = (t: tf.TensorInfo | undefined) => t === undefined || t === null || (t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === channels);
    if (!x || !mean || !variance || x.dtype !== 'float32' || x.shape.length < 2 || ![mean, variance, offset, scale].every(perChannel)) return original(args);
    const backend = args.backend as WasmBackend;
    const epsilon = Number((args.attrs as { varianceEpsilon: number }).varianceEpsilon);
    return composed(backend, (keep) => {
      let k = keep(callKernel('Rsqrt', backend, { x: keep(callKernel('Add', backend, { a: variance, b: keep(scalar(backend, epsilon)) })) }));
      if (scale) k = keep(callKernel('Multiply', backend, { a: k, b: scale }));
      const meanK = keep(callKernel('Multiply', backend, { a: mean, b: k }));
      const shift = keep(offset ? callKernel('Sub', backend, { a: offset, b: meanK }) : callKernel('Neg', backend, { x: meanK }));
      return callKernel('Add', backend, { a: keep(callKernel('Multiply', backend, { a: x, b: k })), b: shift });
    });
  });
}

/**
 * The reduction axes of a `Sum`/`Mean` when they are the leading ones and at least one axis is kept
 * (bias and batch-norm gradients of NHWC tensors: sums over batch, height and width): their count.
 * 0 for any other reduction.
 */
function leadingAxes(x: tf.TensorInfo, axis: number | number[]): number {
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  return axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i) ? axes.length : 0;
}

/** A row of `length` copies of `value` (the left operand of a column sum), kept for the next call. */
let weightRow = new Float32Array(0);
function constantRow(length: number, value: number): Float32Array {
  if (weightRow.length !== length || weightRow[0] !== Math.fround(value)) weightRow = new Float32Array(length).fill(value);
  return weightRow;
}

/**
 * `Sum` and `Mean` over the leading axes as one product w·X on the host engine, with w a row of
 * ones (or of 1/rows): wasm's own kernels transpose the tensor first (~1.8 ms for
 * [128, 14, 14, 32], against ~0.2 ms). Without the host engine, and for other reductions, the
 * original kernels: XNNPACK's matrix product caches its operator by the right operand's tensor id,
 * and X's id outlives this call, reshaped.
 */
function fasterColumnReductions(): void {
  for (const name of ['Sum', 'Mean'] as const) {
    replaceWasmKernel(name, (args, original) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
      const engine = hostGemm();
      const lead = engine && x.dtype === 'float32' && x.shape.every((d) => d > 0) ? leadingAxes(x, axis) : 0;
      if (!engine || lead === 0) return original(args);
      const backend = args.backend as WasmBackend;
      const kept = x.shape.slice(lead);
      const rows = tf.util.sizeFromShape(x.shape.slice(0, lead));
      const cols = tf.util.sizeFromShape(kept);
      const out = backend.makeOutput(keepDims ? [...new Array<number>(lead).fill(1), ...kept] : kept, 'float32');
      // Views after the allocation: the heap may have grown.
      const heap = backend.wasm.HEAPF32;
      try {
        const w = constantRow(rows, name === 'Mean' ? 1 / rows : 1);
        productIntoHeap(engine, heap, heapIndex(backend, out), w, operand(heap, heapIndex(backend, x), rows * cols, 1), null, 1, rows, cols, false, false);
        return out;
      } catch (err) {
        backend.disposeData(out.dataId);
        throw err;
      }
    });
  }
}

/** The activations `_FusedMatMul` takes, as the kernels that apply them alone. */
const ACTIVATION_KERNELS: Readonly<Record<string, string>> = { relu: 'Relu', relu6: 'Relu6', elu: 'Elu', sigmoid: 'Sigmoid', leakyrelu: 'LeakyRelu', prelu: 'Prelu' };

/** product + bias, then the activation, each by its own kernel (for batched products). */
function unfusedMatMul(backend: WasmBackend, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap, temporaries: tf.TensorInfo[]): tf.TensorInfo {
  const product = callKernel('BatchMatMul', backend, { a: inputs.a, b: inputs.b }, { transposeA: false, transposeB: false });
  temporaries.push(product);
  const biased = callKernel('Add', backend, { a: product, b: inputs.bias });
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  if (activation === 'linear') return biased;
  temporaries.push(biased);
  const kernel = ACTIVATION_KERNELS[activation];
  if (!kernel) throw new Error(`_FusedMatMul (wasm, wganx): activation ${activation} is not supported`);
  if (activation === 'prelu') return callKernel(kernel, backend, { x: biased, alpha: inputs.preluActivationWeights });
  return callKernel(kernel, backend, { x: biased }, activation === 'leakyrelu' ? { alpha: attrs.leakyreluAlpha as number } : {});
}

const elements = (t: tf.TensorInfo) => t.shape.reduce((x, y) => x * y, 1);
/** Matrices in a batched operand (the product of its leading axes). */
const batchOf = (t: tf.TensorInfo) => t.shape.slice(0, -2).reduce((x, y) => x * y, 1);

/**
 * Whether op(a)·op(b) costs fewer copied floats as (op(b)ᵀ·op(a)ᵀ)ᵀ: e.g. a layer's input gradient
 * dY·Wᵀ (64×512 · (512×512)ᵀ) then transposes two 64×512 matrices instead of the 512×512 weights,
 * about 1.8× faster (bench/RESULTS.md). Float32 only (the transposes go through float registers).
 */
function swapIsCheaper(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): boolean {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || (!transposeA && !transposeB)) return false;
  const batch = Math.max(batchOf(a), batchOf(b));
  const m = transposeA ? a.shape.at(-1)! : a.shape.at(-2)!;
  const n = transposeB ? b.shape.at(-2)! : b.shape.at(-1)!;
  const direct = (transposeA ? elements(a) : 0) + (transposeB ? elements(b) : 0);
  const swapped = (transposeA ? 0 : elements(a)) + (transposeB ? 0 : elements(b)) + batch * m * n;
  return swapped < direct;
}

function withExplicitTranspose(kernelName: string): void {
  const original = tf.getKernel(kernelName, 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const backend = args.backend as WasmBackend;
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
      const plainAttrs = { ...args.attrs, transposeA: false, transposeB: false };
      try {
        if (kernelName === 'BatchMatMul' && swapIsCheaper(a, b, !!attrs.transposeA, !!attrs.transposeB)) {
          // C = op(a)·op(b) as (op(b)ᵀ·op(a)ᵀ)ᵀ: transposes the small operand and the product instead of the big one.
          const left = attrs.transposeB ? b : flip(b);
          const right = attrs.transposeA ? a : flip(a);
          const product = original.kernelFunc({ ...args, inputs: { a: left, b: right }, attrs: plainAttrs }) as tf.TensorInfo;
          temporaries.push(product);
          return transposeLastTwo(backend, product);
        }
        const inputs = { ...args.inputs, a: attrs.transposeA ? flip(a) : a, b: attrs.transposeB ? flip(b) : b };
        if (kernelName === '_FusedMatMul' && args.inputs.bias && batchOf(a) * batchOf(b) > 1) {
          return unfusedMatMul(backend, inputs, plainAttrs, temporaries);
        }
        return original.kernelFunc({ ...args, inputs, attrs: plainAttrs });
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
  fasterTranspose(); // before the matmul patches, which call it
  fasterTile();
  fasterGather();
  sharedIdentity();
  fasterLeakyRelu();
  fasterTanh();
  fasterBatchNorm();
  fasterColumnReductions();
  withExplicitTranspose('BatchMatMul');
  withExplicitTranspose('_FusedMatMul');
  registerWasmConvKernels();
  registerWasmAdam();
}
