import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../../src/tfjs/backend.js';
import { conv2dFilterGrad } from '../../src/tfjs/conv-filter-grad.js';
import { sampleLatents } from '../../src/core/latent.js';

/** dL/dW for L = Σ conv2d(x, W) · g, in float64 straight from the definition of a 'same'/'valid' convolution. */
function reference(x: Float32Array, xs: number[], g: Float32Array, gs: number[], k: number[], s: number, pad: 'same' | 'valid'): Float64Array {
  const [b, h, w, ci] = xs;
  const [, oh, ow, co] = gs;
  const [kh, kw] = k;
  // tfjs/TF 'same': total padding max((o−1)·s + k − i, 0), the smaller half on top/left.
  const padTop = pad === 'same' ? Math.floor(Math.max((oh - 1) * s + kh - h, 0) / 2) : 0;
  const padLeft = pad === 'same' ? Math.floor(Math.max((ow - 1) * s + kw - w, 0) / 2) : 0;
  const out = new Float64Array(kh * kw * ci * co);
  for (let n = 0; n < b; n++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++)
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * s + ky - padTop;
      const ix = ox * s + kx - padLeft;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) {
        out[((ky * kw + kx) * ci + c) * co + o] += x[((n * h + iy) * w + ix) * ci + c] * g[((n * oh + oy) * ow + ox) * co + o];
      }
    }
  return out;
}

test('filter gradient matches the definition on wasm (im2col + XNNPACK) and cpu (typed-array loop), for same/valid padding, strides 1 and 2, odd sizes', async () => {
  const before = tf.getBackend();
  try {
    for (const backend of ['wasm', 'cpu'] as const) {
      await startBackend(backend, ['Conv2DBackpropFilter']);
      for (const pad of ['same', 'valid'] as const) {
        for (const s of [1, 2]) {
          const xs = [2, 9, 8, 3];
          const k = [3, 4];
          const x = sampleLatents({ seed: 11, start: 0, count: 1, dim: xs.reduce((a, b) => a * b) });
          const w = tf.tensor4d(sampleLatents({ seed: 12, start: 0, count: 1, dim: k[0] * k[1] * 3 * 5 }), [k[0], k[1], 3, 5]);
          const xt = tf.tensor4d(x, xs as [number, number, number, number]);
          const outShape = tf.conv2d(xt, w, s, pad).shape;
          const g = sampleLatents({ seed: 13, start: 0, count: 1, dim: outShape.reduce((a, b) => a * b) });
          const gt = tf.tensor(g, outShape);
          const grad = tf.grad((ww: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, ww as tf.Tensor4D, s, pad), gt)))(w);
          const got = grad.dataSync();
          const want = reference(x, xs, g, outShape, k, s, pad);
          for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-4 * (1 + Math.abs(want[i])), `${backend} ${pad} s${s} [${i}]: ${got[i]} vs ${want[i]}`);
          tf.dispose([w, xt, gt, grad]);
        }
      }
    }
  } finally {
    if (before) await tf.setBackend(before);
  }
});

test('conv2dFilterGrad: a 1×1 kernel is xᵀ·dy', () => {
  // x [1,1,2,2] = [[1,2],[3,4]] (pixels × channels), dy [1,1,2,1] = [5,6] → dW[c] = Σ_p x[p,c]·dy[p].
  const dW = conv2dFilterGrad([1, 2, 3, 4], [1, 1, 2, 2], [5, 6], [1, 1, 2, 1], [1, 1], [1, 1], 0, 0);
  assert.deepEqual([...dW], [1 * 5 + 3 * 6, 2 * 5 + 4 * 6]);
});
