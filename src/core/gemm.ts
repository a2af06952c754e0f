/**
 * The host engine of training's matrix products: a synchronous float32 GEMM (and optionally
 * direct and transposed convolutions) outside TensorFlow.js. src/runtime/node-gemm.ts implements
 * it on onnxruntime-node's native kernels; src/tfjs/wasm-host-gemm.ts hands the wasm backend's
 * products to whichever the run offers. Both folders import it from here (src/tfjs may not import
 * src/runtime), with the stride-phase geometry both use ({@link axisPhases}).
 */

/** A synchronous c = op(a)·op(b) (+ bias), row-major float32. */
export interface HostGemm {
  /** What runs the products, for the backend line (e.g. "onnxruntime-node 1.30.0 (MLAS), 2 threads"). */
  readonly describe: string;
  /**
   * c [m, n] = op(a) · op(b) (+ bias [n] on every row). `a` is [m, k] ([k, m] when `transA`), `b` is
   * [k, n] ([n, k] when `transB`). With `out` (m·n floats, not on a SharedArrayBuffer) the product
   * is written there and `out` returned; else it comes back as a new array.
   */
  run(a: Float32Array, b: Float32Array, bias: Float32Array | null, m: number, k: number, n: number, transA: boolean, transB: boolean, out?: Float32Array): Float32Array;
  /**
   * A direct 2-D convolution in tfjs's layouts: y NHWC [B, OH, OW, Co] = act(conv(x, w) + bias) for
   * x NHWC [B, H, W, Ci], w [KH, KW, Ci, Co], explicit pads, no dilation. Written into `out` when
   * given (not on a SharedArrayBuffer). null where this engine leaves that shape to products
   * (im2col · w).
   */
  conv2d?(x: Float32Array, xShape: readonly number[], w: Float32Array, wShape: readonly number[], bias: Float32Array | null, spec: ConvSpec, out?: Float32Array): Float32Array | null;
  /**
   * A convolution's filter gradient in tfjs's layouts: dW [KH, KW, Ci, Co] with
   * dW[ky, kx, ci, co] = Σ over b, oy, ox of x[b, sh·oy + ky − top, sw·ox + kx − left, ci] ·
   * dy[b, oy, ox, co] for x NHWC [B, H, W, Ci], dy NHWC [B, OH, OW, Co] (explicit pads, no
   * dilation). The engine splits the B·OH·OW-term sums so that no float32 chain of products in its
   * kernels is longer than `chainTerms` (onnxruntime: dy's rows in bands, added in float64).
   * Written into `out` when given (not on a SharedArrayBuffer). null where this engine leaves that
   * shape to products.
   */
  conv2dFilter?(x: Float32Array, xShape: readonly number[], dy: Float32Array, dyShape: readonly number[], kernel: readonly [number, number], spec: ConvSpec, chainTerms: number, out?: Float32Array): Float32Array | null;
  /**
   * dx = the adjoint of conv2d(·, w) applied to dy (ONNX ConvTranspose: a convolution's input
   * gradient), in tfjs's layouts: dy NHWC [B, OH, OW, Co], w [KH, KW, Ci, Co], dx NHWC
   * [B, H, W, Ci] with `outSize` = [H, W]; explicit pads, no dilation. Written into `out` when
   * given. Engines without it leave dx to products.
   */
  convTranspose?(dy: Float32Array, dyShape: readonly number[], w: Float32Array, wShape: readonly number[], geometry: ConvGeometry, out?: Float32Array): Float32Array;
}

/** A 2-D convolution's strides and explicit pads, and the input size its adjoint gives back. */
export interface ConvGeometry {
  strides: readonly [number, number];
  /** top, left, bottom, right */
  pads: readonly [number, number, number, number];
  outSize: readonly [number, number];
}

/** A forward convolution's strides, explicit pads and fused activation (none for a gradient). */
export interface ConvSpec {
  strides: readonly [number, number];
  /** top, left, bottom, right */
  pads: readonly [number, number, number, number];
  /** Applied after the bias; none when absent. */
  activation?: 'relu' | 'leakyrelu';
  /** leakyrelu's slope below 0. */
  alpha?: number;
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
 * The `s` phases of an axis of a convolution with `k` taps, stride `s` and `pad` rows of zeros
 * ahead, from `inSize` input rows to `outSize` output rows; or null when they do not tile it: the
 * input size is not a multiple of the stride, a phase has no taps, or a phase would need dy
 * cropped rather than padded.
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
