/**
 * Sample quality of a generator of an image folder (`wganx eval --model M --data <folder>`), in the
 * feature space of the folder's classifier (./folder-classifier.ts):
 *
 * - **classifier accuracy** on the real held-out images (how far the classifier can be trusted) and,
 *   for a conditional generator, on generated images of the class asked for;
 * - **Fréchet distance** between generated and held-out images, next to the **reference**: the same
 *   distance for as many real *training* images (FD is biased by sample size, so both sides use the
 *   same counts);
 * - **precision / recall** and **density / coverage** (./prdc.ts) of the generated images against
 *   that reference set of training images: mode collapse shows as low recall and coverage.
 *
 * Sample `i` is asked for the class at position (i + ½)·T/n of the training split sorted by class
 * (T images, n samples): the generated classes follow the folder's own proportions (rarely
 * balanced), so the distances compare like with like. The reference set takes the training image
 * at each such position.
 *
 * @example
 *   const m = await folderMetrics(source, classifier, folder, { samples: 2000 });
 *   m.frechetDistance / m.frechetReference
 */
import { existsSync } from 'node:fs';
import { InvalidArgumentError } from '../core/errors.js';
import { imageShape, type Manifest } from '../core/manifest.js';
import { DEFAULT_HOLDOUT, IMAGE_KINDS, openImageFolder, tooFewHeldOut, type ImageFolder, type ResizeMode } from '../data/image-folder.js';
import { argmaxRows, type DigitClassifier } from './evaluator.js';
import { featureMoments, frechetDistance } from './frechet.js';
import { prdc, type Prdc } from './prdc.js';
import { reverseKlFromCounts } from './toy.js';

/** Default number of generated images. */
export const FOLDER_EVAL_SAMPLES = 2000;

/**
 * The image folder of an image-folder model (`--data`, default the folder its manifest names),
 * decoded and split as the model was trained (size, channels, resize, background, held-out split),
 * with the model's classes when it is conditional; errors name `--data`.
 */
export async function openModelFolder(manifest: Manifest, dataDir: string | undefined, log?: (line: string) => void): Promise<{ data: string; folder: ImageFolder }> {
  const data = dataDir ?? manifest.training?.dataset;
  if (!data) throw new InvalidArgumentError('--data', dataDir, `the model's image folder (the manifest of ${manifest.name} names none)`);
  if (dataDir === undefined && !existsSync(data)) {
    throw new InvalidArgumentError('--data', data, `an existing folder of ${IMAGE_KINDS} images: without --data, the folder ${manifest.name} was trained on (its manifest's training.dataset), which is not here; give --data <folder>`);
  }
  const shape = imageShape(manifest);
  const hp = (manifest.training?.hyperparameters ?? {}) as Partial<{ resize: ResizeMode; background: string; holdout: number; holdoutDir: string | null }>;
  const folder = await openImageFolder(data, {
    size: shape[0], channels: shape[2] as 1 | 3, conditional: manifest.conditional !== null,
    resize: hp.resize ?? 'cover', background: hp.background ?? 'white', holdout: hp.holdout ?? DEFAULT_HOLDOUT, holdoutDir: hp.holdoutDir ?? null,
    log, progress: false, flag: '--data',
  });
  const wanted = manifest.conditional?.labels ?? null;
  if (wanted && folder.train.labels?.join('\n') !== wanted.join('\n')) {
    throw new InvalidArgumentError('--data', data, `a folder whose classes are the model's: ${wanted.join(', ')} (it has ${folder.train.labels?.join(', ') ?? 'none'})`);
  }
  return { data, folder };
}

/** Produces images `[count, S, S, C]` in [-1, 1] for sample indices start…start+count−1 (`labels` for a conditional source). */
export interface ImageSource {
  readonly numClasses: number | null;
  generate(start: number, count: number, labels: Int32Array | null): Promise<Float32Array>;
}

export interface FolderMetrics {
  samples: number;
  conditional: boolean;
  classes: string[];
  /** The classifier's accuracy on the real held-out images (null: unlabelled folder). */
  heldoutAccuracy: number | null;
  /** Share of generated images classified as the class asked for (null: unconditional). */
  accuracy: number | null;
  perClassAccuracy: number[] | null;
  /** Samples asked for each class. */
  perClassSamples: number[] | null;
  predictedShares: number[];
  classesPredicted: number;
  /** KL(predicted shares ‖ the training split's class shares), nats. */
  classKl: number | null;
  frechetDistance: number;
  frechetReference: number;
  referenceSamples: number;
  heldoutSamples: number;
  prdc: Prdc;
  nonFinitePixels: number;
}

/** Positions (i + ½)·T/n of `n` draws from `total` items, as integer indices. */
function spread(n: number, total: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.min(total - 1, Math.floor(((i + 0.5) * total) / n)));
}

/** Refuse a sample count the folder metrics cannot use (before anything is loaded). */
export function checkFolderSamples(samples: number): void {
  if (!Number.isInteger(samples) || samples < 10 || samples > 1_000_000) throw new InvalidArgumentError('--samples', samples, 'an integer in [10, 1000000]');
}

