/**
 * `Conv2DBackpropFilter`, which tfjs-backend-wasm 4.22 lacks: on a host engine with direct
 * convolutions, its filter gradient (onnxruntime: NCHWc convolutions of x by dy,
 * src/runtime/node-gemm.ts); else dW = Σ over blocks of whole images of colsᵀ · dy
 * (./conv-geometry.ts), each block's product on the host engine (patches in a private buffer) or
 * XNNPACK (patches transposed in the heap). Either way the float32 partial sums are short and
 * added in float64.
 */
import * as tf from '@tensorflow/tfjs';
import { callKernel as call, heapIndex as at, type KernelArgs, type WasmBackend } from '../wasm-heap.js';
import { hostGemm, intoHeap, operand, PATCHES, scratch } from '../wasm-host-gemm.js';
import { geometry, im2col, im2colTransposed, type ConvAttrs } from './conv-geometry.js';
import type { WasmKernelConfig } from './kernel.js';

/**
 * Terms per float32 partial sum of the filter gradient, at most (whole images; see
 * {@link filterGradBlock}): MLAS's products stay within 1e-4 of float64 on blocks of 1,024 terms,
 * XNNPACK's wasm products (no fused multiply-add) need blocks of 256. The engine's direct
 * convolutions (onnxruntime's NCHWc kernels) sum in register chains, where its products split
 * their blocks further: chains of 256 products there are as close to float64 as the products'
 * 1,024-term blocks (bench/RESULTS.md, 2026-12-07).
 */
const FILTER_GRAD_BLOCK = { host: 1024, xnnpack: 256, direct: 256 } as const;

/**
 * Positions per partial product of dW: the most whole images (a divisor of the batch) whose
 * positions fit in `terms`, one image at least. dW's sums over B·OH·OW positions (12,544 in a
 * DCGAN's first layer at batch 64) then run as float32 sums of a few hundred terms, whose partials
 * are added in float64: one long float32 sum is off by ~1.5e-4 of its size there (against float64).
 */
function filterGradBlock(batch: number, positionsPerImage: number, terms: number): number {
  let images = 1;
  for (let d = 1; d <= batch; d++) if (batch % d === 0 && d * positionsPerImage <= terms) images = d;
  return images * positionsPerImage;
}

/** dW = Σ over position blocks of colsᵀ · dy (see {@link filterGradBlock}). */
function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  const g = geometry(x.shape, attrs.filterShape, attrs, 'Conv2DBackpropFilter');
  const n = g.batch * g.oh * g.ow;
  const k = g.kh * g.kw * g.ci;
  const gemm = hostGemm();
  const blockN = filterGradBlock(g.batch, g.oh * g.ow, gemm ? FILTER_GRAD_BLOCK.host : FILTER_GRAD_BLOCK.xnnpack);
  const blocks = n / blockN;
  if (gemm?.conv2dFilter) {
    // The engine's own convolutions (onnxruntime's NCHWc kernels), written into the output.
    const out = backend.makeOutput([...attrs.filterShape], 'float32');
    try {
      const heap = backend.wasm.HEAPF32;
      const spec = { strides: [g.sh, g.sw] as const, pads: [g.padTop, g.padLeft, g.padBottom, g.padRight] as const };
      const done = intoHeap(heap, at(backend, out), k * g.co, (into) =>
        gemm.conv2dFilter!(operand(heap, at(backend, x), g.batch * g.h * g.w * g.ci, 0), x.shape, operand(heap, at(backend, dy), n * g.co, 1), dy.shape, [g.kh, g.kw], spec, FILTER_GRAD_BLOCK.direct, into),
      );
      if (done) return out;
    } catch (err) {
      backend.disposeData(out.dataId);
      throw err;
    }
    backend.disposeData(out.dataId);
  }
  if (gemm) {
    // Patches in a private buffer, each block's product on the host engine, the partials added in float64.
    const heap = backend.wasm.HEAPF32;
    const xs = operand(heap, at(backend, x), g.batch * g.h * g.w * g.ci, 0);
    const sum = new Float64Array(k * g.co);
    for (let j = 0; j < blocks; j++) {
      const cols = scratch(PATCHES, blockN * k);
      im2col(xs, 0, cols, g, j * blockN, blockN);
      const dyBlock = operand(heap, at(backend, dy) + j * blockN * g.co, blockN * g.co, 1);
      const partial = gemm.run(cols, dyBlock, null, k, blockN, g.co, true, false);
      for (let i = 0; i < partial.length; i++) sum[i] += partial[i];
    }
    return backend.makeOutput([...attrs.filterShape], 'float32', undefined, Float32Array.from(sum));
  }
  // On XNNPACK, block by block (its batched products run a slow loop), the partials added in float64.
  const sum = new Float64Array(k * g.co);
  const images = blockN / (g.oh * g.ow);
  for (let j = 0; j < blocks; j++) {
    const temporaries: tf.TensorInfo[] = [];
    try {
      const colsT = backend.makeOutput([1, k, blockN], 'float32');
      temporaries.push(colsT);
      const dyBlock = backend.makeOutput([1, blockN, g.co], 'float32');
      temporaries.push(dyBlock);
      const heap = backend.wasm.HEAPF32;
      im2colTransposed(heap, at(backend, x) + j * images * g.h * g.w * g.ci, at(backend, colsT), { ...g, batch: images });
      heap.copyWithin(at(backend, dyBlock), at(backend, dy) + j * blockN * g.co, at(backend, dy) + (j + 1) * blockN * g.co);
      const partial = call('BatchMatMul', backend, { a: colsT, b: dyBlock }, { transposeA: false, transposeB: false });
      temporaries.push(partial);
      const values = backend.wasm.HEAPF32.subarray(at(backend, partial), at(backend, partial) + sum.length);
      for (let i = 0; i < sum.length; i++) sum[i] += values[i];
    } finally {
      for (const t of temporaries) backend.disposeData(t.dataId);
    }
  }
  return backend.makeOutput([...attrs.filterShape], 'float32', undefined, Float32Array.from(sum));
}

export const conv2DBackpropFilterConfig: WasmKernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  own: 'replace',
  kernelFunc: (args) => conv2DBackpropFilter(args as KernelArgs),
};
