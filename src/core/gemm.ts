/**
 * The host engine of training's matrix products: a synchronous float32 GEMM (and optionally a
 * transposed convolution) outside TensorFlow.js. src/runtime/node-gemm.ts implements it on
 * onnxruntime-node's native kernels; src/tfjs/wasm-host-gemm.ts hands the wasm backend's products
 * to whichever the run offers. Types only: both folders import it from here (src/tfjs may not
 * import src/runtime).
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
   * dx = the adjoint of conv2d(·, w) applied to dy (ONNX ConvTranspose: a convolution's input
   * gradient), in tfjs's layouts: dy NHWC [B, OH, OW, Co], w [KH, KW, Ci, Co], dx NHWC
   * [B, H, W, Ci] with `outSize` = [H, W]; explicit pads, no dilation. Engines without it leave
   * dx to products.
   */
  convTranspose?(dy: Float32Array, dyShape: readonly number[], w: Float32Array, wShape: readonly number[], geometry: ConvGeometry): Float32Array;
}

/** A 2-D convolution's strides and explicit pads, and the input size its adjoint gives back. */
export interface ConvGeometry {
  strides: readonly [number, number];
  /** top, left, bottom, right */
  pads: readonly [number, number, number, number];
  outSize: readonly [number, number];
}
