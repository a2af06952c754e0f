/**
 * The feature space in which `wganx eval --data <folder>` measures a generator of that folder's
 * images: a small CNN, trained once on the folder's **training split** (labelled folders) and kept
 * in wganx's cache, keyed by the data (content, split, decoding) and its own training settings —
 * so every model of the same folder, ours or a PyTorch peer's, is measured with the same classifier.
 *
 *   image [B, S, S, C] in [-1, 1]
 *     → Conv2D 3×3 stride 2 same, ReLU, channels 32, 64, 128, 128, … until the side is ≤ 4
 *     → Flatten → Dense 128, ReLU = features → Dense K, softmax = probabilities
 *
 * Training: Adam, cross-entropy, random shifts of up to S/8 pixels (edges extended), classes drawn
 * equally often (a folder's classes are rarely balanced), seeded: the same folder and settings
 * train the same classifier. Unlabelled folders get the same net with its seeded random weights,
 * untrained (random-network features: docs/eval.md says why). The classifier is exported with
 * the project's converter and run with onnxruntime, as the MNIST evaluator is.
 *
 * @example
 *   const folder = await openImageFolder('data/emoji', { size: 32, channels: 3, conditional: true });
 *   const classifier = await folderClassifier(folder, { log: console.error });
 *   const { probabilities, features } = await classifier.classify(images, n);
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ImageFolder } from '../data/image-folder.js';
import { imageCacheDir } from '../data/image-cache.js';
import { convertLayersModel } from '../export/index.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { VERSION } from '../version.js';
import { fitClassifier, selectBackend, type EvaluatorBackend } from './evaluator-train.js';
import { argmaxRows, checkClassifierParity, EVALUATOR_SPEC_FILE, EvaluatorSpecSchema, OnnxDigitClassifier, readEvaluatorSpec, type EvaluatorSpec } from './evaluator.js';

export const FOLDER_CLASSIFIER_FILE = 'classifier.onnx';
export const FOLDER_FEATURE_DIM = 128;
const OPSET = 17;
const PARITY_TOLERANCE = 1e-4;
const PARITY_IMAGES = 32;
/** Stop down-sampling once the side is at most this. */
const FINAL_SIDE = 4;
const MAX_CHANNELS = 128;
/** Largest random shift, as a fraction of the side. */
const SHIFT_RATIO = 1 / 8;

export interface FolderClassifierSettings {
  epochs: number;
  batchSize: number;
  learningRate: number;
  learningRateDecay: number;
  seed: number;
}

export const DEFAULT_FOLDER_CLASSIFIER: FolderClassifierSettings = { epochs: 12, batchSize: 32, learningRate: 1e-3, learningRateDecay: 0.85, seed: 0 };

export interface FolderClassifierOptions {
  settings?: Partial<FolderClassifierSettings>;
  backend?: EvaluatorBackend;
  /** Where trained classifiers are kept (default: beside the decoded-image cache); null: never saved. */
  cacheDir?: string | null;
  threads?: number;
  log?: (line: string) => void;
}

