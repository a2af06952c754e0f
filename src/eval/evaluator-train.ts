/**
 * Train the MNIST evaluator (evaluator-model.ts) with tfjs on the MNIST **training split only**.
 *
 * The last {@link EvaluatorTrainConfig.validationPerClass} training digits of each class are kept
 * aside for monitoring (validation accuracy per epoch); the held-out split is never touched here.
 * Every run with the same config on the same backend is identical: seeded Glorot kernels, and the
 * order and random shifts of the digits come from the core's counter-based generator.
 *
 * Cost measured on this machine (wasm backend, one thread, the other core busy): 18–28 s per epoch
 * of 7,500 digits, about 5 minutes for the default 12 epochs, thanks to the filter-gradient kernel
 * of src/tfjs/conv-filter-grad.ts; without it the wasm backend cannot train convolutions at all and the cpu
 * backend managed 7 digits/s (about 18 minutes per epoch).
 *
 * The defaults were chosen on the validation digits only (batch 64 / shifts ±2 / decay 0.8 reached
 * 97.4% validation accuracy; batch 32 / shifts ±1 / decay 0.85 reached 98.2%).
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../core/errors.js';
import { uniformAt } from '../core/latent.js';
import { loadMnist, MNIST_CLASSES, MNIST_HEIGHT, MNIST_WIDTH } from '../data/mnist.js';
import { FEATURE_KERNELS, startBackend } from '../tfjs/backend.js';
import { buildEvaluator, EVALUATOR_CLASSES, type EvaluatorModels } from './evaluator-model.js';
import { EVALUATOR_BACKENDS } from './flags.js';

export { EVALUATOR_BACKENDS };
export type EvaluatorBackend = (typeof EVALUATOR_BACKENDS)[number];

export interface EvaluatorTrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Learning rate is multiplied by this after each epoch. */
  learningRateDecay: number;
  seed: number;
  /** Digits are shifted by a random whole number of pixels in [−maxShift, maxShift] each way. */
  maxShift: number;
  /** Training digits per class kept aside for validation. */
  validationPerClass: number;
  backend: EvaluatorBackend;
  /** Train on at most this many digits per class (null: all); for quick tests. */
  limitPerClass: number | null;
}

export const DEFAULT_EVALUATOR_TRAIN_CONFIG: EvaluatorTrainConfig = {
  epochs: 12,
  batchSize: 32,
  learningRate: 1e-3,
  learningRateDecay: 0.85,
  seed: 0,
  maxShift: 1,
  validationPerClass: 50,
  backend: 'wasm',
  limitPerClass: null,
};

export interface EpochReport {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  validationAccuracy: number;
  seconds: number;
}

export interface TrainedEvaluator {
  models: EvaluatorModels;
  config: EvaluatorTrainConfig;
  backend: string;
  trainSamples: number;
  validationSamples: number;
  epochs: EpochReport[];
  durationSeconds: number;
}

/** Salts of the counter-based generator, one per use. */
const SALT = { order: 1, shiftX: 2, shiftY: 3 } as const;
/** Guards log() of a probability that underflowed to 0. */
const PROB_EPSILON = 1e-7;

export async function selectBackend(name: EvaluatorBackend): Promise<string> {
  if (!EVALUATOR_BACKENDS.includes(name)) throw new InvalidArgumentError('--backend', name, `one of ${EVALUATOR_BACKENDS.join(', ')}`);
  const info = await startBackend(name, [...FEATURE_KERNELS.dense, ...FEATURE_KERNELS.conv]);
  return info.name;
}

/**
 * Split the training split into (train, validation) index lists: the last `v` digits of each class
 * validate; of the rest, the first `limit` (all when null) train.
 */
function splitIndices(labels: Int32Array, v: number, limit: number | null): { train: number[]; validation: number[] } {
  const byClass: number[][] = Array.from({ length: MNIST_CLASSES }, () => []);
  labels.forEach((l, i) => byClass[l].push(i));
  const train: number[] = [];
  const validation: number[] = [];
  for (const idx of byClass) {
    if (idx.length <= v) throw new InvalidArgumentError('validationPerClass', v, `fewer than ${idx.length} (digits of the smallest class)`);
    train.push(...idx.slice(0, Math.min(idx.length - v, limit ?? Infinity)));
    validation.push(...idx.slice(idx.length - v));
  }
  return { train, validation };
}

