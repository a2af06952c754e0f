/**
 * Adam and RMSProp against a float64 reference of the PyTorch update rules, and exact
 * continuation after restoring their state (the basis of bit-identical resume).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../../src/tfjs/backend.js';
import { createOptimizer, OPTIMIZER_EPSILON } from '../../src/train/optimizers.js';

const GRADS = [
  [0.5, -1.0, 0.25],
  [-0.3, 0.8, 0.1],
  [0.05, -0.2, 2.0],
];

function reference(name: 'adam' | 'rmsprop', w0: number[], lr: number, b1: number, b2: number): number[] {
  const w = [...w0];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  GRADS.forEach((g, t0) => {
    const t = t0 + 1;
    for (let i = 0; i < w.length; i++) {
      if (name === 'adam') {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2;
        w[i] -= (lr / (1 - b1 ** t)) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + OPTIMIZER_EPSILON));
      } else {
        v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2;
        w[i] -= (lr * g[i]) / (Math.sqrt(v[i]) + OPTIMIZER_EPSILON);
      }
    }
  });
  return w;
}

for (const [name, b1, b2] of [['adam', 0, 0.9], ['adam', 0.5, 0.999], ['rmsprop', 0, 0.99]] as const) {
  test(`${name} (β1 ${b1}, β2/α ${b2}) follows the PyTorch update rule`, async () => {
    await startBackend('cpu', []);
    const w0 = [0.1, -0.2, 0.3];
    const v = tf.variable(tf.tensor1d(w0));
    const opt = createOptimizer(name, [v], { lr: 0.01, beta1: b1, beta2: b2 });
    for (const g of GRADS) tf.tidy(() => opt.apply([tf.tensor1d(g)], 0.01));
    const got = Array.from(v.dataSync());
    const want = reference(name, w0, 0.01, b1, b2);
    got.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `${got} vs ${want}`));
    assert.equal(opt.step, GRADS.length);
    opt.dispose();
    v.dispose();
  });
}

test('restoring the slots and the step continues bit-identically', async () => {
  await startBackend('cpu', []);
  const run = (restoreAfter: number | null) => {
    const v = tf.variable(tf.tensor1d([0.1, -0.2, 0.3]));
    let opt = createOptimizer('adam', [v], { lr: 0.01, beta1: 0.5, beta2: 0.9 });
    GRADS.forEach((g, t) => {
      if (t === restoreAfter) {
        const slots = opt.slots().map((s) => s.dataSync().slice());
        const step = opt.step;
        opt.dispose();
        opt = createOptimizer('adam', [v], { lr: 0.01, beta1: 0.5, beta2: 0.9 });
        opt.slots().forEach((s, i) => s.assign(tf.tensor(slots[i], s.shape)));
        opt.step = step;
      }
      tf.tidy(() => opt.apply([tf.tensor1d(g)], 0.01));
    });
    const out = Array.from(v.dataSync());
    opt.dispose();
    v.dispose();
    return out;
  };
  assert.deepEqual(run(2), run(null));
});
