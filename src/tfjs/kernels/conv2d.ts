/**
 * `Conv2D` on the host engine when the run has one (its direct convolution where it has one for
 * the shape, else patches times the filter), else XNNPACK's own (the original kernel).
 * ./fused-conv2d.ts shares {@link convOnHost}.
 */
import * as tf from '@tensorflow/tfjs';
import { heapIndex as at, type KernelArgs, type WasmBackend } from '../wasm-heap.js';
import type { ConvSpec, HostGemm } from '../../core/gemm.js';
import { HOST_ACTIVATIONS, hostGemm, intoHeap, operand, PATCHES, productIntoHeap, scratch } from '../wasm-host-gemm.js';
import { geometry, im2col, type ConvAttrs, type Geometry } from './conv-geometry.js';
import type { WasmKernelConfig } from './kernel.js';

/**
 * A forward convolution (`Conv2D`, `FusedConv2D`) on the host engine: its direct convolution
 * (onnxruntime's NCHWc kernels, bias and activation fused) where it takes the shape, else patches
 * (im2col) in a private buffer times the filter [K, Co], plus the bias row, then the activation;
 * either writes the NHWC output itself. null for what the engine path does not take (dilations,
 * NCHW, other dtypes, activations other than linear / relu / leakyrelu, a bias that is not one row
 * per channel).
 */
export function convOnHost(args: KernelArgs): tf.TensorInfo | null {
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
  const out = be.makeOutput([g.batch, g.oh, g.ow, co], 'float32');
  try {
    if (gemm.conv2d && directConv(gemm, be, x, filter, bias, out, g, attrs)) return out;
    const cols = scratch(PATCHES, n * k);
    im2col(operand(be.wasm.HEAPF32, at(be, x), g.batch * g.h * g.w * g.ci, 0), 0, cols, g, 0, n);
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

/**
 * The convolution as the engine's own direct convolution (NCHWc kernels on onnxruntime), bias and
 * activation fused, into `out`; false where the engine leaves this shape to products.
 */
function directConv(gemm: HostGemm, be: WasmBackend, x: tf.TensorInfo, filter: tf.TensorInfo, bias: tf.TensorInfo | undefined, out: tf.TensorInfo, g: Geometry, attrs: { activation?: string; leakyreluAlpha?: number }): boolean {
  const heap = be.wasm.HEAPF32;
  const co = g.co;
  const kind = attrs.activation ?? 'linear';
  const spec: ConvSpec = {
    strides: [g.sh, g.sw],
    pads: [g.padTop, g.padLeft, g.padBottom, g.padRight],
    ...(kind === 'linear' ? {} : { activation: kind as 'relu' | 'leakyrelu', alpha: attrs.leakyreluAlpha ?? 0.2 }),
  };
  return intoHeap(heap, at(be, out), g.batch * g.oh * g.ow * co, (into) =>
    gemm.conv2d!(operand(heap, at(be, x), g.batch * g.h * g.w * g.ci, 0), x.shape, operand(heap, at(be, filter), g.kh * g.kw * g.ci * co, 1), filter.shape, bias ? operand(heap, at(be, bias), co, 2) : null, spec, into),
  );
}

const wasmOf = (args: KernelArgs) => args.backend as WasmBackend;

export const conv2DConfig: WasmKernelConfig = {
  kernelName: tf.Conv2D,
  own: 'fallback',
  kernelFunc: (args, original) => convOnHost(args as KernelArgs) ?? original!(args),
};
