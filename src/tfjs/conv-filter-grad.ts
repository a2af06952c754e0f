/**
 * A fast `Conv2DBackpropFilter` kernel (the gradient of a 2-D convolution with respect to its
 * filter) for the tfjs `cpu` backend, whose own is pathologically slow: dozens of times the forward
 * pass (bench/RESULTS.md, 2026-12-07). This kernel is a plain typed-array loop (the same
 * arithmetic, ordered so the innermost loop runs over contiguous output channels), a small
 * fraction of that.
 * (The `wasm` backend gets matrix-product kernels instead: ./kernels/conv2d-backprop-filter.ts.)
 *
 * It reads `x` and `dy` synchronously from the backend, so it suits CPU-side backends only;
 * native backends (tfjs-node) have their own kernel and are left alone.
 *
 * @example
 *   registerConv2DBackpropFilter();          // once, before training a model with Conv2D layers
 *   await tf.setBackend('cpu');
 */
import * as tf from '@tensorflow/tfjs';

/** Backends that get the kernel. */
export const CONV_FILTER_GRAD_BACKENDS = ['cpu'] as const;

/** The two backend methods the kernel needs. */
interface KernelBackend {
  readSync(dataId: unknown): ArrayLike<number>;
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

interface Attrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/**
 * dW[kh, kw, ci, co] = Σ_{b, oy, ox} x[b, oy·sh + kh − padTop, ox·sw + kw − padLeft, ci] · dy[b, oy, ox, co]
 * for NHWC `x` [B, H, W, Ci], `dy` [B, OH, OW, Co]; returns dW [KH, KW, Ci, Co]. The sums run in
 * float64 (JavaScript's own arithmetic; only the small dW is kept in doubles): over the B·OH·OW terms
 * of a DCGAN's first layer at batch 64 (12,544) float32 sums drift by ~5e-5, and the wasm kernels
 * are tested against this one.
 */
export function conv2dFilterGrad(
  x: ArrayLike<number>,
  xShape: readonly [number, number, number, number],
  dy: ArrayLike<number>,
  dyShape: readonly [number, number, number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  padTop: number,
  padLeft: number,
): Float32Array {
  const [batch, h, w, ci] = xShape;
  const [, oh, ow, co] = dyShape;
  const [kh, kw] = kernel;
  const [sh, sw] = strides;
  const dW = new Float64Array(kh * kw * ci * co);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const dyAt = ((b * oh + oy) * ow + ox) * co;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh + ky - padTop;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw + kx - padLeft;
            if (ix < 0 || ix >= w) continue;
            const xAt = ((b * h + iy) * w + ix) * ci;
            const wAt = (ky * kw + kx) * ci * co;
            for (let c = 0; c < ci; c++) {
              const xv = x[xAt + c];
              if (xv === 0) continue; // ReLU inputs are mostly zeros
              const row = wAt + c * co;
              for (let o = 0; o < co; o++) dW[row + o] += xv * dy[dyAt + o];
            }
          }
        }
      }
    }
  }
  return Float32Array.from(dW);
}

let registered = false;

/**
 * Register the kernel for the `cpu` backend (idempotent). Call before the first gradient of a
 * Conv2D is computed.
 */
export function registerConv2DBackpropFilter(): void {
  if (registered) return;
  registered = true;
  for (const backendName of CONV_FILTER_GRAD_BACKENDS) {
    // Replace (not shadow) the cpu backend's own kernel, without the "already registered" warning.
    if (tf.getKernel(tf.Conv2DBackpropFilter, backendName)) tf.unregisterKernel(tf.Conv2DBackpropFilter, backendName);
    tf.registerKernel({
      kernelName: tf.Conv2DBackpropFilter,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, dy } = inputs as unknown as { x: tf.TensorInfo; dy: tf.TensorInfo };
        const a = attrs as unknown as Attrs;
        if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter: only NHWC is supported');
        const info = tf.backend_util.computeConv2DInfo(
          x.shape as [number, number, number, number],
          a.filterShape,
          a.strides,
          1,
          a.pad,
          a.dimRoundingMode,
          false,
          'channelsLast',
        );
        const be = backend as unknown as KernelBackend;
        const dW = conv2dFilterGrad(
          be.readSync(x.dataId),
          x.shape as [number, number, number, number],
          be.readSync(dy.dataId),
          dy.shape as [number, number, number, number],
          [info.filterHeight, info.filterWidth],
          [info.strideHeight, info.strideWidth],
          info.padInfo.top,
          info.padInfo.left,
        );
        const shape = [...a.filterShape];
        return be.makeTensorInfo!(shape, 'float32', dW);
      },
    });
  }
}
