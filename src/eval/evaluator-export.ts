/**
 * `wganx eval --train-evaluator`: train the MNIST evaluator, export it with the project's own
 * tfjs → ONNX converter, check the ONNX against tfjs, measure it on the held-out split with
 * onnxruntime-node (the same code path `wganx eval` uses), and write
 * `<out>/evaluator.onnx` + `<out>/evaluator.json` atomically (ONNX first: a description on disk always
 * has its file, and a stale one fails the sha256 check on open).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { convertLayersModel, ModelFolderTaken } from '../export/index.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { loadMnist, MNIST_PIXELS } from '../data/mnist.js';
import { VERSION } from '../version.js';
import { EVALUATOR_CLASSES, EVALUATOR_FEATURE_DIM, EVALUATOR_IO, EVALUATOR_INPUT_SHAPE } from './evaluator-model.js';
import { trainEvaluator, type EpochReport, type EvaluatorTrainConfig } from './evaluator-train.js';
import { argmaxRows, checkClassifierParity, EVALUATOR_SPEC_FILE, EvaluatorSpecSchema, OnnxDigitClassifier, type EvaluatorSpec } from './evaluator.js';
import { referenceFrechet } from './mnist.js';

export const EVALUATOR_ONNX_FILE = 'evaluator.onnx';
const EVALUATOR_OPSET = 17;
/** Largest |tfjs − onnxruntime|, relative to 1 + the largest |tfjs value| of that output. */
const PARITY_TOLERANCE = 1e-4;
/** Digits compared in the parity check (from the training split: the held-out split stays unseen until the final measurement). */
const PARITY_DIGITS = 64;
/** Sample sizes of the recorded reference Fréchet distances (2000 = wganx eval's default). */
const REFERENCE_SIZES = [2000, 8000];

export interface TrainEvaluatorCommandOptions {
  outDir: string;
  config: Partial<EvaluatorTrainConfig>;
  /** The command line, recorded in evaluator.json. */
  command: string;
  json: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** The final report (default: stdout). */
  print?: (text: string) => void;
  /** Replace an evaluator already in `outDir` (default: refuse, before training). */
  force?: boolean;
}

/**
 * Refuses (ModelFolderTaken) to replace the evaluator in `dir` unless `force`: every accuracy and
 * Fréchet distance wganx reports — the bundled models' manifests, the README's tables — is
 * measured with the shipped one, so replacing it must be asked for. Checked before training.
 */
