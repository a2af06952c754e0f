/**
 * Differentiable augmentation (DiffAugment, Zhao et al. 2020) for training on small image sets:
 * random colour, translation and cutout applied to every image the critic sees — real batches,
 * generated batches (the generator's gradient flows through the augmentation) and the penalty's
 * interpolates — so that the critic cannot memorise a few hundred images, while the generator is
 * still asked for un-augmented images. Each call draws fresh parameters per example from the
 * run's `augment` stream (so a run resumes bit-identically), as the authors' code does.
 *
 * Per example, images `[B, H, W, C]` in [-1, 1] (the authors' constants):
 * - color: brightness + U(−0.5, 0.5); saturation: (x − mean over C)·U(0, 2) + mean;
 *   contrast: (x − mean over H, W, C)·U(0.5, 1.5) + mean;
 * - translation: an integer shift of up to ⌊S/8 + ½⌋ pixels along each axis, zeros (mid grey) fill
 *   the uncovered border: as products with shifted identity matrices, so every step is a plain
 *   differentiable op on every backend;
 * - cutout: a square of side ⌊S/2 + ½⌋ at a random centre set to zero.
 * Every operation is linear in x for given parameters: test/train/diffaugment.test.ts checks the
 * gradient against finite differences.
 *
 * @example
 *   const y = diffAugment(x, ['color', 'translation', 'cutout'], rngs.augment);   // same shape as x
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../core/errors.js';
import type { CounterRng } from '../core/random.js';
import { CUTOUT_RATIO, TRANSLATION_RATIO, type DiffAugmentPolicy } from './diffaugment-policies.js';

export { DIFFAUGMENT_POLICIES, parseDiffAugment, type DiffAugmentPolicy } from './diffaugment-policies.js';

/** `n` integers uniform in [lo, hi] from `rng`. */
function randInts(rng: CounterRng, n: number, lo: number, hi: number): Int32Array {
  return Int32Array.from(rng.uniform(n), (u) => lo + Math.min(hi - lo, Math.floor(u * (hi - lo + 1))));
}

function color(x: tf.Tensor4D, rng: CounterRng): tf.Tensor4D {
  const b = x.shape[0];
  const per = (lo: number, hi: number) => tf.tensor4d(rng.uniform(b).map((u) => lo + u * (hi - lo)), [b, 1, 1, 1]);
  let y: tf.Tensor4D = tf.add(x, per(-0.5, 0.5));
  const channelMean = tf.mean(y, 3, true);
  y = tf.add(tf.mul(tf.sub(y, channelMean), per(0, 2)), channelMean);
  const imageMean = tf.mean(y, [1, 2, 3], true);
  return tf.add(tf.mul(tf.sub(y, imageMean), per(0.5, 1.5)), imageMean);
}

/** `[B, n, n]` matrices M with M[b, i, i − shift_b] = 1: M·v moves v by shift_b, zeros enter. */
function shiftMatrices(shifts: Int32Array, n: number): tf.Tensor3D {
  const m = new Float32Array(shifts.length * n * n);
  shifts.forEach((s, b) => {
    for (let i = 0; i < n; i++) {
      const j = i - s;
      if (j >= 0 && j < n) m[b * n * n + i * n + j] = 1;
    }
  });
  return tf.tensor3d(m, [shifts.length, n, n]);
}

function translation(x: tf.Tensor4D, rng: CounterRng): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const sh = Math.floor(h * TRANSLATION_RATIO + 0.5);
  const sw = Math.floor(w * TRANSLATION_RATIO + 0.5);
  const ty = randInts(rng, b, -sh, sh);
  const tx = randInts(rng, b, -sw, sw);
  // Rows: [B, H, H] · [B, H, W·C]; columns: the same on the transposed image.
  const rows = tf.reshape(tf.matMul(shiftMatrices(ty, h), tf.reshape(x, [b, h, w * c])), [b, h, w, c]);
  const cols = tf.matMul(shiftMatrices(tx, w), tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [b, w, h * c]));
  return tf.transpose(tf.reshape(cols, [b, w, h, c]), [0, 2, 1, 3]);
}

function cutout(x: tf.Tensor4D, rng: CounterRng): tf.Tensor4D {
  const [b, h, w] = x.shape;
  const ch = Math.floor(h * CUTOUT_RATIO + 0.5);
  const cw = Math.floor(w * CUTOUT_RATIO + 0.5);
  // Centres as in the authors' code: offset ∈ [0, side + (1 − cut mod 2)), square [offset − cut/2, offset + cut/2).
  const oy = randInts(rng, b, 0, h - (ch % 2));
  const ox = randInts(rng, b, 0, w - (cw % 2));
  const mask = new Float32Array(b * h * w).fill(1);
  for (let i = 0; i < b; i++) {
    for (let y = Math.max(0, oy[i] - Math.floor(ch / 2)); y < Math.min(h, oy[i] - Math.floor(ch / 2) + ch); y++) {
      for (let xx = Math.max(0, ox[i] - Math.floor(cw / 2)); xx < Math.min(w, ox[i] - Math.floor(cw / 2) + cw); xx++) mask[(i * h + y) * w + xx] = 0;
    }
  }
  return tf.mul(x, tf.tensor4d(mask, [b, h, w, 1]));
}

/** One function per policy (./diffaugment-policies.ts lists the names the flag accepts). */
const AUGMENTS: Readonly<Record<DiffAugmentPolicy, (x: tf.Tensor4D, rng: CounterRng) => tf.Tensor4D>> = { color, translation, cutout };

/** `x` `[B, H, W, C]` with `policies` applied in order (an empty list returns `x` itself). */
export function diffAugment(x: tf.Tensor, policies: readonly DiffAugmentPolicy[], rng: CounterRng): tf.Tensor {
  if (policies.length === 0) return x;
  if (x.rank !== 4) throw new InvalidArgumentError('--diffaugment', policies.join(','), 'image data (it augments [batch, height, width, channels] images)');
  // No tidy here: inside a gradient tape the intermediates belong to the caller's tidy.
  return policies.reduce((y, p) => AUGMENTS[p](y, rng), x as tf.Tensor4D);
}