/** The net for `shape` and `classes` with seeded Glorot kernels: `[classifier (probabilities), twoHeaded (probabilities, features)]`. */
export function buildFolderClassifier(shape: readonly number[], classes: number, seed: number): { classifier: tf.LayersModel; twoHeaded: tf.LayersModel } {
  let k = 0;
  const init = () => tf.initializers.glorotUniform({ seed: seed * 64 + ++k });
  const image = tf.input({ shape: [...shape], name: 'image' });
  let x: tf.SymbolicTensor = image;
  let side = shape[0];
  for (let i = 0; side > FINAL_SIDE; i++) {
    x = tf.layers.conv2d({ name: `conv${i + 1}`, filters: Math.min(32 * 2 ** i, MAX_CHANNELS), kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
    side = Math.ceil(side / 2);
  }
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  const features = tf.layers.dense({ name: 'features', units: FOLDER_FEATURE_DIM, activation: 'relu', kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
  const probs = tf.layers.dense({ name: 'probabilities', units: classes, activation: 'softmax', kernelInitializer: init() }).apply(features) as tf.SymbolicTensor;
  return {
    classifier: tf.model({ name: 'folder_classifier_train', inputs: image, outputs: probs }),
    twoHeaded: tf.model({ name: 'folder_classifier', inputs: image, outputs: [probs, features] }),
  };
}

/** Training indices with every class drawn equally often: each class's images repeated up to the largest class. */
function balancedIndices(labels: Int32Array, classes: number): number[] {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((l, i) => byClass[l].push(i));
  const most = Math.max(...byClass.map((c) => c.length));
  return byClass.flatMap((idx) => (idx.length === 0 ? [] : Array.from({ length: most }, (_, j) => idx[j % idx.length])));
}

/**
 * The classifier of `folder`: from the cache when one was trained with the same data and settings,
 * else trained (labelled folders) or built with random weights (unlabelled), checked against tfjs
 * in ONNX, measured on the held-out split, and cached.
 */
export async function folderClassifier(folder: ImageFolder, opts: FolderClassifierOptions = {}): Promise<OnnxDigitClassifier> {
  const log = opts.log ?? (() => {});
  // Settings left undefined keep their defaults (a spread would write the undefined over them).
  const given = Object.fromEntries(Object.entries(opts.settings ?? {}).filter(([, v]) => v !== undefined));
  const settings: FolderClassifierSettings = { ...DEFAULT_FOLDER_CLASSIFIER, ...given };
  const labels = folder.train.labels;
  const trained = labels !== null;
  const key = createHash('sha256').update(folder.key).update(JSON.stringify({ v: 1, trained, settings: trained ? settings : { seed: settings.seed } })).digest('hex').slice(0, 32);
  const root = opts.cacheDir === undefined ? path.join(path.dirname(imageCacheDir()), 'classifiers') : opts.cacheDir;
  const dir = root === null ? null : path.join(root, key);
  if (dir) {
    const cached = await readEvaluatorSpec(dir).catch(() => null);
    if (cached) {
      log(`eval: the folder's classifier from the cache (${dir})`);
      return OnnxDigitClassifier.open(dir, { threads: opts.threads });
    }
  }

  const shape = folder.train.shape;
  const classes = labels?.length ?? 1;
  const backend = await selectBackend(opts.backend ?? 'wasm');
  const { classifier, twoHeaded } = buildFolderClassifier(shape, classes, settings.seed);
  const started = Date.now();
  const epochs: { epoch: number; loss: number; trainAccuracy: number; seconds: number }[] = [];
  try {
    const train = folder.train.all();
    if (trained) {
      log(`eval: training the folder's classifier on its ${folder.train.size} training images (${classes} classes, ${settings.epochs} epochs, ${backend}); it is cached for later evaluations`);
      await fitClassifier(classifier, { images: train.x, labels: train.labels! }, balancedIndices(train.labels!, classes), {
        ...settings, maxShift: Math.floor(shape[0] * SHIFT_RATIO), shape, classes, fill: 'edge', epochDigits: folder.train.size,
      }, (r) => {
        epochs.push(r);
        log(`eval: classifier epoch ${r.epoch}/${settings.epochs}: loss ${r.loss.toFixed(4)}, train accuracy ${(100 * r.trainAccuracy).toFixed(1)} %, ${r.seconds.toFixed(1)} s`);
      });
    }
    const converted = convertLayersModel(twoHeaded, { opset: OPSET, graphName: 'folder_classifier', inputNames: ['image'], outputNames: ['probabilities', 'features'], docString: `wganx classifier of ${folder.train.name}` });
    const spec: EvaluatorSpec = {
      name: `classifier-${key.slice(0, 12)}`,
      version: VERSION,
      description: trained
        ? `CNN classifier of ${folder.train.name}'s training split (${folder.train.labels!.join(', ')}); probabilities and 128-D features`
        : `CNN with seeded random weights (untrained): 128-D random-network features of ${folder.train.name}'s images`,
      file: FOLDER_CLASSIFIER_FILE,
      sha256: createHash('sha256').update(converted.bytes).digest('hex'),
      opset: OPSET,
      inputs: converted.inputs.map(({ name, dtype, shape: s }) => ({ name, dtype, shape: s })),
      outputs: converted.outputs.map(({ name, dtype, shape: s }) => ({ name, dtype, shape: s })),
      input: { layout: 'NHWC', range: [-1, 1], height: shape[0], width: shape[1], channels: shape[2] },
      classes: labels ? [...labels] : ['all'],
      featureDim: FOLDER_FEATURE_DIM,
      architecture: twoHeaded.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => `${l.getClassName()} ${JSON.stringify(l.outputShape)}`).join(' → '),
      training: { trained, data: folder.train.description, dataKey: folder.key, settings, backend, epochs, durationSeconds: (Date.now() - started) / 1000 },
      metrics: { heldoutAccuracy: 0, heldoutPerClassAccuracy: [], heldoutSamples: folder.holdout?.size ?? 0, referenceFrechet: [] },
      parity: { maxAbsDiff: {}, tolerance: PARITY_TOLERANCE },
    };
    const onnx = await OnnxDigitClassifier.fromBytes(converted.bytes, spec, { threads: opts.threads });
    const n = Math.min(PARITY_IMAGES, folder.train.size);
    const sample = train.x.slice(0, n * shape[0] * shape[1] * shape[2]);
    const ort = await onnx.classify(sample, n);
    const [tfProbs, tfFeats] = tf.tidy(() => (twoHeaded.predict(tf.tensor4d(sample, [n, shape[0], shape[1], shape[2]])) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array));
    checkClassifierParity('folder classifier', [['probabilities', tfProbs, ort.probabilities], ['features', tfFeats, ort.features]], PARITY_TOLERANCE, spec.parity.maxAbsDiff);
    if (folder.holdout && labels) {
      const held = folder.holdout.all();
      const predicted = argmaxRows((await onnx.classify(held.x, folder.holdout.size)).probabilities, classes);
      const hit = new Array<number>(classes).fill(0);
      const total = new Array<number>(classes).fill(0);
      predicted.forEach((p, i) => {
        total[held.labels![i]]++;
        if (p === held.labels![i]) hit[held.labels![i]]++;
      });
      spec.metrics.heldoutAccuracy = hit.reduce((a, b) => a + b, 0) / folder.holdout.size;
      spec.metrics.heldoutPerClassAccuracy = hit.map((h, c) => (total[c] ? h / total[c] : 0));
      log(`eval: classifier accuracy on the ${folder.holdout.size} held-out images: ${(100 * spec.metrics.heldoutAccuracy).toFixed(1)} %`);
    }
    EvaluatorSpecSchema.parse(spec);
    if (dir) {
      // The ONNX file first: a description on disk always has its file.
      await writeFileAtomic(path.join(dir, FOLDER_CLASSIFIER_FILE), converted.bytes);
      await writeFileAtomic(path.join(dir, EVALUATOR_SPEC_FILE), `${JSON.stringify(spec, null, 2)}\n`);
    }
    return onnx;
  } finally {
    twoHeaded.dispose(); // holds every layer of `classifier` too
  }
}

