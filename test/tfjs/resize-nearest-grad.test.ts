import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../../src/tfjs/backend.js';
import { nearestSource } from '../../src/tfjs/resize-nearest-grad.js';

/**
 * The gradient of Σ resize(x) ⊙ w is the adjoint of the forward copy: found here by differentiating
 * through the forward kernel's output one pixel at a time (which input pixel does output (r, q)
 * read? the one whose one-hot input moves it), independent of any gradient kernel.
 */
function adjointByForward(shape: number[], size: [number, number], attrs: { alignCorners: boolean; halfPixelCenters: boolean }, w: Float32Array): Float32Array {
  const [b, h, wd, c] = shape;
  const [oh, ow] = size;
  const dx = new Float32Array(b * h * wd * c);
  for (let n = 0; n < b; n++) for (let r = 0; r < oh; r++) for (let q = 0; q < ow; q++) {
    const sr = nearestSource(r, h, oh, attrs);
    const sq = nearestSource(q, wd, ow, attrs);
    for (let d = 0; d < c; d++) dx[((n * h + sr) * wd + sq) * c + d] += w[((n * oh + r) * ow + q) * c + d];
  }
  return dx;
}

test('nearestSource follows the forward kernel: resizing an index image gives each output its source', async () => {
  await startBackend('cpu', []);
  for (const [h, oh, alignCorners, halfPixelCenters] of [[4, 8, false, false], [3, 7, false, true], [5, 9, true, false], [6, 3, false, false]] as const) {
    const idx = tf.tensor4d(Float32Array.from({ length: h }, (_, i) => i), [1, h, 1, 1]);
    const out = tf.image.resizeNearestNeighbor(idx, [oh, 1], alignCorners, halfPixelCenters);
    const got = Array.from(out.dataSync());
    tf.dispose([idx, out]);
    assert.deepEqual(got, Array.from({ length: oh }, (_, r) => nearestSource(r, h, oh, { alignCorners, halfPixelCenters })), `${h}→${oh} ${alignCorners} ${halfPixelCenters}`);
  }
});

test('the cpu backend differentiates nearest up-sampling right for every image of a batch (tfjs 4.22 own kernel: only the first), and agrees with wasm', async () => {
  const cases: { shape: [number, number, number, number]; size: [number, number]; alignCorners: boolean; halfPixelCenters: boolean }[] = [
    { shape: [3, 2, 2, 2], size: [4, 4], alignCorners: false, halfPixelCenters: false }, // UpSampling2D ×2
    { shape: [2, 3, 5, 3], size: [6, 10], alignCorners: false, halfPixelCenters: true },
    { shape: [4, 3, 3, 1], size: [7, 5], alignCorners: true, halfPixelCenters: false },
  ];
  const grads: Record<string, Float32Array[]> = {};
  for (const backend of ['cpu', 'wasm'] as const) {
    await startBackend(backend, []);
    grads[backend] = cases.map(({ shape, size, alignCorners, halfPixelCenters }) =>
      tf.tidy(() => {
        const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
        const w = tf.randomNormal([shape[0], size[0], size[1], shape[3]], 0, 1, 'float32', 2);
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(a as tf.Tensor4D, size, alignCorners, halfPixelCenters), w)))(x);
        return g.dataSync() as Float32Array;
      }),
    );
  }
  cases.forEach(({ shape, size, alignCorners, halfPixelCenters }, i) => {
    const w = tf.tidy(() => tf.randomNormal([shape[0], size[0], size[1], shape[3]], 0, 1, 'float32', 2).dataSync() as Float32Array);
    const ref = adjointByForward(shape, size, { alignCorners, halfPixelCenters }, w);
    for (const backend of ['cpu', 'wasm']) {
      const got = grads[backend][i];
      const worst = Math.max(...got.map((v, j) => Math.abs(v - ref[j])));
      assert.ok(worst < 1e-5, `${backend}, case ${i}: largest difference ${worst}`);
    }
  });
});