/** Shape `[height, width, channels]` of MNIST digits, the default of {@link fitClassifier}. */
const MNIST_SHAPE = [MNIST_HEIGHT, MNIST_WIDTH, 1] as const;

/**
 * Copy image `src` of `images` (`shape` each) into `out` at `dst`, shifted by (dx, dy) pixels; the
 * uncovered border is `fill` (MNIST: −1, its black background) or, with `'edge'`, the nearest edge pixel.
 */
function shiftedCopy(images: Float32Array, src: number, out: Float32Array, dst: number, dx: number, dy: number, shape: readonly number[] = MNIST_SHAPE, fill: number | 'edge' = -1): void {
  const [h, w, c] = shape;
  const pixels = h * w * c;
  const s = src * pixels;
  const d = dst * pixels;
  if (fill !== 'edge') out.fill(fill, d, d + pixels);
  for (let y = 0; y < h; y++) {
    let sy = y - dy;
    if (sy < 0 || sy >= h) {
      if (fill !== 'edge') continue;
      sy = Math.min(h - 1, Math.max(0, sy));
    }
    for (let x = 0; x < w; x++) {
      let sx = x - dx;
      if (sx < 0 || sx >= w) {
        if (fill !== 'edge') continue;
        sx = Math.min(w - 1, Math.max(0, sx));
      }
      for (let k = 0; k < c; k++) out[d + (y * w + x) * c + k] = images[s + (sy * w + sx) * c + k];
    }
  }
}

/** A seeded permutation of `items` (Fisher–Yates with the core's counter-based uniforms). */
function permute(items: number[], seed: number, epoch: number): number[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(uniformAt(seed, epoch * out.length + i, SALT.order) * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Accuracy of `model` on the images (`shape` each; default MNIST digits) at `indices` (no augmentation). */
export function accuracy(model: tf.LayersModel, images: Float32Array, labels: Int32Array, indices: number[], shape: readonly number[] = MNIST_SHAPE): number {
  let correct = 0;
  const chunk = 500;
  const pixels = shape[0] * shape[1] * shape[2];
  for (let a = 0; a < indices.length; a += chunk) {
    const idx = indices.slice(a, a + chunk);
    const x = new Float32Array(idx.length * pixels);
    idx.forEach((src, k) => x.set(images.subarray(src * pixels, (src + 1) * pixels), k * pixels));
    const pred = tf.tidy(() => (model.predict(tf.tensor4d(x, [idx.length, shape[0], shape[1], shape[2]])) as tf.Tensor).argMax(-1).dataSync());
    idx.forEach((src, k) => {
      if (pred[k] === labels[src]) correct++;
    });
  }
  return correct / indices.length;
}

/** Labelled digits in [-1, 1], `count × 784`. */
export interface Digits {
  images: Float32Array;
  labels: Int32Array;
}

export interface FitOptions {
  batchSize: number;
  learningRate: number;
  /** Learning rate is multiplied by this after each epoch. */
  learningRateDecay: number;
  seed: number;
  maxShift: number;
  epochs: number;
  /** Digits per epoch (default: one pass over `indices`); passes run on across epochs, each in its own seeded order. */
  epochDigits?: number;
  /** Image shape `[height, width, channels]` (default MNIST's 28×28×1) and classes (default 10). */
  shape?: readonly number[];
  classes?: number;
  /** Border of a shifted image: a value (default −1, MNIST's background) or the nearest edge pixel. */
  fill?: number | 'edge';
}

export interface FitEpoch {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  seconds: number;
}

/**
 * Train `classifier` (softmax outputs) with Adam and cross-entropy on the digits at `indices`,
 * randomly shifted by up to `maxShift` pixels; every draw comes from the core's counter-based
 * generator, so a run is a pure function of its arguments. Tensors are disposed every step.
 */
export async function fitClassifier(classifier: tf.LayersModel, data: Digits, indices: number[], opts: FitOptions, onEpoch?: (r: FitEpoch) => void): Promise<void> {
  const optimizer = tf.train.adam(opts.learningRate);
  const span = 2 * opts.maxShift + 1;
  const shape = opts.shape ?? MNIST_SHAPE;
  const pixels = shape[0] * shape[1] * shape[2];
  const classes = opts.classes ?? EVALUATOR_CLASSES;
  const x = new Float32Array(opts.batchSize * pixels);
  const perEpoch = opts.epochDigits ?? indices.length;
  let order: number[] = [];
  let pass = -1;
  let step = 0;
  let position = 0;
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const t0 = Date.now();
      // Adam keeps its moments; only the step size decays. (tfjs has no public setter for it.)
      (optimizer as unknown as { learningRate: number }).learningRate = opts.learningRate * opts.learningRateDecay ** epoch;
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let a = 0; a < perEpoch; a += opts.batchSize, step++) {
        const n = Math.min(opts.batchSize, perEpoch - a);
        const y = new Int32Array(n);
        for (let k = 0; k < n; k++, position++) {
          if (Math.floor(position / indices.length) !== pass) {
            pass = Math.floor(position / indices.length);
            order = permute(indices, opts.seed, pass);
          }
          const src = order[position % indices.length];
          const draw = step * opts.batchSize + k;
          const dx = Math.floor(uniformAt(opts.seed, draw, SALT.shiftX) * span) - opts.maxShift;
          const dy = Math.floor(uniformAt(opts.seed, draw, SALT.shiftY) * span) - opts.maxShift;
          shiftedCopy(data.images, src, x, k, dx, dy, shape, opts.fill);
          y[k] = data.labels[src];
        }
        const [loss, hits] = tf.tidy(() => {
          const xs = tf.tensor4d(x.subarray(0, n * pixels), [n, shape[0], shape[1], shape[2]]);
          const ys = tf.oneHot(tf.tensor1d(y, 'int32'), classes);
          let probs: tf.Tensor | null = null;
          const cost = optimizer.minimize(() => {
            // Kept past minimize()'s own scope for the running accuracy; kept tensors escape every tidy,
            // so it is disposed by hand below.
            probs = tf.keep(classifier.apply(xs, { training: true }) as tf.Tensor);
            return tf.neg(tf.mean(tf.sum(tf.mul(ys, tf.log(tf.clipByValue(probs, PROB_EPSILON, 1))), -1))) as tf.Scalar;
          }, true)!;
          const kept = probs as unknown as tf.Tensor;
          const right = tf.sum(tf.cast(tf.equal(tf.argMax(kept, -1), tf.argMax(ys, -1)), 'float32')).dataSync()[0];
          kept.dispose();
          return [cost.dataSync()[0], right];
        });
        lossSum += loss * n;
        correct += hits;
        seen += n;
      }
      onEpoch?.({ epoch: epoch + 1, loss: lossSum / seen, trainAccuracy: correct / seen, seconds: (Date.now() - t0) / 1000 });
      // Let timers and signals run between epochs.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    optimizer.dispose();
  }
}

