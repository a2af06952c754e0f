/**
 * `Conv2DBackpropInput` in place of tfjs-backend-wasm 4.22's, which runs a plain loop: dx on the host
 * engine's transposed convolution, by stride phases of products, or as col2im(dy · Wᵀ) (see
 * conv2DBackpropInput).
 *
 * Where the stride tiles the input, dx is computed by phases: the rows and columns of dx with the
 * same remainder modulo the stride take dy through the same few filter taps, so each of the sh·sw
 * phases is a small stride-1 convolution of dy, interleaved into dx: no [N, K] intermediate and no
 * scatter. An engine with direct convolutions (onnxruntime's NCHWc kernels) runs the phases itself
 * (src/runtime/node-gemm.ts); otherwise, with 8 or more input channels (a DCGAN's 4×4, stride 2
 * layers after the first), each phase is XNNPACK's convolution or im2col · the phase's filter on
 * the host engine's products.
 */
import * as tf from '@tensorflow/tfjs';
import { axisPhases, type AxisPhase, type HostGemm } from '../../core/gemm.js';
import { callKernel as call, heapIndex as at, reshape, transposeInHeap, type KernelArgs, type WasmBackend } from '../wasm-heap.js';
import { hostGemm, intoHeap, operand, PATCHES, scratch } from '../wasm-host-gemm.js';
import { geometry, im2col, type ConvAttrs, type Geometry } from './conv-geometry.js';
import type { WasmKernelConfig } from './kernel.js';

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

export { axisPhases, type AxisPhase } from '../../core/gemm.js';

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
  // (the critic's first layer, Ci = 1; bench/RESULTS.md, 2026-12-07).
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
 * dx: with a host engine that has direct convolutions, its transposed convolution; with one that
 * has products only, by phases of products on it (≥ 8 input channels), else its ConvTranspose;
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
  const reaches = adjointReaches(g);
  if (gemm?.conv2d && gemm.convTranspose && reaches) {
    // An engine with direct convolutions runs the adjoint on them (onnxruntime: by stride phases on
    // its NCHWc kernels, else its ConvTranspose), written into the output in place.
    const dx = backend.makeOutput([...attrs.inputShape], 'float32');
    try {
      const heap = backend.wasm.HEAPF32;
      intoHeap(heap, at(backend, dx), g.batch * g.h * g.w * g.ci, (into) =>
        gemm.convTranspose!(operand(heap, at(backend, dy), n * g.co, 0), dy.shape, operand(heap, at(backend, filter), k * g.co, 1), filter.shape, { strides: [g.sh, g.sw], pads: pads(g), outSize: [g.h, g.w] }, into),
      );
      return dx;
    } catch (err) {
      backend.disposeData(dx.dataId);
      throw err;
    }
  }
  if (gemm && g.ci >= MIN_PHASE_CHANNELS) {
    // By phases: each a product on the engine, a little faster than onnxruntime's own
    // ConvTranspose on a DCGAN layer (bench/RESULTS.md, 2026-11-30).
    const dx = phasesOnHost(backend, gemm, dy, filter, g);
    if (dx) return dx;
  }
  if (gemm?.convTranspose && reaches) {
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

export const conv2DBackpropInputConfig: WasmKernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  own: 'replace',
  kernelFunc: (args) => conv2DBackpropInput(args as KernelArgs),
};
