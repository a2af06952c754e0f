/**
 * DiffAugment (src/train/diffaugment.ts): what each policy does to an image, seeded draws, the
 * gradient through every policy against finite differences, the flag's parsing, and a training
 * run with it that stops and resumes bit-identically (the augment stream is checkpointed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { CounterRng, STREAMS } from '../../src/core/random.js';
import { startBackend } from '../../src/tfjs/backend.js';
import { diffAugment, parseDiffAugment, type DiffAugmentPolicy } from '../../src/train/diffaugment.js';
import { train } from '../../src/train/run.js';
import { tempDir, tinyConfig } from './helpers.js';

const S = 8;

/** A [B, S, S, C] batch of distinct values in [-1, 1]. */
function batch(b: number, c: number): tf.Tensor4D {
  const n = b * S * S * c;
  // Never exactly 0, so that a zero in the output is the augmentation's.
  return tf.tensor4d(Float32Array.from({ length: n }, (_, i) => 0.5 + 0.4 * Math.sin(i * 1.7)), [b, S, S, c]);
}

function augmented(x: tf.Tensor, policies: DiffAugmentPolicy[], seed = 1): Float32Array {
  return tf.tidy(() => diffAugment(x, policies, new CounterRng(seed, STREAMS.augment)).dataSync() as Float32Array);
}

test('translation moves each image by at most S/8 pixels per axis and fills the border with zeros', async () => {
  await startBackend('cpu', []);
  const x = batch(6, 2);
  const src = x.dataSync();
  const out = augmented(x, ['translation']);
  const at = (a: ArrayLike<number>, i: number, y: number, xx: number, c: number) => a[((i * S + y) * S + xx) * 2 + c];
  const max = Math.floor(S / 8 + 0.5);
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    let match: string | null = null;
    for (let dy = -max; dy <= max && !match; dy++) {
      for (let dx = -max; dx <= max && !match; dx++) {
        let ok = true;
        for (let y = 0; y < S && ok; y++) for (let xx = 0; xx < S && ok; xx++) for (let c = 0; c < 2 && ok; c++) {
          const sy = y - dy;
          const sx = xx - dx;
          const want = sy >= 0 && sy < S && sx >= 0 && sx < S ? at(src, i, sy, sx, c) : 0;
          ok = Math.abs(at(out, i, y, xx, c) - want) < 1e-6;
        }
        if (ok) match = `${dy},${dx}`;
      }
    }
    assert.ok(match, `image ${i} is not a shift of at most ${max} pixels`);
    seen.add(match);
  }
  assert.ok(seen.size > 1, 'the shifts differ between images');
  x.dispose();
});

test('cutout zeroes one square of side S/2 (clipped at the border) and keeps every other value', async () => {
  await startBackend('cpu', []);
  const x = batch(8, 1);
  const src = x.dataSync();
  const out = augmented(x, ['cutout'], 3);
  for (let i = 0; i < 8; i++) {
    const zeros: [number, number][] = [];
    for (let y = 0; y < S; y++) for (let xx = 0; xx < S; xx++) {
      const k = (i * S + y) * S + xx;
      if (out[k] === 0) zeros.push([y, xx]);
      else assert.equal(out[k], src[k]);
    }
    const ys = zeros.map((z) => z[0]);
    const xs = zeros.map((z) => z[1]);
    const h = Math.max(...ys) - Math.min(...ys) + 1;
    const w = Math.max(...xs) - Math.min(...xs) + 1;
    assert.equal(zeros.length, h * w, 'a filled rectangle');
    assert.ok(h <= S / 2 && w <= S / 2 && zeros.length >= (S / 4) * (S / 4), `${h}×${w}`);
  }
  x.dispose();
});

test('color keeps grey images grey (saturation has nothing to act on) and moves each image by its own brightness/contrast', async () => {
  await startBackend('cpu', []);
  const grey = tf.tidy(() => tf.tile(batch(4, 1), [1, 1, 1, 3]));
  const out = augmented(grey, ['color']);
  for (let k = 0; k < out.length; k += 3) assert.ok(Math.abs(out[k] - out[k + 1]) < 1e-5 && Math.abs(out[k] - out[k + 2]) < 1e-5);
  const means = [0, 1, 2, 3].map((i) => out.subarray(i * S * S * 3, (i + 1) * S * S * 3).reduce((a, b) => a + b, 0) / (S * S * 3));
  const src = grey.dataSync() as Float32Array;
  const srcMeans = [0, 1, 2, 3].map((i) => src.subarray(i * S * S * 3, (i + 1) * S * S * 3).reduce((a, b) => a + b, 0) / (S * S * 3));
  const shifts = means.map((m, i) => m - srcMeans[i]);
  assert.ok(shifts.every((d) => Math.abs(d) <= 0.5 + 1e-5) && new Set(shifts.map((d) => d.toFixed(4))).size === 4, `brightness ${shifts}`);
  grey.dispose();
});