export async function checkEvaluatorFolder(dir: string, opts: { force?: boolean } = {}): Promise<void> {
  if (opts.force) return;
  const text = await readFile(join(dir, EVALUATOR_SPEC_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ENOTDIR' ? null : ''));
  if (text === null) return;
  let held = `an MNIST evaluator (${EVALUATOR_SPEC_FILE})`;
  try {
    const spec = JSON.parse(text) as Partial<EvaluatorSpec>;
    const accuracy = typeof spec.metrics?.heldoutAccuracy === 'number' ? `, held-out accuracy ${(100 * spec.metrics.heldoutAccuracy).toFixed(2)} %` : '';
    held = `an MNIST evaluator (${EVALUATOR_SPEC_FILE}: sha256 ${String(spec.sha256).slice(0, 12)}…${accuracy})`;
  } catch {
    // unreadable: still someone's evaluator folder
  }
  throw new ModelFolderTaken(dir, `${held}, which every accuracy and Fréchet distance measured with it depends on`);
}

export async function trainEvaluatorCommand(opts: TrainEvaluatorCommandOptions): Promise<EvaluatorSpec> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const print = opts.print ?? ((text: string) => process.stdout.write(text));
  await checkEvaluatorFolder(opts.outDir, { force: opts.force });
  const trained = await trainEvaluator(opts.config, (r: EpochReport) =>
    log(`epoch ${r.epoch}: loss ${r.loss.toFixed(4)}, train accuracy ${(100 * r.trainAccuracy).toFixed(2)}% (shifted digits), validation ${(100 * r.validationAccuracy).toFixed(2)}%, ${r.seconds.toFixed(1)} s`),
  );
  const { twoHeaded } = trained.models;
  try {
    const converted = convertLayersModel(twoHeaded, {
      opset: EVALUATOR_OPSET,
      graphName: 'mnist_evaluator',
      inputNames: [EVALUATOR_IO.input],
      outputNames: [EVALUATOR_IO.probabilities, EVALUATOR_IO.features],
      docString: 'wganx MNIST evaluator: class probabilities and penultimate-layer features of 28x28 digits in [-1, 1]',
    });
    const bytes = converted.bytes;

    // Parity: tfjs vs onnxruntime on real (training-split) digits.
    const train = loadMnist('train');
    const digits = train.images.subarray(0, PARITY_DIGITS * MNIST_PIXELS);
    const draft: EvaluatorSpec = {
      name: 'mnist-evaluator',
      version: VERSION,
      description: 'CNN classifier of 28×28 MNIST digits in [-1, 1], trained on the wganx MNIST training split only; outputs class probabilities and the 128-D penultimate ReLU features used for the Fréchet distance.',
      file: EVALUATOR_ONNX_FILE,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      opset: EVALUATOR_OPSET,
      inputs: converted.inputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
      outputs: converted.outputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
      input: { layout: 'NHWC', range: [-1, 1], height: EVALUATOR_INPUT_SHAPE[0], width: EVALUATOR_INPUT_SHAPE[1], channels: EVALUATOR_INPUT_SHAPE[2] },
      classes: Array.from({ length: EVALUATOR_CLASSES }, (_, i) => String(i)),
      featureDim: EVALUATOR_FEATURE_DIM,
      architecture: 'Conv2D 16 5x5/2 ReLU → Conv2D 32 5x5/2 ReLU → Flatten → Dense 128 ReLU (features) → Dense 10 softmax',
      training: {},
      metrics: { heldoutAccuracy: 0, heldoutPerClassAccuracy: [], heldoutSamples: 0, referenceFrechet: [] },
      parity: { maxAbsDiff: {}, tolerance: PARITY_TOLERANCE },
    };
    const onnx = await OnnxDigitClassifier.fromBytes(bytes, draft);
    try {
      const ortOut = await onnx.classify(digits.slice(), PARITY_DIGITS);
      const [tfProbs, tfFeats] = tf.tidy(() => {
        const outs = twoHeaded.predict(tf.tensor4d(digits, [PARITY_DIGITS, ...EVALUATOR_INPUT_SHAPE])) as tf.Tensor[];
        return outs.map((t) => t.dataSync() as Float32Array);
      });
      checkClassifierParity('mnist evaluator', [[EVALUATOR_IO.probabilities, tfProbs, ortOut.probabilities], [EVALUATOR_IO.features, tfFeats, ortOut.features]], PARITY_TOLERANCE, draft.parity.maxAbsDiff);

      // The one look at the held-out split: accuracy and the reference distances.
      const held = loadMnist('heldout');
      const { probabilities } = await onnx.classify(held.images, held.count);
      const predicted = argmaxRows(probabilities, EVALUATOR_CLASSES);
      const hit = new Array<number>(EVALUATOR_CLASSES).fill(0);
      const total = new Array<number>(EVALUATOR_CLASSES).fill(0);
      predicted.forEach((p, i) => {
        total[held.labels[i]]++;
        if (p === held.labels[i]) hit[held.labels[i]]++;
      });
      draft.metrics = {
        heldoutAccuracy: hit.reduce((a, b) => a + b, 0) / held.count,
        heldoutPerClassAccuracy: hit.map((h, c) => h / total[c]),
        heldoutSamples: held.count,
        referenceFrechet: [],
      };
      for (const n of REFERENCE_SIZES) draft.metrics.referenceFrechet.push({ trainSamples: n, heldoutSamples: held.count, distance: await referenceFrechet(onnx, n) });
    } finally {
      await onnx.close();
    }
    draft.training = {
      command: opts.command,
      dataset: 'mnist training split (digits 0–799 of each class), less the last validationPerClass of each class kept for validation',
      trainSamples: trained.trainSamples,
      validationSamples: trained.validationSamples,
      config: trained.config,
      backend: trained.backend,
      durationSeconds: Math.round(trained.durationSeconds * 10) / 10,
      epochs: trained.epochs,
      createdAt: new Date().toISOString(),
    };
    const spec = EvaluatorSpecSchema.parse(draft);
    await writeFileAtomic(join(opts.outDir, EVALUATOR_ONNX_FILE), bytes);
    await writeFileAtomic(join(opts.outDir, EVALUATOR_SPEC_FILE), `${JSON.stringify(spec, null, 2)}\n`);
    if (opts.json) print(`${JSON.stringify({ outDir: opts.outDir, ...spec.metrics, parity: spec.parity }, null, 2)}\n`);
    else {
      const ref = spec.metrics.referenceFrechet.map((r) => `${r.distance.toFixed(3)} (${r.trainSamples} training digits)`).join(', ');
      print(
        [
          `mnist evaluator written to ${opts.outDir}/${EVALUATOR_ONNX_FILE} (${(bytes.length / 1024).toFixed(0)} KiB) and ${EVALUATOR_SPEC_FILE}`,
          `  held-out accuracy     ${(100 * spec.metrics.heldoutAccuracy).toFixed(2)} % of ${spec.metrics.heldoutSamples} digits`,
          `  per class             ${spec.metrics.heldoutPerClassAccuracy.map((a, c) => `${c}: ${(100 * a).toFixed(1)}`).join('  ')}`,
          `  reference FD          ${ref} vs the held-out digits`,
          `  parity (max |Δ|)      ${Object.entries(spec.parity.maxAbsDiff).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`,
          `  training              ${trained.trainSamples} digits, ${trained.config.epochs} epochs, ${trained.backend} backend, ${trained.durationSeconds.toFixed(0)} s`,
          '',
        ].join('\n'),
      );
    }
    return spec;
  } finally {
    // The classifier's layers are all inside twoHeaded: disposing it frees every weight (disposing
    // both would dispose the shared layers twice).
    twoHeaded.dispose();
  }
}
