/**
 * MNIST sample-quality metrics from the shipped evaluator (see evaluator.ts):
 *
 * (a) **accuracy** — for a conditional generator, the share of generated digits that the evaluator
 *     classifies as the class the generator was asked for. Sample `i` is asked for class `i mod K`,
 *     so every class gets the same number of samples (±1). Per-class accuracies too.
 * (b) **Fréchet distance** between the evaluator's penultimate features (128-D) of `n` generated
 *     digits and of all 2,000 held-out real digits, next to the **reference**: the same distance for
 *     `n` real *training* digits (class-balanced: digit ⌊i/10⌋ of class i mod 10) against the same
 *     held-out digits. Both sides of the comparison use the same sample sizes, since FD is biased
 *     upward for small samples. A generator as good as the data scores about the reference.
 *
 * Every generator also gets the distribution of predicted classes (`predictedShares`), how many
 * classes appear at all, and its reverse KL against uniform — the MNIST analogue of the toy mode
 * metrics, and the only class-level signal for an unconditional generator.
 *
 * @example
 *   const m = await mnistMetrics(source, classifier, { samples: 2000, seed: 0 });
 *   m.accuracy, m.frechetDistance, m.frechetReference
 */
import { InvalidArgumentError } from '../core/errors.js';
import { loadMnist, MNIST_PIXELS } from '../data/mnist.js';
import { argmaxRows, type DigitClassifier } from './evaluator.js';
import { featureMoments, frechetDistance, type Moments } from './frechet.js';
import { reverseKlFromCounts } from './toy.js';

/** Default number of generated digits: as many as the held-out split holds. */
export const MNIST_EVAL_SAMPLES = 2000;

/** Something that produces digits [count, 28, 28, 1] in [-1, 1] for sample indices start…start+count−1. */
export interface DigitSource {
  /** Number of classes of a conditional generator, null for an unconditional one. */
  readonly numClasses: number | null;
  /** `labels` (one per sample) is given exactly when the source is conditional. */
  generate(start: number, count: number, labels: Int32Array | null): Promise<Float32Array>;
}

/** The class sample `i` is asked for: i mod K (balanced). */
export function requestedLabels(start: number, count: number, numClasses: number): Int32Array {
  const out = new Int32Array(count);
  for (let k = 0; k < count; k++) out[k] = (start + k) % numClasses;
  return out;
}

