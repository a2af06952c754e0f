/**
 * `wganx eval augment`: does a generator's data set help a classifier? With the MNIST evaluator's
 * architecture (./evaluator-model.ts), trained from the same seeded weights for the same number of
 * steps in every arm, and the held-out split as the test set:
 *
 * - classification accuracy score (CAS): trained only on K generated digits per class, against K
 *   real ones (K = 100 and 700);
 * - low-data augmentation: trained on 10 and on 50 real digits per class, against the same plus
 *   1,000 generated per class.
 *
 * The generated digits are exactly the data set `wganx augment --model M --per-class K --seed S`
 * writes (sample k of class c is latent index k·C + c; pixels rounded to 8 bits as in its PNG
 * files); the real ones are the first K training digits of each class. Everything is seeded, so a
 * rerun gives the same table.
 *
 * An image-folder model (`--data <folder>`, default the folder its manifest names) gets the same
 * comparisons with the folder's classifier architecture (./folder-classifier.ts) and its held-out
 * split as the test set; the sizes follow the folder's smallest class (m training images): CAS at
 * K = ⌈m/4⌉ and m, low data at R = ⌈m/8⌉ and ⌈m/2⌉ real per class (+ 1,000 generated).
 *
 * @example
 *   const r = await evaluateAugmentation({ modelDir: 'models/mnist-cgan', seed: 0, steps: 1500 });
 *   r.cas[0].generated  // accuracy of the classifier trained on 100 generated digits per class
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { toUint8 } from '../core/image.js';
import { imageShape, type Manifest } from '../core/manifest.js';
import { MNIST_CLASSES, loadMnist } from '../data/mnist.js';
import { MANIFEST_FILE, readManifestFile } from '../runtime/model-folder.js';
import type * as tf from '@tensorflow/tfjs';
import { openGenerator } from '../runtime/node.js';
import { describeRefine, NO_REFINE, refineRequest, resolveRefine, type RefineRequest, type ResolvedRefine } from '../runtime/refine/index.js';
import { evalDataset, updateManifestMetrics } from './command.js';
import { buildEvaluator } from './evaluator-model.js';
import { accuracy, fitClassifier, selectBackend, type Digits, type EvaluatorBackend } from './evaluator-train.js';
import { buildFolderClassifier } from './folder-classifier.js';
import { openModelFolder } from './folder.js';

/** K of the CAS rows, and the real digits per class of the low-data rows. */
export const CAS_PER_CLASS = [100, 700] as const;
export const LOW_DATA_PER_CLASS = [10, 50] as const;
/** Generated digits per class added to the low-data rows. */
export const AUGMENT_PER_CLASS = 1000;
/** The learning-rate schedule: `steps` in this many epochs, the rate × decay after each. */
const EPOCHS = 10;
const BATCH = 64;
const LEARNING_RATE = 1e-3;
const DECAY = 0.8;
const MAX_SHIFT = 1;

export interface AugmentEvalOptions {
  modelDir: string;
  /** Image-folder models: the folder (default: the one the manifest names). */
  dataDir?: string;
  /** Latent seed of the generated digits, and the classifiers' training seed. */
  seed?: number;
  /** Training steps (batches of 64) per classifier. */
  steps?: number;
  backend?: EvaluatorBackend;
  threads?: number;
  /** One line per trained classifier (default: none). */
  log?: (line: string) => void;
  /** The generated images refined by the critic, as `wganx augment --refine` writes them (default none). */
  refine?: RefineRequest;
}

export interface ArmResult {
  /** What the classifier was trained on. */
  realPerClass: number;
  generatedPerClass: number;
  /** Accuracy on the held-out split. */
  accuracy: number;
  seconds: number;
}

export interface AugmentEvalReport {
  model: string;
  /** `mnist`, or the image folder. */
  data: string;
  seed: number;
  steps: number;
  batch: number;
  testDigits: number;
  /** CAS: K generated vs K real per class. */
  cas: { perClass: number; real: number; generated: number; ratio: number }[];
  /** Low data: R real vs R real + 1,000 generated per class. */
  lowData: { realPerClass: number; real: number; augmented: number; gain: number }[];
  arms: ArmResult[];
  seconds: number;
  /** How the generated images were refined by the critic (`none`: raw samples). */
  refine: ResolvedRefine;
}

