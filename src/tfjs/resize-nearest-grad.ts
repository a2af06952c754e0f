/**
 * A correct `ResizeNearestNeighborGrad` kernel (the gradient of nearest-neighbour up-sampling,
 * `tf.layers.upSampling2d` and `tf.image.resizeNearestNeighbor`) for the tfjs `cpu` backend: its
 * own (tfjs 4.22) gives wrong or zero gradients to every image after the first of a batch, which
 * silently broke the resnet generator's training on `--backend cpu`. wasm's kernel is right.
 *
 * Each output pixel's gradient is added to the input pixel the forward pass copied it from, with
 * the forward kernel's own source-index rule (align corners, half-pixel centres), so the two stay
 * each other's adjoint.
 *
 * @example
 *   registerResizeNearestGrad();          // once, before training a model with UpSampling2D
 *   await tf.setBackend('cpu');
 */
import * as tf from '@tensorflow/tfjs';

/** Backends that get the kernel. */
export const RESIZE_NEAREST_GRAD_BACKENDS = ['cpu'] as const;

interface KernelBackend {
  readSync(dataId: unknown): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

interface Attrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/** The source index of output index `o` along an axis of `inSize` → `outSize` (the forward kernel's rule). */
export function nearestSource(o: number, inSize: number, outSize: number, { alignCorners, halfPixelCenters }: Attrs): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const frac = (effIn / effOut) * (halfPixelCenters ? o + 0.5 : o);
  const src = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  return halfPixelCenters ? Math.max(0, src) : src;
}

/** dx [B, H, W, C] of the images [B, H, W, C] given dy [B, OH, OW, C]. */
export function resizeNearestGrad(dy: ArrayLike<number>, imagesShape: readonly number[], dyShape: readonly number[], attrs: Attrs): Float32Array {
  const [batch, h, w, c] = imagesShape;
  const [, oh, ow] = dyShape;
  const dx = new Float32Array(batch * h * w * c);
  const rows = Int32Array.from({ length: oh }, (_, r) => nearestSource(r, h, oh, attrs));
  const cols = Int32Array.from({ length: ow }, (_, q) => nearestSource(q, w, ow, attrs));
  let src = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < oh; r++) {
      const rowBase = (b * h + rows[r]) * w;
      for (let q = 0; q < ow; q++, src += c) {
        const dst = (rowBase + cols[q]) * c;
        for (let d = 0; d < c; d++) dx[dst + d] += dy[src + d];
      }
    }
  }
  return dx;
}

let registered = false;

/** Register the kernel for the `cpu` backend (idempotent), replacing tfjs's own. */
export function registerResizeNearestGrad(): void {
  if (registered) return;
  registered = true;
  for (const backendName of RESIZE_NEAREST_GRAD_BACKENDS) {
    if (tf.getKernel(tf.ResizeNearestNeighborGrad, backendName)) tf.unregisterKernel(tf.ResizeNearestNeighborGrad, backendName);
    tf.registerKernel({
      kernelName: tf.ResizeNearestNeighborGrad,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { images, dy } = inputs as unknown as { images: tf.TensorInfo; dy: tf.TensorInfo };
        const b = backend as unknown as KernelBackend;
        const dx = resizeNearestGrad(b.readSync(dy.dataId), images.shape, dy.shape, attrs as unknown as Attrs);
        return b.makeTensorInfo([...images.shape], 'float32', dx);
      },
    });
  }
}