/** Train the evaluator; `onEpoch` sees each epoch's report. */
export async function trainEvaluator(partial: Partial<EvaluatorTrainConfig> = {}, onEpoch?: (r: EpochReport) => void): Promise<TrainedEvaluator> {
  const config = { ...DEFAULT_EVALUATOR_TRAIN_CONFIG, ...partial };
  for (const key of ['epochs', 'batchSize', 'validationPerClass'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1) throw new InvalidArgumentError(key, config[key], 'a positive integer');
  }
  if (config.limitPerClass !== null && (!Number.isInteger(config.limitPerClass) || config.limitPerClass < 1)) {
    throw new InvalidArgumentError('limitPerClass', config.limitPerClass, 'a positive integer or null');
  }
  if (!(config.learningRate > 0) || !(config.learningRateDecay > 0 && config.learningRateDecay <= 1)) {
    throw new InvalidArgumentError('learningRate, learningRateDecay', [config.learningRate, config.learningRateDecay], 'learningRate > 0 and decay in (0, 1]');
  }
  if (!Number.isInteger(config.maxShift) || config.maxShift < 0 || config.maxShift > 6) throw new InvalidArgumentError('maxShift', config.maxShift, 'an integer in [0, 6]');
  const backend = await selectBackend(config.backend);
  const started = Date.now();
  const data = loadMnist('train');
  const { train, validation } = splitIndices(data.labels, config.validationPerClass, config.limitPerClass);
  const models = buildEvaluator(config.seed);
  const epochs: EpochReport[] = [];
  await fitClassifier(models.classifier, data, train, config, (r) => {
    const report: EpochReport = { ...r, validationAccuracy: accuracy(models.classifier, data.images, data.labels, validation) };
    epochs.push(report);
    onEpoch?.(report);
  });
  return { models, config, backend, trainSamples: train.length, validationSamples: validation.length, epochs, durationSeconds: (Date.now() - started) / 1000 };
}