/** The first `k` training images of each class, as indices into the training split. */
function firstPerClass(labels: Int32Array, k: number, classes = MNIST_CLASSES): number[] {
  const taken = new Array<number>(classes).fill(0);
  const out: number[] = [];
  labels.forEach((l, i) => {
    if (taken[l] < k) {
      taken[l]++;
      out.push(i);
    }
  });
  return out;
}

/**
 * `perClass` digits of each class from a conditional MNIST generator, as `wganx augment --model
 * <dir> --per-class <perClass> --seed <seed>` writes them: index j is sample ⌊j / 10⌋ of class
 * j mod 10, pixels rounded to 8 bits (`bytes`), then mapped to [-1, 1] (`digits.images`).
 */
export async function generatedDigits(modelDir: string, seed: number, perClass: number, threads = 0, refine: ResolvedRefine = NO_REFINE): Promise<{ name: string; digits: Digits; bytes: Uint8Array }> {
  return generatedImages(modelDir, seed, perClass, threads, refine, (m) => {
    if (m.training?.dataset !== 'mnist' || m.conditional?.numClasses !== MNIST_CLASSES || imageShape(m).join() !== '28,28,1') {
      throw new InvalidArgumentError('--model', modelDir, 'a conditional MNIST generator (10 classes, 28×28×1 digits), e.g. models/mnist-cgan');
    }
  });
}

/** What the arms train and test on: MNIST's splits, or an image folder's. */
interface ArmData {
  name: string;
  data: string;
  shape: readonly number[];
  classes: number;
  train: Digits;
  test: Digits;
  cas: readonly number[];
  lowData: readonly number[];
  build: (seed: number) => tf.LayersModel;
  maxShift: number;
  fill: number | 'edge';
}

/**
 * `perClass` images of each class from a conditional generator, as `wganx augment --per-class`
 * (with `--refine`, refined by the critic) writes them (index j: sample ⌊j/K⌋ of class j mod K, 8-bit pixels).
 */
export async function generatedImages(modelDir: string, seed: number, perClass: number, threads: number, refine: ResolvedRefine, check: (m: Manifest) => void): Promise<{ name: string; digits: Digits; bytes: Uint8Array }> {
  const generator = await openGenerator(modelDir, { device: 'cpu', threads });
  try {
    const m = generator.manifest;
    check(m);
    const request = refine.method === 'none' ? undefined : refineRequest(refine);
    generator.checkRefine(request);
    const k = m.conditional!.numClasses;
    const pixels = imageShape(m).reduce((a, b) => a * b, 1);
    const total = perClass * k;
    const bytes = new Uint8Array(total * pixels);
    const labels = Int32Array.from({ length: total }, (_, j) => j % k);
    const batch = 1000;
    for (let start = 0; start < total; start += batch) {
      const n = Math.min(batch, total - start);
      const out = await generator.sample({ seed, start, n, labels: labels.subarray(start, start + n), refine: request });
      bytes.set(toUint8(out.data, m.output.range), start * pixels);
    }
    const images = Float32Array.from(bytes, (b) => (b / 255) * 2 - 1);
    return { name: m.name, digits: { images, labels }, bytes };
  } finally {
    await generator.dispose();
  }
}

/** The MNIST arms: the evaluator's architecture, the MNIST splits, K = 100 / 700, R = 10 / 50. */
async function mnistArms(opts: AugmentEvalOptions, seed: number): Promise<{ arms: ArmData; generated: Digits }> {
  const { name, digits } = await generatedDigits(opts.modelDir, seed, Math.max(AUGMENT_PER_CLASS, ...CAS_PER_CLASS), opts.threads ?? 0, resolveRefine(opts.refine));
  const train = loadMnist('train');
  const test = loadMnist('heldout');
  return {
    arms: {
      name, data: 'mnist', shape: [28, 28, 1], classes: MNIST_CLASSES, train: { images: train.images, labels: train.labels }, test: { images: test.images, labels: test.labels },
      cas: CAS_PER_CLASS, lowData: LOW_DATA_PER_CLASS, build: (s) => buildEvaluator(s).classifier, maxShift: MAX_SHIFT, fill: -1,
    },
    generated: digits,
  };
}

