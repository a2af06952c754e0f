/**
 * The two backward kernels of a 2-D convolution for the tfjs `wasm` backend, as matrix products on
 * the backend's XNNPACK path (im2col / col2im), registered in place of what tfjs-backend-wasm 4.22
 * offers: no `Conv2DBackpropFilter` at all (src/tfjs/conv-filter-grad.ts's typed-array loop stood
 * in for it), and a `Conv2DBackpropInput` that runs a plain loop. Both dominated a DCGAN WGAN-GP
 * step (the penalty's double back-propagation calls each of them many times); see
 * bench/RESULTS.md for the before and after.
 *
 * For NHWC `x` [B, H, W, Ci], filter [KH, KW, Ci, Co] and `dy` [B, OH, OW, Co], with
 * N = B·OH·OW and K = KH·KW·Ci, and `cols` the [N, K] matrix of image patches (im2col):
 *   dW = colsᵀ · dy             ([K, N] · [N, Co] → [K, Co] = [KH, KW, Ci, Co]; colsᵀ is gathered
 *                                as such, so that XNNPACK packs the small dy, not the patches)
 *   dx = col2im(dy · Wᵀ)        ([N, Co] · [Co, K] → [N, K], each patch added back where it came from)
 *
 * Where the stride tiles the input and there are 8 or more input channels (a DCGAN's 4×4, stride 2
 * layers after the first), dx is computed by phases instead: the rows and columns of dx with the
 * same remainder modulo the stride take dy through the same few filter taps, so each of the sh·sw
 * phases is a small stride-1 convolution of dy (XNNPACK, on every thread), interleaved into dx.
 * Same products, no [N, K] intermediate and no scatter: the input gradient of a 32-channel DCGAN
 * layer went from 14.7 to 9.1 ms on one thread (7.9 to 6.0 ms on two).
 *
 * The patches are gathered and scattered in the wasm heap itself (no copies through JavaScript
 * arrays). Every temporary tensor is released before the kernel returns.
 *
 * @example
 *   registerWasmConvKernels(); // after the wasm backend package is imported, before training
 */
import * as tf from '@tensorflow/tfjs';
import { HOST_ACTIVATIONS, hostGemm, operand, PATCHES, scratch } from './wasm-host-gemm.js';
import { callKernel as call, heapIndex as at, reshape, transposeInHeap, type KernelArgs, type WasmBackend } from './wasm-heap.js';

interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

interface Geometry {
  batch: number;
  h: number;
  w: number;
  ci: number;
  oh: number;
  ow: number;
  co: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number;
}

function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs, kernelName: string): Geometry {
  if (attrs.dataFormat === 'NCHW') throw new Error(`${kernelName} (wasm, wganx): only NHWC is supported`);
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  return {
    batch: info.batchSize, h: info.inHeight, w: info.inWidth, ci: info.inChannels, oh: info.outHeight, ow: info.outWidth, co: info.outChannels,
    kh: info.filterHeight, kw: info.filterWidth, sh: info.strideHeight, sw: info.strideWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left,
  };
}

/** Positions gathered together by {@link im2colTransposed}: a block's patch rows stay in cache. */
const POSITION_BLOCK = 16;

/**
 * The transposed patch matrix colsT[(ky·KW + kx)·Ci + c, n] = x[b, oy·sh + ky − padTop, ox·sw + kx − padLeft, c]
 * (0 outside the image), for n = (b·OH + oy)·OW + ox: the image patch of every output position,
 * written row by row of colsT. The positions come in blocks of `blockN` (a multiple of OH·OW
 * dividing B·OH·OW): block j is its own [K, blockN] matrix at colsT + j·K·blockN.
 */
function im2colTransposed(heap: Float32Array, x: number, out: Float32Array, colsT: number, g: Geometry, blockN: number): void {
  const { batch, h, w, ci, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
  const n = batch * oh * ow;
  const k = kh * kw * ci;
  for (let n0 = 0; n0 < n; n0 += POSITION_BLOCK) {
    const n1 = Math.min(n, n0 + POSITION_BLOCK);
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const tap = (ky * kw + kx) * ci * blockN;
        for (let p = n0; p < n1; p++) {
          const ox = p % ow;
          const rest = (p - ox) / ow;
          const oy = rest % oh;
          const b = (rest - oy) / oh;
          const iy = oy * sh + ky - padTop;
          const ix = ox * sw + kx - padLeft;
          const q = p % blockN;
          let dst = colsT + (p - q) * k + tap + q;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
            for (let c = 0; c < ci; c++, dst += blockN) out[dst] = 0;
            continue;
          }
          const src = x + ((b * h + iy) * w + ix) * ci;
          for (let c = 0; c < ci; c++, dst += blockN) out[dst] = heap[src + c];
        }
      }
    }
  }
}

