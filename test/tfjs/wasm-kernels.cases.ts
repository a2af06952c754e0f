/**
 * Every kernel wganx registers or replaces on the wasm backend, against the cpu backend on random
 * shapes (strides, padding, kernel sizes, channel counts, batch 1 and 64): the convolution's
 * filter and input gradients (im2col / col2im + XNNPACK), the transposed convolution that
 * generators run forward, the last-two-axes transpose, matrix products with transposed operands,
 * LeakyRelu, Tanh, FusedBatchNorm, Identity, Sum and Mean over leading axes, and
 * UnsortedSegmentSum. atol 1e-4 relative to each value's size.
 *
 * Each comparison runs twice: with wasm's matrix products and convolutions on XNNPACK
 * (`--matmul xnnpack`) and on onnxruntime-node's native kernels (src/tfjs/wasm-host-gemm.ts,
 * src/runtime/node-gemm.ts; `--matmul auto`, the default of `wganx train`). And the whole set runs
 * in two processes (the wasm backend's build is fixed when it first starts): on the one-thread
 * build (wasm-kernels.test.ts: a plain heap, which onnxruntime reads and writes in place) and on
 * the threaded build (wasm-kernels-threaded.test.ts: a SharedArrayBuffer heap, operands copied out).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { CounterRng } from '../../src/core/random.js';
import { startBackend, type BackendOptions, type MatmulChoice } from '../../src/tfjs/backend.js';
import { axisPhases } from '../../src/tfjs/kernels/conv2d-backprop-input.js';
import { hostGemm } from '../../src/tfjs/wasm-host-gemm.js';
import type { HostGemm } from '../../src/core/gemm.js';
import { openNodeGemm } from '../../src/runtime/node-gemm.js';

/** How the wasm side runs its products in the test running now (set by bothEngines). */
let matmul: MatmulChoice = 'xnnpack';
/** The wasm backend's threads in this process (fixed by its first start). */
let wasmThreads = 1;

