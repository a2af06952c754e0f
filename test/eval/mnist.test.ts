/**
 * The MNIST path end to end on a tiny evaluator (300 training digits, 2 epochs: seconds, not the
 * shipped one's minutes): training + export + parity, the ONNX classifier, the metrics on sources
 * with known answers, and `evaluateModel` on a conditional ONNX generator with int64 labels.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainEvaluatorCommand } from '../../src/eval/evaluator-export.js';
import { trainEvaluator } from '../../src/eval/evaluator-train.js';
import { OnnxDigitClassifier, readEvaluatorSpec, argmaxRows, type EvaluatorSpec } from '../../src/eval/evaluator.js';
import { mnistMetrics, balancedTrainingDigits, requestedLabels, type DigitSource } from '../../src/eval/mnist.js';
import { evaluateModel, manifestMetrics, updateManifestMetrics } from '../../src/eval/command.js';
import { exportModel } from '../../src/export/index.js';
import { MNIST_PIXELS } from '../../src/data/mnist.js';
import { InvalidArgumentError, parseManifest } from '../../src/core/index.js';

const root = mkdtempSync(join(tmpdir(), 'wganx-eval-mnist-'));
const evaluatorDir = join(root, 'evaluator');
const TINY = { epochs: 2, limitPerClass: 30, seed: 3 };
let spec: EvaluatorSpec;
let classifier: OnnxDigitClassifier;

before(async () => {
  spec = await trainEvaluatorCommand({ outDir: evaluatorDir, config: TINY, command: 'test', json: false, log: () => {}, print: () => {} });
  classifier = await OnnxDigitClassifier.open(evaluatorDir, { threads: 1 });
});

after(async () => {
  await classifier?.close();
  rmSync(root, { recursive: true, force: true });
});

test('the evaluator trains on the training split, exports with two outputs and matches tfjs', async () => {
  assert.ok(existsSync(join(evaluatorDir, 'evaluator.onnx')));
  const onDisk = await readEvaluatorSpec(evaluatorDir);
  assert.deepEqual(onDisk.metrics, spec.metrics);
  assert.deepEqual(spec.inputs.map((i) => [i.name, i.dtype, i.shape]), [['image', 'float32', ['batch', 28, 28, 1]]]);
  assert.deepEqual(spec.outputs.map((o) => [o.name, o.shape]), [['probabilities', ['batch', 10]], ['features', ['batch', 128]]]);
  assert.equal(spec.training.trainSamples, 300);
  assert.equal(spec.metrics.heldoutSamples, 2000);
  for (const diff of Object.values(spec.parity.maxAbsDiff)) assert.ok(diff < 1e-3, `parity ${diff}`);
  // 300 digits and two epochs: far from the shipped evaluator, far above chance (10%).
  assert.ok(spec.metrics.heldoutAccuracy > 0.3, `held-out accuracy ${spec.metrics.heldoutAccuracy}`);
  assert.deepEqual(spec.metrics.referenceFrechet.map((r) => r.trainSamples), [2000, 8000]);
  for (const r of spec.metrics.referenceFrechet) assert.ok(r.distance > 0 && Number.isFinite(r.distance));
});

test('training leaks no tensors', async () => {
  const before = tf.memory().numTensors;
  const trained = await trainEvaluator({ epochs: 2, limitPerClass: 5 });
  trained.models.twoHeaded.dispose(); // holds every layer of the classifier too
  assert.equal(tf.memory().numTensors, before);
});

test('the same config trains the same weights (reproducible)', async () => {
  const a = await trainEvaluator({ epochs: 1, limitPerClass: 5, seed: 9 });
  const b = await trainEvaluator({ epochs: 1, limitPerClass: 5, seed: 9 });
  assert.deepEqual(a.epochs.map((e) => e.loss), b.epochs.map((e) => e.loss));
  const wa = a.models.twoHeaded.getWeights().map((w) => Array.from(w.dataSync()));
  const wb = b.models.twoHeaded.getWeights().map((w) => Array.from(w.dataSync()));
  assert.deepEqual(wa, wb);
  for (const t of [a, b]) t.models.twoHeaded.dispose();
});

test('a changed evaluator.onnx is refused (sha256 check)', async () => {
  const copy = join(root, 'tampered');
  cpSync(evaluatorDir, copy, { recursive: true });
  const file = join(copy, 'evaluator.onnx');
  writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from([0])]));
  await assert.rejects(OnnxDigitClassifier.open(copy), (e: unknown) => e instanceof InvalidArgumentError && /sha256/.test(e.message));
  await assert.rejects(OnnxDigitClassifier.open(join(root, 'missing')), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--evaluator');
});

test('a generator that replays real training digits scores exactly the reference distance', async () => {
  const n = 500;
  const real = balancedTrainingDigits(n);
  // Conditional: sample i is asked for class i mod 10 and gets training digit ⌊i/10⌋ of that class,
  // i.e. exactly the reference set, in the same order.
  const source: DigitSource = {
    numClasses: 10,
    generate: async (start, count, labels) => {
      assert.deepEqual([...labels!], [...requestedLabels(start, count, 10)]);
      return real.images.slice(start * MNIST_PIXELS, (start + count) * MNIST_PIXELS);
    },
  };
  const m = await mnistMetrics(source, classifier, { samples: n, batch: 128 });
  assert.equal(m.referenceSamples, n);
  assert.ok(Math.abs(m.frechetDistance - m.frechetReference) <= 1e-9 * (1 + m.frechetReference), `${m.frechetDistance} vs ${m.frechetReference}`);
  // Accuracy is the evaluator's own accuracy on these digits.
  const { probabilities } = await classifier.classify(real.images, n);
  const pred = argmaxRows(probabilities, 10);
  const expected = pred.reduce((s, p, i) => s + (p === real.labels[i] ? 1 : 0), 0) / n;
  assert.equal(m.accuracy, expected);
  assert.equal(m.perClassAccuracy!.length, 10);
  assert.equal(m.conditional, true);
});

test('a collapsed unconditional generator: one class, reverse KL log 10, FD far above the reference', async () => {
  const source: DigitSource = { numClasses: null, generate: async (_start, count) => new Float32Array(count * MNIST_PIXELS).fill(-1) };
  const m = await mnistMetrics(source, classifier, { samples: 200 });
  assert.equal(m.accuracy, null);
  assert.equal(m.classesPredicted, 1);
  assert.ok(Math.abs(m.reverseKl - Math.log(10)) < 1e-12);
  assert.ok(m.frechetDistance > 2 * m.frechetReference, `${m.frechetDistance} vs ${m.frechetReference}`);
  // A source with the wrong number of classes is refused.
  await assert.rejects(mnistMetrics({ numClasses: 3, generate: source.generate }, classifier, { samples: 10 }), InvalidArgumentError);
});

test('evaluateModel on a conditional ONNX generator (z + int64 label), figure and --update-manifest', async () => {
  // A tiny conditional generator: label → Embedding(10, 16) ⊙ Dense(z) → Dense 784 tanh → 28×28×1.
  const z = tf.input({ shape: [8], name: 'z' });
  const label = tf.input({ shape: [1], name: 'label' });
  const emb = tf.layers.flatten().apply(tf.layers.embedding({ inputDim: 10, outputDim: 16 }).apply(label)) as tf.SymbolicTensor;
  const h = tf.layers.dense({ units: 16 }).apply(z) as tf.SymbolicTensor;
  const mixed = tf.layers.multiply().apply([h, emb]) as tf.SymbolicTensor;
  const img = tf.layers.reshape({ targetShape: [28, 28, 1] }).apply(tf.layers.dense({ units: 784, activation: 'tanh' }).apply(mixed)) as tf.SymbolicTensor;
  const gen = tf.model({ inputs: [z, label], outputs: img });
  const modelDir = join(root, 'models', 'cmnist');
  const training = { algorithm: 'wgan-gp', dataset: 'mnist', steps: 0, hyperparameters: {}, command: 'test', backend: 'cpu', durationSeconds: 0, metrics: { finalW: 0.5 } };
  await exportModel(gen, modelDir, { name: 'cmnist', training });
  gen.dispose();
  const figures = join(root, 'figures');
  const report = await evaluateModel({ modelDir, samples: 120, seed: 4, evaluatorDir, figuresDir: figures, threads: 1 });
  assert.equal(report.dataset, 'mnist');
  assert.equal(report.samples, 120);
  const m = report.mnist!;
  assert.equal(m.conditional, true);
  assert.ok(m.accuracy! >= 0 && m.accuracy! <= 1);
  assert.equal(m.perClassAccuracy!.length, 10);
  assert.ok(Number.isFinite(m.frechetDistance) && m.frechetDistance > 0);
  assert.equal(m.referenceSamples, 120);
  assert.equal(m.evaluator.heldoutAccuracy, spec.metrics.heldoutAccuracy);
  assert.deepEqual(report.figures, [join(figures, 'samples.png')]);
  assert.deepEqual([...readFileSync(report.figures[0]).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  // Same seed → same numbers.
  const again = await evaluateModel({ modelDir, samples: 120, seed: 4, evaluatorDir, figuresDir: null, threads: 1 });
  assert.equal(again.mnist!.frechetDistance, m.frechetDistance);
  assert.equal(again.mnist!.accuracy, m.accuracy);

  const before = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8'));
  await updateManifestMetrics(modelDir, manifestMetrics(report));
  const afterRaw = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8'));
  const parsed = parseManifest(afterRaw);
  assert.equal(parsed.training!.metrics.finalW, 0.5, 'existing metrics are kept');
  assert.equal(parsed.training!.metrics.frechetDistance, Math.round(m.frechetDistance * 1000) / 1000);
  assert.equal(parsed.training!.metrics.evalSamples, 120);
  assert.deepEqual({ ...afterRaw, training: null }, { ...before, training: null }, 'nothing but training.metrics changes');
});