/** The arms of an image-folder model: its training and held-out splits, sizes from its smallest class. */
async function folderArms(opts: AugmentEvalOptions, seed: number, manifest: Manifest): Promise<{ arms: ArmData; generated: Digits }> {
  if (!manifest.conditional) throw new InvalidArgumentError('--model', opts.modelDir, 'a conditional generator (the classifiers learn its classes)');
  const { data, folder } = await openModelFolder(manifest, opts.dataDir, opts.log);
  const shape = imageShape(manifest);
  if (!folder.holdout) throw new InvalidArgumentError('--data', data, 'a folder with held-out images (the test set)');
  const train = folder.train.all();
  const test = folder.holdout.all();
  const k = manifest.conditional.numClasses;
  const smallest = Math.min(...Array.from({ length: k }, (_, c) => train.labels!.filter((l) => l === c).length));
  const cas = [...new Set([Math.max(1, Math.ceil(smallest / 4)), smallest])];
  const lowData = [...new Set([Math.max(1, Math.ceil(smallest / 8)), Math.max(1, Math.ceil(smallest / 2))])];
  const { name, digits } = await generatedImages(opts.modelDir, seed, Math.max(AUGMENT_PER_CLASS, ...cas), opts.threads ?? 0, resolveRefine(opts.refine), () => {});
  return {
    arms: {
      name, data, shape, classes: k, train: { images: train.x, labels: train.labels! }, test: { images: test.x, labels: test.labels! },
      cas, lowData, build: (s) => buildFolderClassifier(shape, k, s).classifier, maxShift: Math.floor(shape[0] / 8), fill: 'edge',
    },
    generated: digits,
  };
}

