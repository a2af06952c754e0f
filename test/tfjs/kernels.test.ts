/**
 * The wasm kernel list (src/tfjs/kernels/register-all.ts): once the wasm backend starts, every
 * kernel wganx adds or patches is the one tfjs runs, registered with our kernel function. The
 * numbers each gives are compared with cpu in ./wasm-kernels.cases.ts; this fails when a patch
 * is dropped from the list or replaced by tfjs's own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../../src/tfjs/backend.js';
import { registerWasmKernel, wganxKernelOf } from '../../src/tfjs/kernels/kernel.js';
import { WASM_KERNELS } from '../../src/tfjs/kernels/register-all.js';

/** What training on wasm relies on: kernels wasm lacks or gets wrong, the host engine's products, and the speed patches. */
const EXPECTED = [
  'UnsortedSegmentSum', 'Transpose', 'Tile', 'GatherV2', 'Identity', 'LeakyRelu', 'Tanh', 'FusedBatchNorm', 'Sum', 'Mean',
  'BatchMatMul', '_FusedMatMul', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Conv2D', 'FusedConv2D', 'FusedAdam',
];

test('every kernel of the list is registered on wasm with our kernel function', async () => {
  await startBackend('wasm', [], { matmul: 'xnnpack' });
  assert.deepEqual(WASM_KERNELS.map((k) => k.kernelName), EXPECTED);
  for (const config of WASM_KERNELS) {
    assert.notEqual(config.available?.() ?? true, false, `${config.kernelName} can run in this Node (WebAssembly SIMD)`);
    assert.equal(wganxKernelOf(config.kernelName), config, `${config.kernelName}: the wasm backend runs wganx's kernel`);
  }
});

test("a kernel registered over ours is not taken for ours; registering again puts ours back, once", async () => {
  await startBackend('wasm', [], { matmul: 'xnnpack' });
  const tanh = tf.getKernel('Tanh', 'wasm')!;
  const config = wganxKernelOf('Tanh')!;
  tf.unregisterKernel('Tanh', 'wasm');
  tf.registerKernel({ ...tanh, kernelFunc: (args) => tanh.kernelFunc(args) });
  try {
    assert.equal(wganxKernelOf('Tanh'), null);
  } finally {
    tf.unregisterKernel('Tanh', 'wasm');
    tf.registerKernel(tanh);
  }
  assert.equal(wganxKernelOf('Tanh'), config);
  assert.equal(registerWasmKernel(config), true, 'already ours: nothing to do');
  assert.equal(tf.getKernel('Tanh', 'wasm')!.kernelFunc, tanh.kernelFunc, 'not wrapped twice');
});