/**
 * Terms per float32 partial sum of the filter gradient, at most (whole images; see
 * {@link filterGradBlock}): MLAS's products stay within 1e-4 of float64 on blocks of 1,024 terms,
 * XNNPACK's wasm products (no fused multiply-add) need blocks of 256.
 */
export const FILTER_GRAD_BLOCK = { host: 1024, xnnpack: 256 } as const;

/**
 * Positions per partial product of dW: the most whole images (a divisor of the batch) whose
 * positions fit in `terms`, one image at least. dW's sums over B·OH·OW positions (12,544 in a
 * DCGAN's first layer at batch 64) then run as float32 sums of a few hundred terms, whose partials
 * are added in float64: one long float32 sum is off by ~1.5e-4 of its size there (against float64).
 */
export function filterGradBlock(batch: number, positionsPerImage: number, terms: number): number {
  let images = 1;
  for (let d = 1; d <= batch; d++) if (batch % d === 0 && d * positionsPerImage <= terms) images = d;
  return images * positionsPerImage;
}

/**
 * The patch matrix cols[n, (ky·KW + kx)·Ci + c] (the rows of {@link im2colTransposed}'s columns),
 * into `out` from 0: each position's Ci floats of a tap are contiguous in x.
 */
function im2col(heap: Float32Array, x: number, out: Float32Array, g: Geometry): void {
  const { batch, h, w, ci, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
  let dst = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky - padTop;
          for (let kx = 0; kx < kw; kx++, dst += ci) {
            const ix = ox * sw + kx - padLeft;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) out.fill(0, dst, dst + ci);
            else {
              const src = x + ((b * h + iy) * w + ix) * ci;
              for (let c = 0; c < ci; c++) out[dst + c] = heap[src + c];
            }
          }
        }
      }
    }
  }
}