export async function evaluateAugmentation(opts: AugmentEvalOptions): Promise<AugmentEvalReport> {
  const seed = opts.seed ?? 0;
  const steps = opts.steps ?? 1500;
  const log = opts.log ?? (() => {});
  if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError('--seed', seed, `an integer in [0, ${Number.MAX_SAFE_INTEGER}]`);
  if (!Number.isSafeInteger(steps) || steps < 1) throw new InvalidArgumentError('--steps', steps, 'a positive integer');
  if (!existsSync(join(opts.modelDir, MANIFEST_FILE))) throw new InvalidArgumentError('--model', opts.modelDir, `a model folder holding ${MANIFEST_FILE} (e.g. models/mnist-cgan)`);
  const refine = resolveRefine(opts.refine);
  const started = Date.now();

  // The generated images: per-class sets are prefixes of one another, so one draw serves every row.
  const { manifest } = await readManifestFile(opts.modelDir);
  const folder = opts.dataDir !== undefined || (manifest.training?.dataset !== 'mnist' && manifest.kind === 'image' && evalDataset(manifest, opts.dataDir) === 'folder');
  const { arms: d, generated } = folder ? await folderArms(opts, seed, manifest) : await mnistArms(opts, seed);
  const { name } = d;

  await selectBackend(opts.backend ?? 'wasm');
  const train = { images: d.train.images, labels: d.train.labels, count: d.train.labels.length };
  const test = { images: d.test.images, labels: d.test.labels, count: d.test.labels.length };
  const testIndices = Array.from({ length: test.count }, (_, i) => i);
  const realIndex = (k: number) => firstPerClass(train.labels, k, d.classes);
  // One pool of digits: the training split, then the generated ones (offset by the split's size).
  const pool: Digits = {
    images: new Float32Array(train.images.length + generated.images.length),
    labels: new Int32Array(train.labels.length + generated.labels.length),
  };
  pool.images.set(train.images);
  pool.images.set(generated.images, train.images.length);
  pool.labels.set(train.labels);
  pool.labels.set(generated.labels, train.labels.length);
  const genIndex = (k: number) => Array.from({ length: k * d.classes }, (_, j) => train.count + j);

  const plan: { real: number; gen: number }[] = [
    ...d.cas.flatMap((k) => [{ real: k, gen: 0 }, { real: 0, gen: k }]),
    ...d.lowData.flatMap((k) => [{ real: k, gen: 0 }, { real: k, gen: AUGMENT_PER_CLASS }]),
  ];
  const arms: ArmResult[] = [];
  for (const [i, arm] of plan.entries()) {
    const t0 = Date.now();
    const classifier = d.build(seed);
    const indices = [...realIndex(arm.real), ...genIndex(arm.gen)];
    await fitClassifier(classifier, pool, indices, {
      batchSize: BATCH,
      learningRate: LEARNING_RATE,
      learningRateDecay: DECAY,
      seed,
      maxShift: d.maxShift,
      epochs: EPOCHS,
      epochDigits: Math.ceil(steps / EPOCHS) * BATCH,
      shape: d.shape,
      classes: d.classes,
      fill: d.fill,
    });
    const acc = accuracy(classifier, test.images, test.labels, testIndices, d.shape);
    classifier.dispose();
    const result = { realPerClass: arm.real, generatedPerClass: arm.gen, accuracy: acc, seconds: (Date.now() - t0) / 1000 };
    arms.push(result);
    log(`eval augment: [${i + 1}/${plan.length}] ${describeArm(result)}: held-out accuracy ${pct(acc)} (${result.seconds.toFixed(0)} s)`);
  }
  const arm = (real: number, gen: number) => arms.find((a) => a.realPerClass === real && a.generatedPerClass === gen)!.accuracy;
  return {
    model: name,
    data: d.data,
    seed,
    steps: Math.ceil(steps / EPOCHS) * EPOCHS,
    batch: BATCH,
    testDigits: test.count,
    cas: d.cas.map((k) => ({ perClass: k, real: arm(k, 0), generated: arm(0, k), ratio: arm(0, k) / arm(k, 0) })),
    lowData: d.lowData.map((k) => ({ realPerClass: k, real: arm(k, 0), augmented: arm(k, AUGMENT_PER_CLASS), gain: arm(k, AUGMENT_PER_CLASS) - arm(k, 0) })),
    arms,
    seconds: (Date.now() - started) / 1000,
    refine,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

function describeArm(a: ArmResult): string {
  if (a.realPerClass && a.generatedPerClass) return `${a.realPerClass} real + ${a.generatedPerClass} generated per class`;
  return a.realPerClass ? `${a.realPerClass} real per class` : `${a.generatedPerClass} generated per class`;
}

/** The report as a table: one line per comparison. */
export function formatAugmentReport(r: AugmentEvalReport): string {
  const lines = [
    r.data === 'mnist'
      ? `${r.model}: classifiers of the evaluator's architecture, ${r.steps} steps of ${r.batch}, seed ${r.seed}; accuracy on ${r.testDigits} held-out digits`
      : `${r.model}: classifiers of ${r.data}'s classifier architecture, ${r.steps} steps of ${r.batch}, seed ${r.seed}; accuracy on its ${r.testDigits} held-out images`,
    ...(r.refine.method === 'none' ? [] : [`  generated images refined by the critic: ${describeRefine(r.refine)}`]),
    '  trained on                          real only   generated   generated / real',
    ...r.cas.map((c) => `  CAS, ${String(c.perClass).padStart(3)} per class                  ${pct(c.real).padStart(9)}   ${pct(c.generated).padStart(9)}   ${c.ratio.toFixed(3)}`),
    '                                      real only   + 1000 generated per class   gain',
    ...r.lowData.map((l) => `  low data, ${String(l.realPerClass).padStart(2)} real per class          ${pct(l.real).padStart(9)}   ${pct(l.augmented).padStart(9)}                    ${l.gain >= 0 ? '+' : ''}${(100 * l.gain).toFixed(1)} points`),
  ];
  return lines.join('\n');
}

/**
 * The headline figures that --update-manifest merges into manifest.training.metrics.augmentation
 * (with --refine: `augmentationRefined`, naming the refinement, so the raw figures stay).
 */
export function augmentMetrics(r: AugmentEvalReport): Record<string, unknown> {
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  const figures = {
    seed: r.seed,
    steps: r.steps,
    cas: r.cas.map((c) => ({ perClass: c.perClass, real: r4(c.real), generated: r4(c.generated) })),
    lowData: r.lowData.map((l) => ({ realPerClass: l.realPerClass, real: r4(l.real), augmented: r4(l.augmented) })),
    evaluatedAt: new Date().toISOString(),
  };
  return r.refine.method === 'none' ? { augmentation: figures } : { augmentationRefined: { refine: refineRequest(r.refine), ...figures } };
}

export interface AugmentEvalCommandOptions extends AugmentEvalOptions {
  json: boolean;
  updateManifest: boolean;
}

export async function augmentEvalCommand(opts: AugmentEvalCommandOptions): Promise<AugmentEvalReport> {
  const report = await evaluateAugmentation({ ...opts, log: opts.log ?? ((l) => process.stderr.write(`${l}\n`)) });
  if (opts.updateManifest) await updateManifestMetrics(opts.modelDir, augmentMetrics(report));
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatAugmentReport(report)}\n`);
  return report;
}
