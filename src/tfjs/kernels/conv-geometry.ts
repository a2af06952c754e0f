/**
 * What wganx's convolution kernels on wasm share (./conv2d.ts, ./fused-conv2d.ts,
 * ./conv2d-backprop-filter.ts, ./conv2d-backprop-input.ts): the geometry of a convolution and its
 * image patches.
 *
 * For NHWC `x` [B, H, W, Ci], filter [KH, KW, Ci, Co] and `dy` [B, OH, OW, Co], with
 * N = B·OH·OW and K = KH·KW·Ci, and `cols` the [N, K] matrix of image patches (im2col):
 *   y  = cols · W (+ bias)      (host engine; else XNNPACK's own convolution)
 *   dW = Σ_blocks colsᵀ · dy    ([K, N] · [N, Co] → [K, Co] = [KH, KW, Ci, Co], summed over blocks
 *                                of whole images)
 *   dx = col2im(dy · Wᵀ)        ([N, Co] · [Co, K] → [N, K], each patch added back where it came
 *                                from), or by stride phases; with the host engine and < 8 input
 *                                channels, its ConvTranspose
 *
 * On the host engine the patches live in private buffers (im2col copies each filter row's run of
 * x at once); on XNNPACK they are gathered and scattered in the wasm heap itself. Every temporary
 * tensor is released before a kernel returns. The penalty's double back-propagation calls each of
 * them many times a step; see bench/RESULTS.md.
 */
import * as tf from '@tensorflow/tfjs';

export interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export interface Geometry {
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

export function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs, kernelName: string): Geometry {
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
export function im2colTransposed(heap: Float32Array, x: number, colsT: number, g: Geometry): void {
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

/** Runs of at least this many floats are copied with `TypedArray.set` (a memmove), shorter ones by a loop. */
const SET_RUN = 32;

/**
 * The patch matrix cols[n, (ky·KW + kx)·Ci + c] (the rows of {@link im2colTransposed}'s columns)
 * of positions [n0, n0 + count), into `out` from 0. Within a filter row the taps inside the image
 * are one contiguous run of x ((kx1 − kx0)·Ci floats), copied at once. `heap` should be a private
 * array (see `operand`): element loops over the threaded build's shared heap run several times
 * slower (bench/RESULTS.md, 2026-12-07).
 */
export function im2col(heap: Float32Array, x: number, out: Float32Array, g: Geometry, n0: number, count: number): void {
  // Every index as an int32: once V8 saw a number here that was not a small integer it recompiled
  // this loop with float64 index arithmetic, 1.7× the time (issue 31's MNIST DCGAN regression:
  // bench/RESULTS.md, 2026-12-07).
  const h = g.h | 0, w = g.w | 0, ci = g.ci | 0, oh = g.oh | 0, ow = g.ow | 0, kh = g.kh | 0, kw = g.kw | 0;
  const sh = g.sh | 0, sw = g.sw | 0, padTop = g.padTop | 0, padLeft = g.padLeft | 0;
  x |= 0;
  n0 |= 0;
  count |= 0;
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
