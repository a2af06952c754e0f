/**
 * Backend choice: without tfjs-node installed, `auto` takes the fastest portable backend that has
 * every kernel the run needs — wasm for MLP and DCGAN runs alike, since wganx registers the
 * convolution gradients on wasm (and a faster filter gradient on cpu) — and says why; an explicit
 * backend is used as asked.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { missingKernels, requiredKernels, startBackend } from '../../src/tfjs/backend.js';
import { hostGemm } from '../../src/tfjs/wasm-host-gemm.js';

test('a DCGAN run needs the convolution kernels, and auto picks wasm for it with the reason', async () => {
  const kernels = requiredKernels({ archKernels: ['conv', 'norm'], conditional: true, criticNorm: 'none' });
  for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'GatherV2', 'UnsortedSegmentSum']) assert.ok(kernels.includes(k), k);
  const info = await startBackend('auto', kernels);
  assert.equal(info.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.match(info.reason, /no native backend installed/);
  assert.match(info.reason, /wasm has every kernel this run needs/);
  assert.deepEqual(missingKernels('wasm', kernels), []);
});

test('on wasm a convolution filter gradient exists and matches central differences', async () => {
  await startBackend('wasm', requiredKernels({ archKernels: ['conv', 'norm'], conditional: false, criticNorm: 'none' }));
  const x = tf.tensor4d(Array.from({ length: 2 * 6 * 6 * 3 }, (_, i) => Math.sin(i)), [2, 6, 6, 3]);
  const base = Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i) / 4);
  // The loss is quadratic in the filter, so a central difference is exact up to float32 rounding.
  const loss = (f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, 2, 'same')));
  const analytic = tf.tidy(() => tf.grad(loss)(tf.tensor4d(base, [3, 3, 3, 4])).dataSync().slice());
  const h = 1e-2;
  for (let i = 0; i < base.length; i++) {
    const at = (d: number) => tf.tidy(() => loss(tf.tensor4d(base.map((v, j) => (j === i ? v + d : v)), [3, 3, 3, 4])).dataSync()[0]);
    const numeric = (at(h) - at(-h)) / (2 * h);
    assert.ok(Math.abs(analytic[i] - numeric) <= 2e-2 * (1 + Math.abs(numeric)), `element ${i}: ${analytic[i]} vs ${numeric}`);
  }
  x.dispose();
});

test('an explicit --backend is used as asked', async () => {
  const info = await startBackend('cpu', requiredKernels({ archKernels: [], conditional: false, criticNorm: 'none' }));
  assert.equal(info.name, 'cpu');
  assert.equal(info.reason, 'requested with --backend');
});

test('--matmul: auto takes the host engine when it opens and says why not when it does not; onnxruntime refuses to run without it; xnnpack leaves it off', async () => {
  const engine = { describe: 'a test engine', run: () => new Float32Array(0) };
  const on = await startBackend('wasm', [], { matmul: 'auto', openGemm: () => engine });
  assert.match(on.reason, /; matrix products on a test engine \((every core|the most wganx starts, of \d+ cores)\); /);
  assert.equal(on.matmul, 'a test engine');
  assert.equal(hostGemm(), engine);
  const off = await startBackend('wasm', [], { matmul: 'auto', openGemm: () => 'the binding did not load' });
  assert.match(off.reason, /; matrix products on XNNPACK \(the binding did not load\)$/);
  assert.equal(hostGemm(), null);
  await assert.rejects(startBackend('wasm', [], { matmul: 'onnxruntime', openGemm: () => 'the binding did not load' }), /--matmul: "onnxruntime" is not allowed; expected auto or xnnpack here: the host engine did not open \(the binding did not load\)/);
  const asked = await startBackend('wasm', [], { matmul: 'xnnpack', openGemm: () => engine });
  assert.match(asked.reason, /; matrix products on XNNPACK$/);
  assert.equal(hostGemm(), null);
});
