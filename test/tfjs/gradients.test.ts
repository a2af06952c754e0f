/**
 * wganx's gradient registrations (src/tfjs/gradients.ts) against what tfjs computes without them:
 * LeakyRelu's first-order gradient as dy·step(x, α) equals tfjs's where(x > 0, dy, α·dy) bit for
 * bit, zeros and negative zeros included, on every portable backend; its second-order gradient
 * (what the penalty needs) is the analytic one. test/train/penalty-gradient.test.ts checks whole
 * critics against finite differences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { CounterRng } from '../../src/core/random.js';
import { startBackend } from '../../src/tfjs/backend.js';
import { registerTrainingGradients } from '../../src/tfjs/gradients.js';

const rng = new CounterRng(20261130, 3);

test("LeakyRelu's gradient equals tfjs's own formula bit for bit on cpu and wasm; its gradient w.r.t. dy is step(x, α)", async () => {
  registerTrainingGradients();
  const xs = Float32Array.from([...rng.normal(997), 0, -0, 1e-30, -1e-30]);
  const dys = rng.normal(xs.length);
  for (const backend of ['cpu', 'wasm'] as const) {
    await startBackend(backend, []);
    for (const alpha of [0.2, 0.01]) {
      const [ours, theirs, second] = tf.tidy(() => {
        const x = tf.tensor1d(xs);
        const dy = tf.tensor1d(dys);
        const g = tf.grad((v: tf.Tensor) => tf.leakyRelu(v, alpha))(x, dy);
        const reference = tf.where(tf.greater(x, 0), dy, tf.mul(dy, alpha));
        // d/d(dy) of Σ w·grad(dy): the double back-propagation path of the penalty.
        const w = tf.tensor1d(rng.normal(xs.length));
        const viaDy = tf.grad((d: tf.Tensor) => tf.sum(tf.mul(w, tf.grad((v: tf.Tensor) => tf.leakyRelu(v, alpha))(x, d))))(dy);
        return [g.dataSync().slice(), reference.dataSync().slice(), tf.sub(viaDy, tf.mul(w, tf.where(tf.greater(x, 0), tf.onesLike(x), tf.fill(x.shape, alpha)))).abs().max().dataSync()[0]];
      }) as [Float32Array, Float32Array, number];
      assert.deepEqual(Buffer.from(ours.buffer), Buffer.from(theirs.buffer), `${backend}, α = ${alpha}`);
      assert.ok(second < 1e-6, `${backend}, α = ${alpha}: second order off by ${second}`);
    }
  }
});
