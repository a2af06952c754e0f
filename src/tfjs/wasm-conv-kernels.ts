/**
 * The convolution kernels of the tfjs `wasm` backend that training runs: the two backward kernels,
 * in place of what tfjs-backend-wasm 4.22 offers (no `Conv2DBackpropFilter` at all, and a
 * `Conv2DBackpropInput` that runs a plain loop), and, when the run has a host engine
 * (./wasm-host-gemm.ts: onnxruntime-node's MLAS), the forward `Conv2D` / `FusedConv2D` too. The
 * penalty's double back-propagation calls each of them many times a step; see bench/RESULTS.md.
 *
 * For NHWC `x` [B, H, W, Ci], filter [KH, KW, Ci, Co] and `dy` [B, OH, OW, Co], with
 * N = B·OH·OW and K = KH·KW·Ci, and `cols` the [N, K] matrix of image patches (im2col):
 *   y  = cols · W (+ bias)      (host engine; else XNNPACK's own convolution)
 *   dW = Σ_blocks colsᵀ · dy    ([K, N] · [N, Co] → [K, Co] = [KH, KW, Ci, Co], summed over blocks
 *                                of whole images: see filterGradBlock)
 *   dx = col2im(dy · Wᵀ)        ([N, Co] · [Co, K] → [N, K], each patch added back where it came
 *                                from), or by phases (below); with the host engine and < 8 input
 *                                channels, its ConvTranspose
 *
 * Where the stride tiles the input and there are 8 or more input channels (a DCGAN's 4×4, stride 2
 * layers after the first), dx is computed by phases: the rows and columns of dx with the same
 * remainder modulo the stride take dy through the same few filter taps, so each of the sh·sw phases
 * is a small stride-1 convolution of dy (XNNPACK's, or im2col · the phase's filter on the host
 * engine), interleaved into dx: no [N, K] intermediate and no scatter.
 *
 * On the host engine the patches live in private buffers (im2col copies each filter row's run of
 * x at once); on XNNPACK they are gathered and scattered in the wasm heap itself. Every temporary
 * tensor is released before the kernel returns.
 *
 * @example
 *   registerWasmConvKernels(); // after the wasm backend package is imported, before training
 */
import * as tf from '@tensorflow/tfjs';
import { HOST_ACTIVATIONS, hostGemm, operand, PATCHES, productIntoHeap, scratch, type HostGemm } from './wasm-host-gemm.js';
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
  padBottom: number;
  padRight: number;
}

function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs, kernelName: string): Geometry {
  if (attrs.dataFormat === 'NCHW') throw new Error(`${kernelName} (wasm, wganx): only NHWC is supported`);
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  return {
    batch: info.batchSize, h: info.inHeight, w: info.inWidth, ci: info.inChannels, oh: info.outHeight, ow: info.outWidth, co: info.outChannels,
    kh: info.filterHeight, kw: info.filterWidth, sh: info.strideHeight, sw: info.strideWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left, padBottom: info.padInfo.bottom, padRight: info.padInfo.right,
  };
}

/** Positions gathered together by {@link im2colTransposed}: a block's patch rows stay in cache. */
const POSITION_BLOCK = 16;

/**
 * The transposed patch matrix colsT[(ky·KW + kx)·Ci + c, n] = x[b, oy·sh + ky − padTop, ox·sw + kx − padLeft, c]
 * (0 outside the image), for n = (b·OH + oy)·OW + ox: the image patch of every output position,
 * written row by row of colsT (in the heap, for XNNPACK's product).
 */