test('the same stream state gives the same augmentation; an empty policy is the identity', async () => {
  await startBackend('cpu', []);
  const x = batch(3, 3);
  const all: DiffAugmentPolicy[] = ['color', 'translation', 'cutout'];
  assert.deepEqual(Array.from(augmented(x, all, 9)), Array.from(augmented(x, all, 9)));
  assert.notDeepEqual(Array.from(augmented(x, all, 9)), Array.from(augmented(x, all, 10)));
  assert.equal(diffAugment(x, [], new CounterRng(1, STREAMS.augment)), x);
  x.dispose();
});

test('the gradient through color + translation + cutout matches central finite differences', async () => {
  await startBackend('cpu', []);
  const x = batch(2, 3);
  const weights = tf.tensor4d(Float32Array.from({ length: 2 * S * S * 3 }, (_, i) => Math.cos(i * 0.37)), [2, S, S, 3]);
  const policies: DiffAugmentPolicy[] = ['color', 'translation', 'cutout'];
  // Each evaluation draws the same parameters: a fresh stream at the same state.
  const f = (v: tf.Tensor) => tf.sum(tf.mul(weights, diffAugment(v, policies, new CounterRng(4, STREAMS.augment)))) as tf.Scalar;
  const analytic = tf.tidy(() => tf.grad(f)(x).dataSync() as Float32Array);
  const base = x.dataSync();
  const h = 1e-2; // f is linear in x for fixed parameters: the central difference is exact up to rounding
  let worst = 0;
  for (let k = 0; k < base.length; k += 7) {
    const plus = Float32Array.from(base);
    const minus = Float32Array.from(base);
    plus[k] += h;
    minus[k] -= h;
    const numeric = tf.tidy(() => (f(tf.tensor4d(plus, x.shape)).dataSync()[0] - f(tf.tensor4d(minus, x.shape)).dataSync()[0]) / (2 * h));
    worst = Math.max(worst, Math.abs(numeric - analytic[k]));
  }
  assert.ok(worst < 2e-3, `max |analytic − numeric| = ${worst}`);
  // Cutout alone: no gradient reaches the cut square, all of it reaches the rest.
  const cut = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(diffAugment(v, ['cutout'], new CounterRng(4, STREAMS.augment))))(x).dataSync() as Float32Array);
  assert.ok(cut.some((g) => g === 0) && cut.some((g) => g === 1) && cut.every((g) => g === 0 || g === 1));
  tf.dispose([x, weights]);
});

test('--diffaugment parses any subset in canonical order, none, and names the flag on a typo', () => {
  assert.deepEqual(parseDiffAugment('cutout,color'), ['color', 'cutout']);
  assert.deepEqual(parseDiffAugment('none'), []);
  assert.deepEqual(parseDiffAugment('translation, color,translation'), ['color', 'translation']);
  assert.throws(() => parseDiffAugment('colour'), /--diffaugment.*colour.*color, translation, cutout/);
  assert.throws(() => tinyConfig('runs/x', { diffaugment: 'color' }), /--diffaugment.*none for the 2-D point data set ring8/);
});

test('a DCGAN run with --diffaugment stops and resumes bit-identically (the augment stream is checkpointed)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'data');
    for (const cls of ['a', 'b']) {
      mkdirSync(join(data, cls), { recursive: true });
      for (let i = 0; i < 3; i++) {
        const px = Buffer.alloc(16 * 16 * 3, cls === 'a' ? 40 * i : 255 - 40 * i);
        await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(join(data, cls, `${i}.png`));
      }
    }
    const opts = { dataset: data, conditional: true, arch: 'dcgan' as const, imageSize: 16, hidden: 2, latent: 4, batch: 4, steps: 4, diffaugment: 'color,translation,cutout', holdout: 0 };
    const quiet = { progress: false, log: () => {} };
    const straight = await train(tinyConfig(join(dir, 'straight'), opts), quiet);
    let reads = 0;
    const signal = { get aborted() { return ++reads > 2; } };
    const stopped = await train(tinyConfig(join(dir, 'split'), opts), { ...quiet, signal });
    assert.equal(stopped.stepsDone, 2);
    const resumed = await train({ ...tinyConfig(join(dir, 'split'), opts), resume: true }, quiet);
    const losses = (r: typeof straight) => r.summary!.records.map((m) => [m.w, m.criticLoss, m.generatorLoss, m.penalty]);
    assert.deepEqual(losses(resumed), losses(straight));
    assert.equal(straight.summary!.records.length, 4);
  } finally {
    cleanup();
  }
});