/** The folder's held-out split, refused (naming --data) when it has too few images to measure a model. */
export function heldOutSplit(folder: ImageFolder): NonNullable<ImageFolder['holdout']> {
  const { train, holdout } = folder;
  const tooFew = tooFewHeldOut(train.holdout ?? { source: 'hash', fraction: 0, count: holdout?.size ?? 0 });
  if (!holdout || tooFew !== null) throw new InvalidArgumentError('--data', train.name, `a folder with held-out images: ${tooFew}`);
  return holdout;
}

export async function folderMetrics(source: ImageSource, classifier: DigitClassifier, folder: ImageFolder, opts: { samples?: number; batch?: number } = {}): Promise<FolderMetrics & { images: Float32Array; labels: Int32Array | null }> {
  const samples = opts.samples ?? FOLDER_EVAL_SAMPLES;
  const batch = opts.batch ?? 250;
  checkFolderSamples(samples);
  const { train } = folder;
  const holdout = heldOutSplit(folder);
  const classes = train.labels ? [...train.labels] : ['all'];
  const k = source.numClasses;
  if (k !== null && k !== classes.length) throw new InvalidArgumentError('--data', train.name, `a folder of ${k} classes, as the model has (it has ${classes.length})`);
  const pixels = train.shape.reduce((a, b) => a * b, 1);

  // Training images in class order: the generated classes and the reference set follow them.
  const all = train.all();
  const T = train.size;
  const order = Array.from({ length: T }, (_, i) => i);
  if (all.labels) order.sort((a, b) => all.labels![a] - all.labels![b] || a - b);
  const labels = k !== null && all.labels ? Int32Array.from(spread(samples, T), (p) => all.labels![order[p]]) : null;

  const images = new Float32Array(samples * pixels);
  for (let start = 0; start < samples; start += batch) {
    const n = Math.min(batch, samples - start);
    const out = await source.generate(start, n, labels ? labels.subarray(start, start + n) : null);
    if (out.length !== n * pixels) throw new InvalidArgumentError('generator output size', out.length, `${n}·${pixels} values ([${n}, ${train.shape.join(', ')}])`);
    images.set(out, start * pixels);
  }
  let nonFinitePixels = 0;
  for (let i = 0; i < images.length; i++) {
    if (!Number.isFinite(images[i])) {
      images[i] = 0;
      nonFinitePixels++;
    }
  }

  const gen = await classifier.classify(images, samples);
  const held = holdout.all();
  const heldOut = await classifier.classify(held.x, holdout.size);
  const referenceSamples = Math.min(samples, T);
  const refIdx = spread(referenceSamples, T).map((p) => order[p]);
  const refImages = new Float32Array(referenceSamples * pixels);
  refIdx.forEach((src, i) => refImages.set(all.x.subarray(src * pixels, (src + 1) * pixels), i * pixels));
  const ref = await classifier.classify(refImages, referenceSamples);
  const dim = classifier.featureDim;

  const predicted = argmaxRows(gen.probabilities, classifier.classes);
  const counts = new Array<number>(classifier.classes).fill(0);
  for (const p of predicted) counts[p]++;
  let accuracy: number | null = null;
  let perClassAccuracy: number[] | null = null;
  let perClassSamples: number[] | null = null;
  let heldoutAccuracy: number | null = null;
  let classKl: number | null = null;
  if (held.labels) {
    const heldPred = argmaxRows(heldOut.probabilities, classifier.classes);
    heldoutAccuracy = heldPred.reduce((s, p, i) => s + (p === held.labels![i] ? 1 : 0), 0) / holdout.size;
  }
  if (labels) {
    const hit = new Array<number>(classes.length).fill(0);
    perClassSamples = new Array<number>(classes.length).fill(0);
    for (let i = 0; i < samples; i++) {
      perClassSamples[labels[i]]++;
      if (predicted[i] === labels[i]) hit[labels[i]]++;
    }
    accuracy = hit.reduce((a, b) => a + b, 0) / samples;
    perClassAccuracy = hit.map((h, c) => (perClassSamples![c] ? h / perClassSamples![c] : 0));
    // How far the predicted class shares are from the shares asked for (0: the same).
    classKl = counts.reduce((s, c, j) => (c === 0 ? s : s + (c / samples) * Math.log(c / samples / (perClassSamples![j] / samples || 1e-12))), 0);
  } else if (all.labels) {
    classKl = reverseKlFromCounts(counts);
  }
  return {
    samples,
    conditional: labels !== null,
    classes,
    heldoutAccuracy,
    accuracy,
    perClassAccuracy,
    perClassSamples,
    predictedShares: counts.map((c) => c / samples),
    classesPredicted: counts.filter((c) => c > 0).length,
    classKl,
    frechetDistance: frechetDistance(featureMoments(gen.features, samples, dim), featureMoments(heldOut.features, holdout.size, dim)),
    frechetReference: frechetDistance(featureMoments(ref.features, referenceSamples, dim), featureMoments(heldOut.features, holdout.size, dim)),
    referenceSamples,
    heldoutSamples: holdout.size,
    prdc: prdc(ref.features, referenceSamples, gen.features, samples, dim),
    nonFinitePixels,
    images,
    labels,
  };
}