function im2colTransposed(heap: Float32Array, x: number, colsT: number, g: Geometry): void {
  const { batch, h, w, ci, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
  const n = batch * oh * ow;
  for (let n0 = 0; n0 < n; n0 += POSITION_BLOCK) {
    const n1 = Math.min(n, n0 + POSITION_BLOCK);
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const row0 = colsT + (ky * kw + kx) * ci * n;
        for (let p = n0; p < n1; p++) {
          const ox = p % ow;
          const rest = (p - ox) / ow;
          const oy = rest % oh;
          const b = (rest - oy) / oh;
          const iy = oy * sh + ky - padTop;
          const ix = ox * sw + kx - padLeft;
          let dst = row0 + p;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
            for (let c = 0; c < ci; c++, dst += n) heap[dst] = 0;
            continue;
          }
          const src = x + ((b * h + iy) * w + ix) * ci;
          for (let c = 0; c < ci; c++, dst += n) heap[dst] = heap[src + c];
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
const FILTER_GRAD_BLOCK = { host: 1024, xnnpack: 256 } as const;

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

/** Runs of at least this many floats are copied with `TypedArray.set` (a memmove), shorter ones by a loop. */
const SET_RUN = 32;

/**
 * The patch matrix cols[n, (ky·KW + kx)·Ci + c] (the rows of {@link im2colTransposed}'s columns)
 * of positions [n0, n0 + count), into `out` from 0. Within a filter row the taps inside the image
 * are one contiguous run of x ((kx1 − kx0)·Ci floats), copied at once. `heap` should be a private
 * array (see `operand`): element loops over the threaded build's shared heap run ~3.5× slower.
 */
function im2col(heap: Float32Array, x: number, out: Float32Array, g: Geometry, n0: number, count: number): void {
  const { h, w, ci, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
  const rowLength = kw * ci;
  let dst = 0;
  for (let p = n0; p < n0 + count; p++) {
    const ox = p % ow;
    const rest = (p - ox) / ow;
    const oy = rest % oh;
    const b = (rest - oy) / oh;
    const ix0 = ox * sw - padLeft;
    const kx0 = Math.max(0, -ix0);
    const kx1 = Math.min(kw, w - ix0);
    for (let ky = 0; ky < kh; ky++, dst += rowLength) {
      const iy = oy * sh + ky - padTop;
      if (iy < 0 || iy >= h || kx1 <= kx0) {
        out.fill(0, dst, dst + rowLength);
        continue;
      }
      if (kx0 > 0) out.fill(0, dst, dst + kx0 * ci);
      if (kx1 < kw) out.fill(0, dst + kx1 * ci, dst + rowLength);
      const src = x + ((b * h + iy) * w + ix0 + kx0) * ci;
      const run = (kx1 - kx0) * ci;
      const to = dst + kx0 * ci;
      if (run >= SET_RUN) out.set(heap.subarray(src, src + run), to);
      else for (let i = 0; i < run; i++) out[to + i] = heap[src + i];
    }
  }
}

/**
 * dx[b, iy, ix, c] += cols[n, (ky·KW + kx)·Ci + c]: each patch added back where im2col took it
 * from; within a filter row the taps inside the image are one contiguous run of dx.
 */
function col2im(heap: Float32Array, cols: number, dx: number, g: Geometry): void {
  const { batch, h, w, ci, oh, ow, kh, kw, sh, sw, padTop, padLeft } = g;
  const rowLength = kw * ci;
  heap.fill(0, dx, dx + batch * h * w * ci);
  let row = cols;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const ix0 = ox * sw - padLeft;
        const kx0 = Math.max(0, -ix0);
        const kx1 = Math.min(kw, w - ix0);
        const run = (kx1 - kx0) * ci;
        for (let ky = 0; ky < kh; ky++, row += rowLength) {
          const iy = oy * sh + ky - padTop;
          if (iy < 0 || iy >= h || run <= 0) continue;
          const src = row + kx0 * ci;
          const dst = dx + ((b * h + iy) * w + ix0 + kx0) * ci;
          for (let i = 0; i < run; i++) heap[dst + i] += heap[src + i];
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
 * each tap's [Ci, Co] block of W (in the heap) transposed, into `out` at `f`.
 */
function phaseFilter(heap: Float32Array, w: number, out: Float32Array, f: number, g: Geometry, py: AxisPhase, px: AxisPhase): void {
  const { kw, ci, co, sh, sw, padTop, padLeft } = g;
  let dst = f;
  for (let ty = 0; ty < py.taps; ty++) {
    const ky = sh * (py.dmax - ty) + py.r + padTop;
    for (let tx = 0; tx < px.taps; tx++, dst += ci * co) {
      const kx = sw * (px.dmax - tx) + px.r + padLeft;
      transposeInHeap(heap, w + (ky * kw + kx) * ci * co, dst, 1, ci, co, out);
    }
  }
}

/** dx[b, s·m + ry, s·n + rx, :] = phase[b, m, n, :]: one phase's rows interleaved into dx. */
function interleavePhase(from: Float32Array, phase: number, to: Float32Array, dx: number, g: Geometry, ry: number, rx: number): void {
  const { batch, h, w, ci, sh, sw } = g;
  const rows = h / sh;
  const cols = w / sw;
  let src = phase;
  for (let b = 0; b < batch; b++) {
    for (let m = 0; m < rows; m++) {
      let dst = dx + ((b * h + sh * m + ry) * w + rx) * ci;
      for (let n = 0; n < cols; n++, src += ci, dst += sw * ci) {
        for (let c = 0; c < ci; c++) to[dst + c] = from[src + c];
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
        phaseFilter(backend.wasm.HEAPF32, at(backend, filter), backend.wasm.HEAPF32, at(backend, f), g, py, px);
        const pad = [[0, 0], [py.before, py.after], [px.before, px.after], [0, 0]];
        phase = call('Conv2D', backend, { x: dy, filter: f }, { strides: 1, pad, dataFormat: 'NHWC', dilations: 1 } as unknown as tf.NamedAttrMap);
        interleavePhase(backend.wasm.HEAPF32, at(backend, phase), backend.wasm.HEAPF32, at(backend, dx), g, py.r, px.r);
      } finally {
        backend.disposeData(f.dataId);
        if (phase) backend.disposeData(phase.dataId);
      }
    }
  }
}

/**
 * dx by stride phases on the host engine: each phase is a stride-1 convolution of dy (im2col of
 * dy over the phase's taps, times the phase's filter), written into its rows and columns of dx.
 */
function phasesOnHost(backend: WasmBackend, gemm: HostGemm, dy: tf.TensorInfo, filter: tf.TensorInfo, g: Geometry): tf.TensorInfo | null {
  const rowsY = axisPhases(g.kh, g.sh, g.padTop, g.h, g.oh);
  const rowsX = axisPhases(g.kw, g.sw, g.padLeft, g.w, g.ow);
  if (!rowsY || !rowsX) return null;
  const heap = backend.wasm.HEAPF32;
  const rows = g.h / g.sh;
  const cols = g.w / g.sw;
  const dx = scratch(DX, g.batch * g.h * g.w * g.ci);
  const dys = operand(heap, at(backend, dy), g.batch * g.oh * g.ow * g.co, 0);
  for (const py of rowsY) {
    for (const px of rowsX) {
      const pg: Geometry = {
        batch: g.batch, h: g.oh, w: g.ow, ci: g.co, oh: rows, ow: cols, co: g.ci, kh: py.taps, kw: px.taps,
        sh: 1, sw: 1, padTop: py.before, padLeft: px.before, padBottom: py.after, padRight: px.after,
      };
      const n = g.batch * rows * cols;
      const k = py.taps * px.taps * g.co;
      const patches = scratch(PATCHES, n * k);
      im2col(dys, 0, patches, pg, 0, n);
      const f = scratch(PHASE_FILTER, k * g.ci);
      phaseFilter(heap, at(backend, filter), f, 0, g, py, px);
      const phase = gemm.run(patches, f, null, n, k, g.ci, false, false);
      interleavePhase(phase, 0, dx, 0, g, py.r, px.r);
    }
  }
  return backend.makeOutput([g.batch, g.h, g.w, g.ci], 'float32', undefined, dx);
}

/** Private buffers of the host phases (besides PATCHES): dx, and a phase's filter. */
const DX = PATCHES + 1;
const PHASE_FILTER = PATCHES + 2;

/** Explicit pads in ONNX's order: top, left, bottom, right. */
const pads = (g: Geometry): [number, number, number, number] => [g.padTop, g.padLeft, g.padBottom, g.padRight];

/**
 * Whether a transposed convolution of dy with these pads reaches the input's size: it gives
 * (OH − 1)·s + KH − pads, plus an output padding below the stride for the rows a strided
 * convolution skipped.
 */
function adjointReaches(g: Geometry): boolean {
  const extraH = g.h - ((g.oh - 1) * g.sh + g.kh - g.padTop - g.padBottom);
  const extraW = g.w - ((g.ow - 1) * g.sw + g.kw - g.padLeft - g.padRight);
  return extraH >= 0 && extraH < g.sh && extraW >= 0 && extraW < g.sw;
}

/**
 * dx: with a host engine by phases of products on it (≥ 8 input channels), else its ConvTranspose;
 * otherwise by XNNPACK phases where the geometry allows, else col2im(dy · Wᵀ) (whose product still
 * goes to the host engine when there is one, through BatchMatMul).
 */
function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WasmBackend;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  const g = geometry(attrs.inputShape, filter.shape, attrs, 'Conv2DBackpropInput');
  const n = g.batch * g.oh * g.ow;
  const k = g.kh * g.kw * g.ci;
  const gemm = hostGemm();
  if (gemm && g.ci >= MIN_PHASE_CHANNELS) {
    // By phases: each a product on the engine (a DCGAN layer: ~4.2 ms vs ~4.6 ms for onnxruntime's
    // own ConvTranspose, batch 64, two threads; bench/RESULTS.md).
    const dx = phasesOnHost(backend, gemm, dy, filter, g);
    if (dx) return dx;
  }
  if (gemm?.convTranspose && adjointReaches(g)) {
    // The convolution's adjoint (ConvTranspose) natively, on the engine's threads.
    const heap = backend.wasm.HEAPF32;
    const dys = operand(heap, at(backend, dy), n * g.co, 0);
    const ws = operand(heap, at(backend, filter), k * g.co, 1);
    const dx = gemm.convTranspose(dys, dy.shape, ws, filter.shape, { strides: [g.sh, g.sw], pads: pads(g), outSize: [g.h, g.w] });
    return backend.makeOutput([...attrs.inputShape], 'float32', undefined, dx);
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
    col2im(heap, at(backend, cols), at(backend, dx), g);
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
  const cols = scratch(PATCHES, n * k);
  im2col(operand(be.wasm.HEAPF32, at(be, x), g.batch * g.h * g.w * g.ci, 0), 0, cols, g, 0, n);
  const out = be.makeOutput([g.batch, g.oh, g.ow, co], 'float32');
  try {
    // Views after the allocation (the heap may have grown).
    const heap = be.wasm.HEAPF32;
    const weights = operand(heap, at(be, filter), k * co, 1);
    productIntoHeap(gemm, heap, at(be, out), cols, weights, bias ? operand(heap, at(be, bias), co, 2) : null, n, k, co, false, false, (y) => activation(y, attrs.leakyreluAlpha ?? 0.2));
    return out;
  } catch (err) {
    be.disposeData(out.dataId);
    throw err;
  }
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
