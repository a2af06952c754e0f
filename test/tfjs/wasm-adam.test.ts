/**
 * The `FusedAdam` kernel (src/tfjs/kernels/fused-adam.ts, src/tfjs/wasm-adam.ts): the committed binary is what its WebAssembly
 * text assembles to; both binaries (plain and shared memory) compute Adam's float32 update; and
 * on the wasm backend, the optimiser with the kernel gives the same bits as the optimiser without
 * it (its 13 tensor ops), on sizes with and without a tail of n mod 4 elements, over several steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { assembleAdam, BINARY_FILE, WAT_FILE } from '../../scripts/build-wasm.mjs';
import { CounterRng } from '../../src/core/random.js';
import { startBackend } from '../../src/tfjs/backend.js';
import { registerWasmKernel } from '../../src/tfjs/kernels/kernel.js';
import { fusedAdamConfig } from '../../src/tfjs/kernels/fused-adam.js';
import { adamFor, FUSED_ADAM } from '../../src/tfjs/wasm-adam.js';
import { createOptimizer, OPTIMIZER_EPSILON } from '../../src/train/optimizers.js';

const f32 = Math.fround;

test('src/tfjs/wasm-adam.binary.ts is what npm run build:wasm assembles from wasm-adam.wat', async () => {
  assert.equal(readFileSync(BINARY_FILE, 'utf8'), await assembleAdam(readFileSync(WAT_FILE, 'utf8')), 'run npm run build:wasm');
});

for (const shared of [false, true]) {
  test(`the module on a ${shared ? 'shared' : 'plain'} memory does one float32 Adam step (SIMD part and tail)`, () => {
    const memory = new WebAssembly.Memory(shared ? { initial: 1, maximum: 16, shared: true } : { initial: 1 });
    const adam = adamFor(memory);
    const n = 11; // two groups of four and a tail of three
    const heap = new Float32Array(memory.buffer);
    const rng = new CounterRng(7, 0);
    const [w, m, v, g] = [0, 1, 2, 3].map((k) => heap.subarray(k * 16, k * 16 + n));
    w.set(rng.normal(n));
    m.set(rng.normal(n).map((x) => x * 0.1));
    v.set(rng.uniform(n).map((x) => x * 0.01));
    g.set(rng.normal(n));
    const [b1, b2, ss, sb] = [0.5, 0.999, 2e-4 / 0.75, Math.sqrt(1 - 0.999 ** 2)];
    adam(0, 64, 128, 192, 256, 320, 384, n, b1, 1 - b1, b2, 1 - b2, ss, sb, OPTIMIZER_EPSILON);
    for (let i = 0; i < n; i++) {
      // The tensor ops' float32 operations, in their order.
      const mi = f32(f32(m[i] * f32(b1)) + f32(g[i] * f32(1 - b1)));
      const vi = f32(f32(v[i] * f32(b2)) + f32(f32(g[i] * g[i]) * f32(1 - b2)));
      const d = f32(f32(f32(Math.sqrt(vi)) / f32(sb)) + f32(OPTIMIZER_EPSILON));
      const wi = f32(w[i] - f32(f32(ss) * f32(mi / d)));
      assert.deepEqual([heap[64 + i], heap[80 + i], heap[96 + i]], [wi, mi, vi], `element ${i}`);
    }
  });
}

/** Weights after `steps` Adam updates of variables of `shapes` with seeded gradients, and the moments. */
function train(shapes: number[][], steps: number): Float32Array[] {
  const rng = new CounterRng(3, 0);
  const vars = tf.tidy(() => shapes.map((s) => tf.variable(tf.tensor(rng.normal(tf.util.sizeFromShape(s)), s))));
  const opt = createOptimizer('adam', vars, { lr: 1e-3, beta1: 0.5, beta2: 0.999 });
  for (let t = 0; t < steps; t++) {
    tf.tidy(() => opt.apply(shapes.map((s) => tf.tensor(rng.normal(tf.util.sizeFromShape(s)), s)), 1e-3));
  }
  const out = [...vars, ...opt.slots()].map((x) => x.dataSync() as Float32Array);
  opt.dispose();
  tf.dispose(vars);
  return out;
}

test('on the wasm backend, Adam with FusedAdam gives the same bits as its tensor ops, without leaking tensors', async () => {
  await startBackend('wasm', []);
  assert.ok(tf.getKernel(FUSED_ADAM, 'wasm'), 'the wasm backend registers FusedAdam');
  const shapes = [[1], [3], [5, 7], [64], [784, 512], [2, 3, 3, 16]];
  const before = tf.memory().numTensors;
  let fused: Float32Array[] = [];
  // The optimiser dispatches to the kernel (src/train/optimizers.ts): once per variable and step.
  const withKernel = await tf.profile(() => void (fused = train(shapes, 4)));
  assert.equal(withKernel.kernelNames.filter((k) => k === FUSED_ADAM).length, 1, 'the optimiser ran FusedAdam');
  assert.equal(withKernel.kernels.filter((k) => k.name === FUSED_ADAM).length, shapes.length * 4);
  assert.equal(tf.memory().numTensors, before);
  tf.unregisterKernel(FUSED_ADAM, 'wasm');
  try {
    let ops: Float32Array[] = [];
    const withoutKernel = await tf.profile(() => void (ops = train(shapes, 4)));
    assert.ok(!withoutKernel.kernelNames.includes(FUSED_ADAM), 'the tensor ops when the kernel is not registered');
    assert.equal(fused.length, ops.length);
    fused.forEach((a, i) => assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(ops[i].buffer, ops[i].byteOffset, ops[i].byteLength)), `tensor ${i} differs`));
  } finally {
    registerWasmKernel(fusedAdamConfig);
  }
  assert.ok(tf.getKernel(FUSED_ADAM, 'wasm'));
});

test('FusedAdam names the input that does not fit', async () => {
  await startBackend('wasm', []);
  tf.tidy(() => {
    const x = tf.zeros([4]);
    assert.throws(() => tf.engine().runKernel(FUSED_ADAM, { x, m: tf.zeros([4]), v: tf.zeros([4]), g: tf.zeros([5]) }, {}), /g has shape \[5\], x has \[4\]/);
    assert.throws(() => tf.engine().runKernel(FUSED_ADAM, { x, m: tf.zeros([4], 'int32'), v: tf.zeros([4]), g: tf.zeros([4]) }, {}), /m must be float32, got int32/);
  });
});