/** Define every test, with the wasm backend started on `threads` threads (1: the one-thread build). */
export function defineKernelTests(threads: number): void {
  wasmThreads = threads;

  const ATOL = 1e-4;
  const CONV_KERNELS = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'];

  /** Wraps the engine the wasm side opens (to count its calls), when set. */
  let engineHook: ((engine: HostGemm) => HostGemm) | null = null;
  const wasmOptions = (): BackendOptions => ({
    matmul,
    threads: wasmThreads,
    openGemm: (threads) => {
      const engine = openNodeGemm({ threads });
      return engineHook && typeof engine !== 'string' ? engineHook(engine) : engine;
    },
  });

  test(`the wasm backend starts on ${threads === 1 ? 'the one-thread build (a plain heap)' : `${threads} threads (a SharedArrayBuffer heap)`}`, async () => {
    await startBackend('wasm', CONV_KERNELS, { threads });
    const heap = (tf.backend() as unknown as { wasm: { HEAPF32: Float32Array } }).wasm.HEAPF32;
    assert.equal(heap.buffer instanceof SharedArrayBuffer, threads > 1);
  });

  /** Run `f` on both backends with the same inputs (given as plain arrays) and return both results. */
  async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<{ wasm: Float32Array[]; cpu: Float32Array[] }> {
    const out: Record<string, Float32Array[]> = {};
    for (const backend of ['wasm', 'cpu'] as const) {
      await startBackend(backend, CONV_KERNELS, backend === 'wasm' ? wasmOptions() : {});
      if (backend === 'wasm') assert.equal(hostGemm() !== null, matmul !== 'xnnpack', `the host engine is ${hostGemm() ? 'on' : 'off'} with --matmul ${matmul}`);
      out[backend] = tf.tidy(() => {
        const r = f();
        return (Array.isArray(r) ? r : [r]).map((t) => t.dataSync() as Float32Array);
      });
    }
    return { wasm: out.wasm, cpu: out.cpu };
  }

  /** Define the test twice: products on XNNPACK and on onnxruntime-node. */
  function bothEngines(name: string, fn: () => Promise<void>): void {
    for (const mode of ['xnnpack', 'onnxruntime'] as const) {
      test(`${name} [--matmul ${mode}]`, async () => {
        matmul = mode;
        await fn();
      });
    }
  }

  /**
   * For convolutions: also on an engine with products only (onnxruntime's without its direct
   * convolutions, as an engine without NCHWc kernels is): patches times filters, stride phases of
   * products, ConvTranspose.
   */
  function everyEngine(name: string, fn: () => Promise<void>): void {
    bothEngines(name, fn);
    test(`${name} [--matmul onnxruntime, products only]`, async () => {
      matmul = 'onnxruntime';
      engineHook = (engine) => ({ describe: engine.describe, run: engine.run.bind(engine), convTranspose: engine.convTranspose?.bind(engine) });
      try {
        await fn();
      } finally {
        engineHook = null;
      }
    });
  }

  function assertClose(got: Float32Array, want: Float32Array, what: string): void {
    assert.equal(got.length, want.length, `${what}: length`);
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(got[i] - want[i]) <= ATOL * (1 + Math.abs(want[i])))) assert.fail(`${what} [${i}]: wasm ${got[i]}, cpu ${want[i]}`);
    }
  }

  const rng = new CounterRng(20261129, 7);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(1, xs.length)[0]];
  const values = (n: number) => rng.normal(n);

  interface ConvCase {
    batch: number;
    h: number;
    w: number;
    ci: number;
    co: number;
    k: number;
    stride: number;
    pad: 'same' | 'valid';
  }

  /** Random convolution shapes, plus the two of the DCGAN critic at batch 64. */
  function convCases(): ConvCase[] {
    const cases: ConvCase[] = [
      { batch: 64, h: 28, w: 28, ci: 1, co: 32, k: 4, stride: 2, pad: 'same' },
      { batch: 64, h: 14, w: 14, ci: 32, co: 64, k: 4, stride: 2, pad: 'same' },
      // The colour critic's first and last layers (32×32×3 → 32 channels; 8×8×64 → 128).
      { batch: 8, h: 32, w: 32, ci: 3, co: 32, k: 4, stride: 2, pad: 'same' },
      { batch: 8, h: 8, w: 8, ci: 64, co: 128, k: 4, stride: 2, pad: 'same' },
    ];
    for (let i = 0; i < 14; i++) {
      const k = pick([1, 3, 4, 5]);
      const h = pick([5, 7, 8, 9, 14]);
      cases.push({ batch: pick([1, 2, 5]), h, w: pick([h, 6, 11]), ci: pick([1, 3, 8, 32]), co: pick([1, 2, 16]), k: Math.min(k, h), stride: pick([1, 2, 3]), pad: pick(['same', 'valid'] as const) });
    }
    return cases;
  }

  everyEngine('Conv2DBackpropFilter and Conv2DBackpropInput on wasm equal the cpu backend (gradients of conv2d w.r.t. filter and input)', async () => {
    for (const c of convCases()) {
      const xv = values(c.batch * c.h * c.w * c.ci);
      const wv = values(c.k * c.k * c.ci * c.co);
      let gv: Float32Array | null = null;
      const { wasm, cpu } = await onBoth(() => {
        const x = tf.tensor4d(xv, [c.batch, c.h, c.w, c.ci]);
        const w = tf.tensor4d(wv, [c.k, c.k, c.ci, c.co]);
        const y = tf.conv2d(x, w, c.stride, c.pad);
        gv ??= values(y.size);
        const g = tf.tensor(gv, y.shape);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), g)))([x, w]);
        return [y, dx, dw];
      });
      const what = JSON.stringify(c);
      assertClose(wasm[0], cpu[0], `${what} conv2d`);
      assertClose(wasm[1], cpu[1], `${what} dx (Conv2DBackpropInput)`);
      assertClose(wasm[2], cpu[2], `${what} dW (Conv2DBackpropFilter)`);
    }
  });

  test('the input gradient splits into stride phases where the stride tiles the input, and falls back to col2im where not', () => {
    // A DCGAN layer (4×4, stride 2, 'same': pad 1): each phase takes 2 taps per axis.
    assert.deepEqual(axisPhases(4, 2, 1, 14, 7), [
      { r: 0, taps: 2, dmax: 1, before: 1, after: 0 },
      { r: 1, taps: 2, dmax: 0, before: 0, after: 1 },
    ]);
    assert.equal(axisPhases(3, 1, 1, 6, 6)?.length, 1); // stride 1: one phase, the flipped filter
    assert.equal(axisPhases(4, 2, 1, 13, 7), null); // 13 rows do not tile into phases of 2
    assert.equal(axisPhases(1, 3, 0, 6, 2), null); // a 1-tap filter at stride 3: phases 1 and 2 get nothing
  });

  everyEngine('conv2dTranspose (a generator layer: Conv2DBackpropInput run forward) and its gradients on wasm equal cpu', async () => {
    // The MNIST DCGAN's and the colour generator's layers (4×4×128 → 8×8×64, 16×16×32 → 32×32×3), and odd shapes.
    for (const [batch, h, ci, co, k, stride] of [[64, 7, 64, 32, 4, 2], [1, 14, 32, 1, 4, 2], [8, 4, 128, 64, 4, 2], [8, 16, 32, 3, 4, 2], [3, 5, 3, 4, 3, 1], [2, 6, 8, 2, 5, 2]]) {
      const out = h * stride;
      const xv = values(batch * h * h * ci);
      const wv = values(k * k * co * ci);
      const gv = values(batch * out * out * co);
      const { wasm, cpu } = await onBoth(() => {
        const x = tf.tensor4d(xv, [batch, h, h, ci]);
        const w = tf.tensor4d(wv, [k, k, co, ci]);
        const g = tf.tensor4d(gv, [batch, out, out, co]);
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [batch, out, out, co], stride, 'same');
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), g)))([x, w]);
        return [f(x, w), dx, dw];
      });
      for (const [i, name] of ['output', 'dx', 'dW'].entries()) assertClose(wasm[i], cpu[i], `conv2dTranspose ${[batch, h, ci, co, k, stride]} ${name}`);
    }
  });

  test('with onnxruntime as the engine, forward convolutions and both gradients run on its direct (NCHWc) convolutions, and agree with cpu', async (t) => {
    if (process.arch !== 'x64') return t.skip('NCHWc kernels are checked on x64 (AVX2 / AVX-512)');
    matmul = 'onnxruntime';
    const calls = { conv2d: 0, convTranspose: 0, conv2dFilter: 0 };
    engineHook = (engine) => ({
      describe: engine.describe,
      run: engine.run.bind(engine),
      conv2d: (...a) => (calls.conv2d++, engine.conv2d!(...a)),
      convTranspose: (...a) => (calls.convTranspose++, engine.convTranspose!(...a)),
      conv2dFilter: (...a) => (calls.conv2dFilter++, engine.conv2dFilter!(...a)),
    });
    const xv = values(4 * 16 * 16 * 32);
    const wv = values(4 * 4 * 32 * 64);
    const gv = values(4 * 8 * 8 * 64);
    try {
      const { wasm, cpu } = await onBoth(() => {
        const x = tf.tensor4d(xv, [4, 16, 16, 32]);
        const w = tf.tensor4d(wv, [4, 4, 32, 64]);
        const g = tf.tensor4d(gv, [4, 8, 8, 64]);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), g)))([x, w]);
        return [tf.conv2d(x, w, 2, 'same'), dx, dw];
      });
      assertClose(wasm[0], cpu[0], 'conv2d');
      assertClose(wasm[1], cpu[1], 'dx');
      assertClose(wasm[2], cpu[2], 'dW');
    } finally {
      engineHook = null;
    }
    assert.ok(calls.conv2d >= 2 && calls.convTranspose >= 1 && calls.conv2dFilter >= 1, `direct convolutions: ${JSON.stringify(calls)}`);
  });

  test('Transpose of the last two axes (float32 through the heap, int32 by the original kernel) equals cpu', async () => {
    for (const shape of [[1, 1], [3, 7], [64, 512], [2, 33, 65], [2, 3, 40, 17]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const v = values(n);
      const perm = [...shape.keys()];
      [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
      const { wasm, cpu } = await onBoth(() => [tf.transpose(tf.tensor(v, shape), perm), tf.transpose(tf.tensor(Int32Array.from(v, (x) => Math.round(x * 1000)), shape, 'int32'), perm).toFloat()]);
      assert.deepEqual(Array.from(wasm[0]), Array.from(cpu[0]), `float32 ${shape}`);
      assert.deepEqual(Array.from(wasm[1]), Array.from(cpu[1]), `int32 ${shape}`);
    }
    // Other permutations still go through the original kernel.
    const v = values(2 * 3 * 4);
    const { wasm, cpu } = await onBoth(() => tf.transpose(tf.tensor(v, [2, 3, 4]), [2, 0, 1]));
    assert.deepEqual(Array.from(wasm[0]), Array.from(cpu[0]));
  });

  bothEngines('matrix products with transposed operands (explicit transpose + XNNPACK) equal cpu, batch 1 and 64', async () => {
    for (const [batch, m, k, n] of [[1, 64, 512, 512], [64, 3, 5, 7], [1, 1, 9, 1], [2, 128, 784, 512]]) {
      const av = values(batch * m * k);
      const bv = values(batch * k * n);
      const biasV = values(n);
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const { wasm, cpu } = await onBoth(() => {
          const a = tf.tensor3d(av, ta ? [batch, k, m] : [batch, m, k]);
          const b = tf.tensor3d(bv, tb ? [batch, n, k] : [batch, k, n]);
          return [tf.matMul(a, b, ta, tb), tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias: tf.tensor1d(biasV), activation: 'relu' })];
        });
        assertClose(wasm[0], cpu[0], `matMul ${[batch, m, k, n]} ${ta} ${tb}`);
        assertClose(wasm[1], cpu[1], `fused matMul ${[batch, m, k, n]} ${ta} ${tb}`);
      }
    }
  });

  bothEngines('matrix products with transposed operands and a broadcast batch (one side has batch 1) equal cpu', async () => {
    for (const [ba, bb] of [[3, 1], [1, 3]]) {
      const [m, k, n] = [6, 40, 33];
      const av = values(ba * m * k);
      const bv = values(bb * k * n);
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const biasV = values(n);
        const { wasm, cpu } = await onBoth(() => {
          const a = tf.tensor3d(av, ta ? [ba, k, m] : [ba, m, k]);
          const b = tf.tensor3d(bv, tb ? [bb, n, k] : [bb, k, n]);
          return [tf.matMul(a, b, ta, tb), tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias: tf.tensor1d(biasV), activation: 'relu' })];
        });
        assertClose(wasm[0], cpu[0], `matMul batches ${ba}/${bb} ${ta} ${tb}`);
        assertClose(wasm[1], cpu[1], `fused matMul batches ${ba}/${bb} ${ta} ${tb}`);
      }
    }
  });

  everyEngine('fused convolutions (bias, then an activation: what a Conv2D layer runs forward) equal cpu for every activation', async () => {
    for (const [batch, h, ci, co, k, stride, pad] of [[64, 14, 32, 64, 4, 2, 'same'], [3, 9, 3, 5, 3, 1, 'valid'], [2, 7, 8, 4, 5, 3, 'same']] as const) {
      const xv = values(batch * h * h * ci);
      const wv = values(k * k * ci * co);
      const biasV = values(co);
      for (const activation of ['linear', 'relu', 'leakyrelu', 'elu'] as const) {
        const { wasm, cpu } = await onBoth(() =>
          tf.fused.conv2d({ x: tf.tensor4d(xv, [batch, h, h, ci]), filter: tf.tensor4d(wv, [k, k, ci, co]), strides: stride, pad, bias: tf.tensor1d(biasV), activation, leakyreluAlpha: 0.3 }),
        );
        assertClose(wasm[0], cpu[0], `fused conv2d ${[batch, h, ci, co, k, stride, pad]} ${activation}`);
      }
    }
  });

  bothEngines('batched fused products with a bias (wrong in tfjs-backend-wasm 4.22 itself) equal cpu for every activation', async () => {
    const av = values(64 * 3 * 5);
    const bv = values(64 * 5 * 7);
    const biasV = values(7);
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const) {
      const { wasm, cpu } = await onBoth(() => {
        const extra = activation === 'prelu' ? { preluActivationWeights: tf.fill([7], 0.3) } : activation === 'leakyrelu' ? { leakyreluAlpha: 0.2 } : {};
        return tf.fused.matMul({ a: tf.tensor3d(av, [64, 3, 5]), b: tf.tensor3d(bv, [64, 5, 7]), bias: tf.tensor1d(biasV), activation, ...extra });
      });
      assertClose(wasm[0], cpu[0], `fused ${activation}`);
    }
  });

  test('Tile and broadcastTo (block copies in the heap for float32) equal cpu, every rank, repeats of 1 and 0, int32 by the original kernel', async () => {
    const cases: [number[], number[]][] = [[[5], [3]], [[1, 1, 1, 32], [6, 4, 3, 1]], [[1, 31], [7, 1]], [[2, 3], [1, 1]], [[2, 1, 3], [2, 5, 2]], [[3, 2, 1, 2], [1, 2, 3, 2]], [[4, 2], [0, 3]]];
    for (const [shape, reps] of cases) {
      const v = values(shape.reduce((a, b) => a * b, 1));
      const { wasm, cpu } = await onBoth(() => [tf.tile(tf.tensor(v, shape), reps), tf.tile(tf.tensor(Int32Array.from(v, (x) => Math.round(x * 1000)), shape, 'int32'), reps).toFloat()]);
      assertClose(wasm[0], cpu[0], `tile ${shape} × ${reps}`);
      assertClose(wasm[1], cpu[1], `tile int32 ${shape} × ${reps}`);
    }
    const v = values(32);
    const { wasm, cpu } = await onBoth(() => tf.broadcastTo(tf.tensor(v, [1, 1, 1, 32]), [8, 5, 5, 32]));
    assertClose(wasm[0], cpu[0], 'broadcastTo');
  });

  test('GatherV2 (an Embedding lookup: row copies in the heap for float32) equals cpu on every axis, 1-D and 2-D indices; out-of-range indices are refused', async () => {
    const v = values(4 * 10 * 6);
    const ids1 = Int32Array.from({ length: 128 }, (_, i) => (i * 7) % 10);
    const ids2 = Int32Array.from({ length: 6 }, (_, i) => (i * 3) % 4);
    const { wasm, cpu } = await onBoth(() => {
      const x = tf.tensor3d(v, [4, 10, 6]);
      return [
        tf.gather(tf.tensor2d(v.subarray(0, 60), [10, 6]), tf.tensor1d(ids1, 'int32')),
        tf.gather(x, tf.tensor1d(ids1, 'int32'), 1),
        tf.gather(x, tf.tensor2d(ids2, [2, 3], 'int32'), 0),
        tf.gather(x, tf.tensor1d(Int32Array.of(5, 0), 'int32'), 2),
        tf.gather(tf.tensor2d(Int32Array.from(v.subarray(0, 60), (t) => Math.round(t * 100)), [10, 6], 'int32'), tf.tensor1d(ids1, 'int32')).toFloat(),
      ];
    });
    for (let i = 0; i < cpu.length; i++) assert.deepEqual(Array.from(wasm[i]), Array.from(cpu[i]), `gather case ${i}`);
    await startBackend('wasm', CONV_KERNELS, wasmOptions());
    assert.throws(() => tf.tidy(() => tf.gather(tf.zeros([10, 6]), tf.tensor1d([3, 10], 'int32'))), /GatherV2: the index value 10 is not in \[0, 9\]/);
  });

  bothEngines('LeakyRelu (four SIMD kernels) and Sum / Mean over leading axes (a product with a row of ones) equal cpu; other reductions and dtypes by the original kernels', async () => {
    const v = values(16 * 14 * 14 * 32);
    v[0] = 0;
    v[1] = -0.5;
    const { wasm, cpu } = await onBoth(() => {
      const x = tf.tensor4d(v, [16, 14, 14, 32]);
      const small = tf.tensor3d(v.subarray(0, 24), [2, 3, 4]);
      return [
        tf.leakyRelu(x, 0.2),
        tf.leakyRelu(small, 1),
        tf.leakyRelu(small, 0),
        tf.leakyRelu(small, 1.5), // α outside [0, 1]: the original kernel
        tf.sum(x, [0, 1, 2]),
        tf.sum(x, [2, 1, 0], true),
        tf.mean(x, [0, 1, 2]),
        tf.mean(x, [-4, -3], true),
        tf.sum(small, 0),
        tf.mean(small, [0, 1]),
        tf.sum(small, 1), // not leading: the original kernels
        tf.mean(small, [1, 2]),
        tf.sum(small),
        tf.sum(tf.tensor2d(Int32Array.from(v.subarray(0, 24), (t) => Math.round(t * 100)), [6, 4], 'int32'), 0).toFloat(),
      ];
    });
    const shapes = [[16, 14, 14, 32], [2, 3, 4], [2, 3, 4], [2, 3, 4], [32], [1, 1, 1, 32], [32], [1, 1, 14, 32], [3, 4], [4], [2, 4], [2], [], [4]];
    assert.equal(wasm.length, shapes.length);
    for (let i = 0; i < cpu.length; i++) {
      assert.equal(wasm[i].length, shapes[i].reduce((p, q) => p * q, 1), `case ${i}: ${wasm[i].length} values`);
      assertClose(wasm[i], cpu[i], `leakyRelu / sum / mean case ${i}`);
    }
    assert.equal(wasm[0][0], 0);
    assert.ok(Math.abs(wasm[0][1] - -0.1) < 1e-7);
  });

  test('Tanh (through sigmoid), FusedBatchNorm (per-channel: two broadcast kernels) and Identity (shared data) equal cpu; other shapes by the original kernels', async () => {
    const v = values(8 * 7 * 7 * 16);
    const c = values(16 * 4);
    const { wasm, cpu } = await onBoth(() => {
      const x = tf.tensor4d(v, [8, 7, 7, 16]);
      const mean = tf.tensor1d(c.subarray(0, 16));
      const variance = tf.tensor1d(c.subarray(16, 32).map((t) => t * t + 0.1));
      const offset = tf.tensor1d(c.subarray(32, 48));
      const scale = tf.tensor1d(c.subarray(48, 64));
      const shifted = tf.add(x, 30); // mean far from 0 against the spread
      const copy = tf.engine().runKernel('Identity', { x: shifted }) as tf.Tensor;
      shifted.dispose(); // the copy keeps the shared data
      return [
        tf.tanh(tf.mul(x, 4)),
        tf.batchNorm(x, mean, variance, offset, scale, 1e-3),
        tf.batchNorm(x, mean, variance, undefined, undefined, 1e-5),
        tf.batchNorm(copy, tf.moments(copy, [0, 1, 2]).mean, tf.moments(copy, [0, 1, 2]).variance, offset, scale, 1e-3),
        tf.batchNorm(tf.tensor2d(v.subarray(0, 48), [3, 16]), tf.tensor2d(c.subarray(0, 48), [3, 16]), tf.add(tf.square(tf.tensor2d(c.subarray(16, 64), [3, 16])), 0.1)), // not per channel
        copy,
      ];
    });
    for (let i = 0; i < cpu.length; i++) assertClose(wasm[i], cpu[i], `tanh / batchNorm / identity case ${i}`);
  });

  test('UnsortedSegmentSum (the gradient of an Embedding) equals cpu', async () => {
    const v = values(64 * 12);
    // Repeated ids, one out of range (dropped), and segments 10 and 11 with no rows (zeros).
    const ids = Int32Array.from({ length: 64 }, (_, i) => (i === 5 ? 12 : (i * 7) % 10));
    const { wasm, cpu } = await onBoth(() => tf.unsortedSegmentSum(tf.tensor2d(v, [64, 12]), tf.tensor1d(ids, 'int32'), 12));
    assertClose(wasm[0], cpu[0], 'unsortedSegmentSum');
    assert.ok(wasm[0].subarray(120).every((x) => x === 0), 'empty segments are zeros');
  });

  bothEngines('the wasm kernels leak no tensors and no backend memory over a training-like loop', async () => {
    await startBackend('wasm', CONV_KERNELS, wasmOptions());
    const x = tf.randomNormal([8, 14, 14, 4]) as tf.Tensor4D;
    const w = tf.variable(tf.randomNormal([4, 4, 4, 8]) as tf.Tensor4D);
    const step = () => tf.tidy(() => {
      const { grads } = tf.variableGrads(() => {
        const y = tf.leakyRelu(tf.conv2d(x, w, 2, 'same'), 0.2);
        return tf.add(tf.sum(tf.square(y)), tf.sum(tf.mean(y, [0, 1, 2])));
      }, [w]);
      w.assign(tf.sub(w, tf.mul(grads[w.name], 1e-3)));
    });
    step();
    // The kernels' temporaries are backend data the engine never sees: count those too.
    const dataIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const before = { ...tf.memory(), dataIds: dataIds() };
    for (let i = 0; i < 5; i++) step();
    const after = { ...tf.memory(), dataIds: dataIds() };
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.numBytes, before.numBytes);
    assert.equal(after.dataIds, before.dataIds);
    tf.dispose([x, w]);
  });
}
