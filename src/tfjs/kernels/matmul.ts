/**
 * What `BatchMatMul` (./batch-mat-mul.ts) and `_FusedMatMul` (./fused-mat-mul.ts) share.
 *
 * With a host engine (../wasm-host-gemm.ts: onnxruntime-node's MLAS in `wganx train`), a product it
 * can take (float32, batches equal or broadcast from one matrix, fused activations linear / relu /
 * leakyrelu, a bias of one row) runs there, its operands read in place in the wasm heap.
 *
 * Otherwise on XNNPACK: wasm's products reach it only when neither operand is transposed; with
 * `transposeA`/`transposeB` (every matmul of a backward pass) they fall back to a naive loop,
 * several times slower (bench/RESULTS.md). The operand is transposed explicitly (through
 * `Transpose`, ../kernels/transpose.ts) and the fast path runs, or, when that copies fewer floats,
 * the transposed product is computed from the untransposed operands. wasm's `_FusedMatMul` also
 * adds the bias wrongly when the product is batched (batch > 1; tfjs-backend-wasm 4.22, found by
 * test/tfjs/wasm-kernels.test.ts): such products run unfused (product, then `Add`, then the
 * activation's own kernel).
 */
import * as tf from '@tensorflow/tfjs';
import { callKernel, heapIndex, transposeLastTwo, type WasmBackend } from '../wasm-heap.js';
import { HOST_ACTIVATIONS, hostGemm, operand, productIntoHeap, type OperandSlot } from '../wasm-host-gemm.js';
import type { PatchFunc } from './kernel.js';

const elements = (dims: readonly number[]) => dims.reduce((x, y) => x * y, 1);
/** Matrices in a batched operand (the product of its leading axes). */
const batchOf = (t: tf.TensorInfo) => elements(t.shape.slice(0, -2));

/**
 * op(a)·op(b) on the host engine, or null to leave it to XNNPACK. Batches: equal, or one side a
 * single matrix (broadcast), as tfjs's BatchMatMul allows.
 */
function hostProduct(args: Parameters<tf.KernelFunc>[0], fused: boolean): tf.TensorInfo | null {
  const engine = hostGemm();
  if (!engine) return null;
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean; activation?: string; leakyreluAlpha?: number };
  if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const transA = !!attrs.transposeA;
  const transB = !!attrs.transposeB;
  const m = transA ? a.shape.at(-1)! : a.shape.at(-2)!;
  const k = transA ? a.shape.at(-2)! : a.shape.at(-1)!;
  const n = transB ? b.shape.at(-2)! : b.shape.at(-1)!;
  if ((transB ? b.shape.at(-1)! : b.shape.at(-2)!) !== k) return null;
  const activation = fused ? HOST_ACTIVATIONS[attrs.activation ?? 'linear'] : HOST_ACTIVATIONS.linear;
  if (!activation || preluActivationWeights) return null;
  if (bias && (bias.dtype !== 'float32' || bias.shape.at(-1) !== n || elements(bias.shape) !== n)) return null;
  let outer: number[];
  try {
    outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    return null; // the XNNPACK path reports the mismatch in its own words
  }
  const batch = elements(outer);
  const batchA = elements(a.shape.slice(0, -2));
  const batchB = elements(b.shape.slice(0, -2));
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null;

  const backend = args.backend as unknown as WasmBackend;
  const out = backend.makeOutput([...outer, m, n], 'float32');
  // Views after the allocation: the heap may have grown.
  const heap = backend.wasm.HEAPF32;
  const ai = heapIndex(backend, a);
  const bi = heapIndex(backend, b);
  const oi = heapIndex(backend, out);
  const view = (slot: OperandSlot, from: number, length: number) => operand(heap, from, length, slot);
  const biasView = bias ? view(2, heapIndex(backend, bias), n) : null;
  const alpha = attrs.leakyreluAlpha ?? 0.2;
  const product = (a0: number, b0: number, rows: number, ta: boolean, at: number) =>
    productIntoHeap(engine, heap, at, view(0, a0, rows * k), view(1, b0, k * n), biasView, rows, k, n, ta, transB, (y) => activation(y, alpha));
  try {
    if (batchA === batch && batchB === 1 && !transA) {
      // Every matrix of a times one b: a single product of [batch·m, k].
      product(ai, bi, batch * m, false, oi);
      return out;
    }
    for (let i = 0; i < batch; i++) product(ai + (batchA === 1 ? 0 : i * m * k), bi + (batchB === 1 ? 0 : i * k * n), m, transA, oi + i * m * n);
    return out;
  } catch (err) {
    backend.disposeData(out.dataId);
    throw err;
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

/**
 * Whether op(a)·op(b) costs fewer copied floats as (op(b)ᵀ·op(a)ᵀ)ᵀ: e.g. a layer's input gradient
 * dY·Wᵀ (64×512 · (512×512)ᵀ) then transposes two 64×512 matrices instead of the 512×512 weights
 * (bench/RESULTS.md). Float32 only (the transposes go through float registers).
 */
function swapIsCheaper(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): boolean {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || (!transposeA && !transposeB)) return false;
  const batch = Math.max(batchOf(a), batchOf(b));
  const m = transposeA ? a.shape.at(-1)! : a.shape.at(-2)!;
  const n = transposeB ? b.shape.at(-2)! : b.shape.at(-1)!;
  const direct = (transposeA ? elements(a.shape) : 0) + (transposeB ? elements(b.shape) : 0);
  const swapped = (transposeA ? 0 : elements(a.shape)) + (transposeB ? 0 : elements(b.shape)) + batch * m * n;
  return swapped < direct;
}

/** The product on XNNPACK with its operands transposed explicitly (see the module header). */
function withExplicitTranspose(kernelName: 'BatchMatMul' | '_FusedMatMul', args: Parameters<tf.KernelFunc>[0], original: tf.KernelFunc): ReturnType<tf.KernelFunc> {
  const backend = args.backend as unknown as WasmBackend;
  const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
  const temporaries: tf.TensorInfo[] = [];
  const flip = (t: tf.TensorInfo): tf.TensorInfo => {
    const r = t.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    const out = callKernel('Transpose', backend, { x: t }, { perm });
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
      const product = original({ ...args, inputs: { a: left, b: right }, attrs: plainAttrs }) as tf.TensorInfo;
      temporaries.push(product);
      return transposeLastTwo(backend, product);
    }
    const inputs = { ...args.inputs, a: attrs.transposeA ? flip(a) : a, b: attrs.transposeB ? flip(b) : b };
    if (kernelName === '_FusedMatMul' && args.inputs.bias && batchOf(a) * batchOf(b) > 1) {
      return unfusedMatMul(backend, inputs, plainAttrs, temporaries);
    }
    return original({ ...args, inputs, attrs: plainAttrs });
  } finally {
    for (const t of temporaries) backend.disposeData(t.dataId);
  }
}

/** The kernel of `BatchMatMul` or `_FusedMatMul`: the host engine when it takes the product, else XNNPACK. */
export function matMulKernel(kernelName: 'BatchMatMul' | '_FusedMatMul'): PatchFunc {
  return (args, original) => hostProduct(args, kernelName === '_FusedMatMul') ?? withExplicitTranspose(kernelName, args, original!);
}