/** `n` training digits, class-balanced: digit ⌊i/10⌋ of class i mod 10, for i < n (n ≤ 8000). */
export function balancedTrainingDigits(n: number): { images: Float32Array; labels: Int32Array; count: number } {
  const train = loadMnist('train');
  if (!Number.isInteger(n) || n < 2 || n > train.count) throw new InvalidArgumentError('reference samples', n, `an integer in [2, ${train.count}]`);
  const firstOfClass = new Map<number, number>();
  const perClass = new Map<number, number>();
  for (let i = 0; i < train.count; i++) {
    const l = train.labels[i];
    if (!firstOfClass.has(l)) firstOfClass.set(l, i);
    perClass.set(l, (perClass.get(l) ?? 0) + 1);
  }
  const classes = firstOfClass.size;
  const images = new Float32Array(n * MNIST_PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    const j = Math.floor(i / classes);
    if (j >= perClass.get(c)!) throw new InvalidArgumentError('reference samples', n, `at most ${classes * Math.min(...perClass.values())}`);
    const src = firstOfClass.get(c)! + j;
    images.set(train.images.subarray(src * MNIST_PIXELS, (src + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = c;
  }
  return { images, labels, count: n };
}

const heldoutCache = new WeakMap<DigitClassifier, Promise<Moments>>();

/** Moments of the evaluator's features of all held-out digits (cached per classifier). */
export function heldoutMoments(classifier: DigitClassifier): Promise<Moments> {
  let hit = heldoutCache.get(classifier);
  if (!hit) {
    hit = (async () => {
      const held = loadMnist('heldout');
      const { features } = await classifier.classify(held.images, held.count);
      return featureMoments(features, held.count, classifier.featureDim);
    })();
    heldoutCache.set(classifier, hit);
  }
  return hit;
}

/** FD(features of `n` balanced training digits, features of the held-out digits). */
export async function referenceFrechet(classifier: DigitClassifier, n: number): Promise<number> {
  const ref = balancedTrainingDigits(n);
  const { features } = await classifier.classify(ref.images, ref.count);
  return frechetDistance(featureMoments(features, n, classifier.featureDim), await heldoutMoments(classifier));
}

export interface MnistMetrics {
  samples: number;
  conditional: boolean;
  /** Share of digits classified as the requested class; null for an unconditional generator. */
  accuracy: number | null;
  perClassAccuracy: number[] | null;
  /** Share of digits predicted as each class. */
  predictedShares: number[];
  /** Classes predicted for at least one digit. */
  classesPredicted: number;
  /** KL(predicted shares ‖ uniform), nats. */
  reverseKl: number;
  frechetDistance: number;
  /** The same distance for real training digits (same count) against the held-out digits. */
  frechetReference: number;
  referenceSamples: number;
  heldoutSamples: number;
  /** Non-finite pixels found in the generated digits (replaced by −1 before classification). */
  nonFinitePixels: number;
}

/** Generate `samples` digits from `source` in batches, classify them and score them (see header). */
export async function mnistMetrics(source: DigitSource, classifier: DigitClassifier, opts: { samples?: number; batch?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<MnistMetrics & { images: Float32Array; labels: Int32Array | null; predicted: Int32Array }> {
  const samples = opts.samples ?? MNIST_EVAL_SAMPLES;
  const batch = opts.batch ?? 250;
  const trainCount = loadMnist('train').count;
  if (!Number.isInteger(samples) || samples < 2 || samples > 1_000_000) throw new InvalidArgumentError('--samples', samples, 'an integer in [2, 1000000]');
  const k = source.numClasses;
  if (k !== null && k !== classifier.classes) {
    throw new InvalidArgumentError('conditional.numClasses', k, `${classifier.classes} (the evaluator's classes)`);
  }
  const images = new Float32Array(samples * MNIST_PIXELS);
  const labels = k === null ? null : requestedLabels(0, samples, k);
  for (let start = 0; start < samples; start += batch) {
    const n = Math.min(batch, samples - start);
    const out = await source.generate(start, n, labels ? labels.subarray(start, start + n) : null);
    if (out.length !== n * MNIST_PIXELS) throw new InvalidArgumentError('generator output size', out.length, `${n}·${MNIST_PIXELS} values ([${n}, 28, 28, 1])`);
    images.set(out, start * MNIST_PIXELS);
    opts.onProgress?.(start + n, samples);
  }
  let nonFinitePixels = 0;
  for (let i = 0; i < images.length; i++) {
    if (!Number.isFinite(images[i])) {
      images[i] = -1;
      nonFinitePixels++;
    }
  }
  const { probabilities, features } = await classifier.classify(images, samples);
  const predicted = argmaxRows(probabilities, classifier.classes);
  const counts = new Array<number>(classifier.classes).fill(0);
  for (const p of predicted) counts[p]++;
  let accuracy: number | null = null;
  let perClassAccuracy: number[] | null = null;
  if (labels) {
    const hit = new Array<number>(classifier.classes).fill(0);
    const asked = new Array<number>(classifier.classes).fill(0);
    let correct = 0;
    for (let i = 0; i < samples; i++) {
      asked[labels[i]]++;
      if (predicted[i] === labels[i]) {
        hit[labels[i]]++;
        correct++;
      }
    }
    accuracy = correct / samples;
    perClassAccuracy = hit.map((h, c) => (asked[c] ? h / asked[c] : 0));
  }
  const generated = featureMoments(features, samples, classifier.featureDim);
  const held = await heldoutMoments(classifier);
  const referenceSamples = Math.min(samples, trainCount);
  return {
    samples,
    conditional: labels !== null,
    accuracy,
    perClassAccuracy,
    predictedShares: counts.map((c) => c / samples),
    classesPredicted: counts.filter((c) => c > 0).length,
    reverseKl: reverseKlFromCounts(counts) ?? 0,
    frechetDistance: frechetDistance(generated, held),
    frechetReference: await referenceFrechet(classifier, referenceSamples),
    referenceSamples,
    heldoutSamples: held.count,
    nonFinitePixels,
    images,
    labels,
    predicted,
  };
}