/** dx[b, iy, ix, c] += cols[n, (ky·KW + kx)·Ci + c]: each patch added back where im2col took it from. */
function col2im(colsArray: Float32Array, cols: number, heap: Float32Array, dx: number, g: Geometry): void {
  const { batch, h, w, ci, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
  const k = kh * kw * ci;
  heap.fill(0, dx, dx + batch * h * w * ci);
  let row = cols;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, row += k) {
        let src = row;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky - padTop;
          for (let kx = 0; kx < kw; kx++, src += ci) {
            const ix = ox * sw + kx - padLeft;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const dst = dx + ((b * h + iy) * w + ix) * ci;
            for (let c = 0; c < ci; c++) heap[dst + c] += colsArray[src + c];
          }
        }
      }
    }
  }
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
  if (gemm) {
    // Patches in a private buffer, each block's product on the host engine, the partials added in float64.
    const heap = backend.wasm.HEAPF32;
    const colsT = scratch(PATCHES, k * n);
    im2colTransposed(heap, at(backend, x), colsT, 0, g, blockN);
    const sum = new Float64Array(k * g.co);
    for (let j = 0; j < blocks; j++) {
      const dyBlock = operand(heap, at(backend, dy) + j * blockN * g.co, blockN * g.co, 1);
      const partial = gemm.run(colsT.subarray(j * k * blockN, (j + 1) * k * blockN), dyBlock, null, k, blockN, g.co, false, false);
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
      im2colTransposed(heap, at(backend, x) + j * images * g.h * g.w * g.ci, heap, at(backend, colsT), { ...g, batch: images }, blockN);
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

/**
 * One phase of one spatial axis of a strided transposed convolution: output rows iy = s·m + r take
 * dy rows m − d for d in [dmin, dmax] (filter tap ky = s·d + r + pad), a stride-1 correlation of
 * dy over `taps` = dmax − dmin + 1 rows with `before` = dmax rows of zeros ahead of dy and `after`
 * behind it (ty = dmax − d).
 */
export interface AxisPhase {
  r: number;
  taps: number;
  dmax: number;
  before: number;
  after: number;
}

/**
 * The `s` phases of an axis, or null when they do not tile it: the input size is not a multiple of
 * the stride, a phase has no taps, or a phase would need dy cropped rather than padded.
 */
export function axisPhases(k: number, s: number, pad: number, inSize: number, outSize: number): AxisPhase[] | null {
  if (inSize % s !== 0) return null;
  const rows = inSize / s;
  const phases: AxisPhase[] = [];
  for (let r = 0; r < s; r++) {
    const dmin = Math.ceil(-(r + pad) / s);
    const dmax = Math.floor((k - 1 - r - pad) / s);
    const after = rows - 1 - dmin - (outSize - 1);
    if (dmax < dmin || dmax < 0 || after < 0) return null;
    phases.push({ r, taps: dmax - dmin + 1, dmax, before: dmax, after });
  }
  return phases;
}

/**
 * The phase's filter: F[ty, tx, co, ci] = W[s·(dmax_y − ty) + ry + padTop, s·(dmax_x − tx) + rx + padLeft, ci, co],
 * each tap's [Ci, Co] block of W transposed.
 */
function phaseFilter(heap: Float32Array, w: number, f: number, g: Geometry, py: AxisPhase, px: AxisPhase): void {
  const { kw, ci, co, sh, sw, padTop, padLeft } = g;
  let dst = f;
  for (let ty = 0; ty < py.taps; ty++) {
    const ky = sh * (py.dmax - ty) + py.r + padTop;
    for (let tx = 0; tx < px.taps; tx++, dst += ci * co) {
      const kx = sw * (px.dmax - tx) + px.r + padLeft;
      transposeInHeap(heap, w + (ky * kw + kx) * ci * co, dst, 1, ci, co);
    }
  }
}

/** dx[b, s·m + ry, s·n + rx, :] = phase[b, m, n, :]: one phase's rows interleaved into dx. */
function interleavePhase(heap: Float32Array, phase: number, dx: number, g: Geometry, ry: number, rx: number): void {
  const { batch, h, w, ci, sh, sw } = g;
  const rows = h / sh;
  const cols = w / sw;
  let src = phase;
  for (let b = 0; b < batch; b++) {
    for (let m = 0; m < rows; m++) {
      let dst = dx + ((b * h + sh * m + ry) * w + rx) * ci;
      for (let n = 0; n < cols; n++, src += ci, dst += sw * ci) {
        for (let c = 0; c < ci; c++) heap[dst + c] = heap[src + c];
      }
    }
  }
}

/** Input channels below which {@link backpropInputByPhases} leaves dx to col2im. */
const MIN_PHASE_CHANNELS = 8;

/**
 * dx as sh·sw stride-1 convolutions of dy on XNNPACK, one per output phase, each with only the
 * filter taps that reach it, interleaved into dx: the products' work, no col2im scatter, and
 * convolutions run on every thread. null when the geometry does not split into phases.
 */
function backpropInputByPhases(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, g: Geometry): tf.TensorInfo | null {
  // Few input channels make each phase a thin convolution: there one product and col2im is faster
  // (the critic's first layer, Ci = 1: 2.6 ms a call by phases, 1.9 ms by col2im at batch 64).
  if (g.ci < MIN_PHASE_CHANNELS) return null;
  const rowsY = axisPhases(g.kh, g.sh, g.padTop, g.h, g.oh);
  const rowsX = axisPhases(g.kw, g.sw, g.padLeft, g.w, g.ow);
  if (!rowsY || !rowsX) return null;
  const dx = backend.makeOutput([g.batch, g.h, g.w, g.ci], 'float32');
  try {
    forEachPhase(backend, dy, filter, dx, g, rowsY, rowsX);
  } catch (err) {
    backend.disposeData(dx.dataId);
    throw err;
  }
  return dx;
}

/** Each phase's filter, convolution and interleave into dx, in turn (temporaries freed as it goes). */
function forEachPhase(backend: WasmBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, dx: tf.TensorInfo, g: Geometry, rowsY: AxisPhase[], rowsX: AxisPhase[]): void {
  for (const py of rowsY) {
    for (const px of rowsX) {
      const f = backend.makeOutput([py.taps, px.taps, g.co, g.ci], 'float32');
      let phase: tf.TensorInfo | null = null;
      try {
        phaseFilter(backend.wasm.HEAPF32, at(backend, filter), at(backend, f), g, py, px);
        const pad = [[0, 0], [py.before, py.after], [px.before, px.after], [0, 0]];
        phase = call('Conv2D', backend, { x: dy, filter: f }, { strides: 1, pad, dataFormat: 'NHWC', dilations: 1 } as unknown as tf.NamedAttrMap);
        interleavePhase(backend.wasm.HEAPF32, at(backend, phase), at(backend, dx), g, py.r, px.r);
      } finally {
        backend.disposeData(f.dataId);
        if (phase) backend.disposeData(phase.dataId);
      }
    }
  }
}

/** dx: by phases where the geometry allows, else col2im(dy · Wᵀ). */
function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  const g = geometry(attrs.inputShape, filter.shape, attrs, 'Conv2DBackpropInput');
  const n = g.batch * g.oh * g.ow;
  const k = g.kh * g.kw * g.ci;
  const gemm = hostGemm();
  if (gemm) {
    // cols = dy · Wᵀ on the host engine (a private array), scattered into dx.
    const heap = backend.wasm.HEAPF32;
    const cols = gemm.run(operand(heap, at(backend, dy), n * g.co, 0), operand(heap, at(backend, filter), k * g.co, 1), null, n, g.co, k, false, true);
    const dx = backend.makeOutput([...attrs.inputShape], 'float32');
    col2im(cols, 0, backend.wasm.HEAPF32, at(backend, dx), g);
    return dx;
  }
  const byPhases = backpropInputByPhases(backend, dy, filter, g);
  if (byPhases) return byPhases;
  const temporaries: tf.TensorInfo[] = [];
  try {
    const dy3 = reshape(backend, dy, [1, n, g.co]);
    temporaries.push(dy3);
    const w3 = reshape(backend, filter, [1, k, g.co]);
    temporaries.push(w3);
    const cols = call('BatchMatMul', backend, { a: dy3, b: w3 }, { transposeA: false, transposeB: true });
    temporaries.push(cols);
    const dx = backend.makeOutput([...attrs.inputShape], 'float32');
    const heap = backend.wasm.HEAPF32;
    col2im(heap, at(backend, cols), heap, at(backend, dx), g);
    return dx;
  } finally {
    for (const t of temporaries) backend.disposeData(t.dataId);
  }
}

/**
 * A forward convolution (`Conv2D`, `FusedConv2D`) on the host engine: patches (im2col) in a private
 * buffer times the filter [K, Co], plus the bias row, then the activation; the product is the NHWC
 * output itself. null for what the engine path does not take (dilations, NCHW, other dtypes,
 * activations other than linear / relu / leakyrelu, a bias that is not one row per channel).
 */
function convOnHost(args: KernelArgs): tf.TensorInfo | null {
  const gemm = hostGemm();
  if (!gemm) return null;
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const attrs = args.attrs as unknown as ConvAttrs & { dilations?: number | [number, number]; activation?: string; leakyreluAlpha?: number };
  const activation = HOST_ACTIVATIONS[attrs.activation ?? 'linear'];
  const dilated = [attrs.dilations ?? 1].flat().some((d) => d !== 1);
  if (!x || !filter || x.dtype !== 'float32' || filter.dtype !== 'float32' || attrs.dataFormat === 'NCHW' || dilated || !activation || preluActivationWeights) return null;
  const co = filter.shape[3];
  if (bias && (bias.dtype !== 'float32' || bias.shape.reduce((a, b) => a * b, 1) !== co)) return null;
  const g = geometry(x.shape, filter.shape, attrs, 'Conv2D');
  const n = g.batch * g.oh * g.ow;
  const k = g.kh * g.kw * g.ci;
  const be = wasmOf(args);
  const heap = be.wasm.HEAPF32;
  const cols = scratch(PATCHES, n * k);
  im2col(heap, at(be, x), cols, g);
  const biasRow = bias ? operand(heap, at(be, bias), co, 2) : null;
  const y = gemm.run(cols, operand(heap, at(be, filter), k * co, 1), biasRow, n, k, co, false, false);
  activation(y, attrs.leakyreluAlpha ?? 0.2);
  return be.makeOutput([g.batch, g.oh, g.ow, co], 'float32', undefined, y);
}

const wasmOf = (args: KernelArgs) => args.backend as WasmBackend;

let registered = false;

/** Register both kernels for `wasm` in place of its own (idempotent). */
export function registerWasmConvKernels(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, kernelFunc] of [[tf.Conv2DBackpropFilter, conv2DBackpropFilter], [tf.Conv2DBackpropInput, conv2DBackpropInput]] as const) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc });
  }
  // The forward convolutions stay XNNPACK's unless a host engine is in use.
  for (const kernelName of [tf.Conv2D, tf.FusedConv2D]) {
    const before = tf.getKernel(kernelName, 'wasm');
    if (!before) continue;
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ ...before, kernelFunc: (args) => convOnHost(args as KernelArgs) ?? before.kernelFunc(args) });
  }
}
