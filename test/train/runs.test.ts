/**
 * Short end-to-end runs (a few steps, tiny nets, cpu backend) for every algorithm and every kind
 * of data set, checking what a user gets: metrics.jsonl, sample sheets, the curves plot, the
 * report, checkpoints, the tfjs generator, and (for two runs) the exported ONNX model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { parseManifest } from '../../src/core/manifest.js';
import { readMetrics } from '../../src/train/metrics-log.js';
import { exportableCritic, exportableGenerator } from '../../src/train/export-generator.js';
import { buildNets, disposeNets } from '../../src/train/models/index.js';
import { CounterRng } from '../../src/core/random.js';
import { criticIterations, learningRate, WARMUP_CRITIC_ITERS } from '../../src/train/schedule.js';
import { train } from '../../src/train/run.js';
import { tempDir, tinyConfig } from './helpers.js';

async function writePng(file: string, value: number, rgb: boolean): Promise<void> {
  const channels = rgb ? 3 : 1;
  const px = Buffer.alloc(10 * 10 * channels);
  for (let i = 0; i < px.length; i++) px[i] = (value + 17 * i) % 256;
  await sharp(px, { raw: { width: 10, height: 10, channels } }).png().toFile(file);
}

const RUNS: Array<[string, Parameters<typeof tinyConfig>[1] & { folder?: 'labelled' | 'plain' }]> = [
  ['wgan-gp on ring8', { algo: 'wgan-gp', dataset: 'ring8', sampleEvery: 2, checkpointEvery: 2 }],
  ['wgan (clipping) on grid25', { algo: 'wgan', dataset: 'grid25' }],
  ['gan baseline on swissroll', { algo: 'gan', dataset: 'swissroll' }],
  ['wgan-gp with warm-up critic on ring8', { algo: 'wgan-gp', dataset: 'ring8', warmupCritic: true, steps: 2 }],
  ['conditional wgan-gp mlp on mnist', { algo: 'wgan-gp', dataset: 'mnist', conditional: true, batch: 4, steps: 3 }],
  ['conditional wgan-gp mlp with an auxiliary classifier on mnist', { algo: 'wgan-gp', dataset: 'mnist', conditional: true, gCond: 'concat', acWeight: 1, acWeightG: 0.1, batch: 4, steps: 3 }],
  ['wgan dcgan on mnist', { algo: 'wgan', dataset: 'mnist', arch: 'dcgan', hidden: 2, batch: 4, steps: 2 }],
  ['conditional wgan-gp dcgan on a labelled image folder', { algo: 'wgan-gp', arch: 'dcgan', conditional: true, hidden: 2, batch: 4, steps: 2, imageSize: 8, folder: 'labelled' }],
  ['gan mlp on a plain RGB image folder', { algo: 'gan', arch: 'mlp', batch: 4, steps: 2, imageSize: 8, folder: 'plain' }],
];

for (const [name, opts] of RUNS) {
  test(`short run: ${name}`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      let dataset = opts.dataset;
      if (opts.folder) {
        dataset = join(dir, 'images');
        const classes = opts.folder === 'labelled' ? ['circle', 'square'] : ['all'];
        for (const [k, c] of classes.entries()) {
          mkdirSync(join(dataset, c), { recursive: true });
          for (let i = 0; i < 3; i++) await writePng(join(dataset, c, `${i}.png`), 40 * k + i, opts.folder === 'plain');
        }
      }
      const { folder: _f, ...rest } = opts;
      const config = tinyConfig(join(dir, 'run'), { ...rest, dataset });
      const result = await train(config, { progress: false, log: () => {} });
      assert.equal(result.stepsDone, config.steps);
      const records = readMetrics(join(config.out, 'metrics.jsonl'));
      assert.deepEqual(records.map((r) => r.step), Array.from({ length: config.steps }, (_, i) => i + 1));
      for (const r of records) {
        assert.ok([r.w, r.criticLoss, r.generatorLoss, r.seconds].every(Number.isFinite), JSON.stringify(r));
        assert.equal(r.penalty === null, config.algo !== 'wgan-gp');
        if (config.acWeight > 0) assert.ok(Number.isFinite(r.classLoss) && r.classLoss! > 0, `classLoss ${r.classLoss}`);
        else assert.equal(r.classLoss, undefined);
      }
      for (const f of ['curves.png', 'report.md', 'samples/final.png', 'generator/model.json', `checkpoints/step-${String(config.steps).padStart(9, '0')}/state.json`]) {
        assert.ok(existsSync(join(config.out, f)), f);
      }
      if (config.sampleEvery) assert.ok(existsSync(join(config.out, 'samples', 'step-0000002.png')));
      const meta = await sharp(join(config.out, 'samples', 'final.png')).metadata();
      assert.ok(meta.width! > 20 && meta.height! > 20);
      const report = readFileSync(join(config.out, 'report.md'), 'utf8');
      assert.match(report, new RegExp(`backend: cpu`));
      if (config.acWeight > 0) assert.match(report, /classifier head: weight 1 in D, 0\.1 in G/);
    } finally {
      cleanup();
    }
  });
}

test('export: a ring generator trained with --data-scale outputs data coordinates; provenance in the manifest', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const config = tinyConfig(join(dir, 'ring-test'), { dataScale: 4, modelsDir: join(dir, 'models'), export: true, steps: 2 });
    const result = await train(config, { progress: false, log: () => {} });
    assert.equal(result.exportDir, join(dir, 'models', 'ring-test'));
    const manifest = parseManifest(JSON.parse(readFileSync(join(result.exportDir!, 'manifest.json'), 'utf8')));
    assert.equal(manifest.kind, 'points');
    assert.deepEqual(manifest.output.range, [-1.1, 1.1]);
    assert.equal(manifest.training?.algorithm, 'wgan-gp');
    assert.equal(manifest.training?.dataset, 'ring8');
    assert.equal(manifest.training?.steps, 2);
    assert.equal(manifest.training?.backend, 'cpu');
    assert.equal(manifest.training?.command, 'wganx train (test)');
    assert.equal((manifest.training?.hyperparameters as Record<string, unknown>).dataScale, 4);
    assert.ok(existsSync(join(result.exportDir!, 'generator.onnx')));
  } finally {
    cleanup();
  }
});

test('export: an MLP generator with batch norm (--g-norm batch) exports, parity-checked, with its option in the manifest', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const config = tinyConfig(join(dir, 'ring-bn'), { gNorm: 'batch', modelsDir: join(dir, 'models'), export: true, steps: 3 });
    const result = await train(config, { progress: false, log: () => {} });
    const manifest = parseManifest(JSON.parse(readFileSync(join(result.exportDir!, 'manifest.json'), 'utf8')));
    assert.equal((manifest.training?.hyperparameters as Record<string, unknown>).gNorm, 'batch');
    assert.ok(existsSync(join(result.exportDir!, 'generator.onnx')));
  } finally {
    cleanup();
  }
});

test('export: a conditional MNIST generator takes z and an integer label', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const config = tinyConfig(join(dir, 'digits'), { dataset: 'mnist', conditional: true, batch: 4, steps: 1, modelsDir: join(dir, 'models'), export: true });
    const result = await train(config, { progress: false, log: () => {} });
    const manifest = parseManifest(JSON.parse(readFileSync(join(result.exportDir!, 'manifest.json'), 'utf8')));
    assert.equal(manifest.kind, 'image');
    assert.equal(manifest.conditional?.numClasses, 10);
    const label = manifest.inputs.find((i) => i.role === 'label');
    assert.equal(label?.dtype, 'int64');
    assert.deepEqual(manifest.outputs[0].shape.slice(1), [28, 28, 1]);
    // The trained critic ships beside it: the generator's output and label in, a score out.
    assert.ok(manifest.critic && existsSync(join(result.exportDir!, 'critic.onnx')));
    assert.deepEqual(manifest.critic.inputs, [{ name: 'x', dtype: 'float32', shape: manifest.outputs[0].shape }, { name: 'label', dtype: label?.dtype, shape: label?.shape }]);
    assert.deepEqual(manifest.critic.outputs[0], { name: 'score', dtype: 'float32', shape: ['batch', 1] });
  } finally {
    cleanup();
  }
});

test('the exported copy of a point generator divides its output by --data-scale', async () => {
  await tf.setBackend('cpu');
  const spec = { kind: 'points' as const, dataShape: [2], latent: 3, numClasses: 0, hidden: 8, layers: 2, criticActivation: 'leaky_relu' as const, criticNorm: 'none' as const, gCond: 'multiply' as const, dCond: 'projection' as const };
  const nets = await buildNets('mlp', spec, new CounterRng(4, 1));
  const copy = await exportableGenerator(nets.generator, spec, 'mlp', 8);
  const z = tf.randomNormal([5, 3], 0, 1, 'float32', 1);
  const a = (nets.generator.predict(z) as tf.Tensor).dataSync();
  const b = (copy.predict(z) as tf.Tensor).dataSync();
  a.forEach((v, i) => assert.ok(Math.abs(v / 8 - b[i]) < 1e-6));
  copy.dispose();
  disposeNets(nets);
  z.dispose();
});

test('the exported copy of a point critic scores data coordinates: copy(x) = critic(x · --data-scale), the label embedding of a concat critic untouched', async () => {
  await tf.setBackend('cpu');
  for (const [numClasses, dCond] of [[0, 'projection'], [3, 'projection'], [3, 'concat']] as const) {
    const spec = { kind: 'points' as const, dataShape: [2], latent: 3, numClasses, hidden: 8, layers: 2, criticActivation: 'leaky_relu' as const, criticNorm: 'none' as const, gCond: 'multiply' as const, dCond, auxClassifier: numClasses > 0 };
    const nets = await buildNets('mlp', spec, new CounterRng(4, 1));
    const copy = await exportableCritic(nets.critic, spec, 'mlp', 8);
    const x = tf.randomNormal([5, 2], 0, 1, 'float32', 1);
    const feeds = (v: tf.Tensor) => (numClasses > 0 ? [v, tf.tensor2d([0, 1, 2, 1, 0], [5, 1], 'int32')] : v);
    const outputs = (m: tf.LayersModel, v: tf.Tensor) => ([] as tf.Tensor[]).concat(m.predict(feeds(v)) as tf.Tensor | tf.Tensor[]).map((t) => Array.from(t.dataSync()));
    const want = outputs(nets.critic, tf.mul(x, 8));
    const got = outputs(copy, x);
    assert.equal(got.length, numClasses > 0 ? 2 : 1, 'score (and the AC logits)');
    got.forEach((out, k) => out.forEach((v, i) => assert.ok(Math.abs(v - want[k][i]) < 1e-4 * Math.max(1, Math.abs(want[k][i])), `${dCond}/${numClasses}: output ${k}[${i}] ${v} vs ${want[k][i]}`)));
    // Without the scale the copy is the critic itself, weight for weight.
    const same = await exportableCritic(nets.critic, spec, 'mlp', 1);
    same.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), nets.critic.getWeights()[i].dataSync()));
    [copy, same].forEach((m) => m.dispose());
    // The copy holds every tensor it made: disposing it leaves none behind.
    const before = tf.memory().numTensors;
    (await exportableCritic(nets.critic, spec, 'mlp', 8)).dispose();
    assert.equal(tf.memory().numTensors, before);
    disposeNets(nets);
    x.dispose();
  }
});

test('schedule: warm-up critic iterations and the linear learning-rate decay', () => {
  const cfg = { nCritic: 5, warmupCritic: true };
  assert.equal(criticIterations(0, cfg), WARMUP_CRITIC_ITERS);
  assert.equal(criticIterations(24, cfg), WARMUP_CRITIC_ITERS);
  assert.equal(criticIterations(25, cfg), 5);
  assert.equal(criticIterations(500, cfg), WARMUP_CRITIC_ITERS);
  assert.equal(criticIterations(501, cfg), 5);
  assert.equal(criticIterations(0, { nCritic: 5, warmupCritic: false }), 5);
  assert.equal(learningRate(0, { lr: 1e-4, lrSchedule: 'linear', steps: 100 }), 1e-4);
  assert.ok(Math.abs(learningRate(50, { lr: 1e-4, lrSchedule: 'linear', steps: 100 }) - 5e-5) < 1e-18);
  assert.equal(learningRate(50, { lr: 1e-4, lrSchedule: 'constant', steps: 100 }), 1e-4);
});

test('output folders are checked before training: --models-dir naming a file, and a folder holding another model without --force', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const quiet = { progress: false, log: () => {} };
    let evaluated = 0;
    const count = { ...quiet, evaluate: async () => (evaluated++, null) };
    await assert.rejects(train(tinyConfig(join(dir, 'run1'), { export: true, modelsDir: file }), count), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--models-dir');
    assert.ok(!existsSync(join(dir, 'run1', 'metrics.jsonl')), 'nothing trained');
    // A folder under a file cannot be made: refused before training too, naming the file.
    await assert.rejects(train(tinyConfig(join(dir, 'run1'), { export: true, modelsDir: join(file, 'sub') }), count), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--models-dir' && e.allowed.includes(`(${file} is a file)`));
    assert.ok(!existsSync(join(dir, 'run1', 'metrics.jsonl')), 'nothing trained');
    const models = join(dir, 'models');
    await train(tinyConfig(join(dir, 'first'), { export: true, modelsDir: models, name: 'same', command: 'wganx train one' }), count);
    await assert.rejects(train(tinyConfig(join(dir, 'second'), { export: true, modelsDir: models, name: 'same', command: 'wganx train two', seed: 5 }), count), /already holds a different model.*--force/s);
    assert.ok(!existsSync(join(dir, 'second', 'metrics.jsonl')), 'refused before training');
    const forced = await train(tinyConfig(join(dir, 'second'), { export: true, modelsDir: models, name: 'same', command: 'wganx train two', seed: 5, force: true }), count);
    assert.equal(forced.exportDir, join(models, 'same'));
    assert.equal(evaluated, 2);
  } finally {
    cleanup();
  }
});

test('a failed measurement of the exported model is reported (the command exits 1), the export stays', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const result = await train(tinyConfig(join(dir, 'run'), { export: true, modelsDir: join(dir, 'models') }), {
      progress: false,
      log: () => {},
      evaluate: async () => {
        throw new Error('the evaluator is missing');
      },
    });
    assert.equal(result.evaluationError, 'the evaluator is missing');
    assert.ok(existsSync(join(dir, 'models', 'run', 'manifest.json')));
    assert.ok(result.summary!.notes.some((n) => n.includes('evaluation failed: the evaluator is missing')));
  } finally {
    cleanup();
  }
});

test('dcgan at 64 px (four up-samplings): a short colour run trains, exports with parity and samples', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'data');
    mkdirSync(data);
    for (let i = 0; i < 3; i++) {
      const px = Buffer.alloc(64 * 64 * 3);
      for (let p = 0; p < 64 * 64; p++) px.set([40 * i, 255 - 30 * i, (p % 64) * 4], p * 3);
      await sharp(px, { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(data, `${i}.png`));
    }
    const config = tinyConfig(join(dir, 'run'), { dataset: data, arch: 'dcgan', imageSize: 64, hidden: 2, latent: 4, batch: 4, steps: 2, export: true, modelsDir: join(dir, 'models'), holdout: 0 });
    const result = await train(config, { progress: false, log: () => {} });
    const manifest = parseManifest(JSON.parse(readFileSync(join(result.exportDir!, 'manifest.json'), 'utf8')));
    assert.deepEqual(manifest.outputs[0].shape, ['batch', 64, 64, 3]);
    assert.ok(Math.max(...Object.values(manifest.export.parity.maxAbsDiff)) <= 1e-4);
    const { openGenerator } = await import('../../src/runtime/node.js');
    const g = await openGenerator(result.exportDir!, { device: 'cpu', threads: 1 });
    try {
      assert.deepEqual((await g.sample({ seed: 2, start: 0, n: 2 })).dims, [2, 64, 64, 3]);
    } finally {
      await g.dispose();
    }
  } finally {
    cleanup();
  }
});

test('resnet: a short conditional run on an image folder trains, exports with parity (up-sampling, residual adds, conditional batch norm) and samples', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'data');
    for (const cls of ['a', 'b']) {
      mkdirSync(join(data, cls), { recursive: true });
      for (let i = 0; i < 3; i++) await sharp(Buffer.alloc(16 * 16 * 3, cls === 'a' ? 30 + 50 * i : 220 - 50 * i), { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(join(data, cls, `${i}.png`));
    }
    const config = tinyConfig(join(dir, 'run'), { dataset: data, conditional: true, arch: 'resnet', imageSize: 16, channels: '3', hidden: 4, latent: 4, batch: 4, steps: 2, export: true, modelsDir: join(dir, 'models'), holdout: 0 });
    assert.deepEqual([config.lr, config.beta1, config.beta2, config.nCritic, config.criticActivation], [2e-4, 0, 0.9, 5, 'relu'], "the paper's recipe by default");
    const result = await train(config, { progress: false, log: () => {} });
    const manifest = parseManifest(JSON.parse(readFileSync(join(result.exportDir!, 'manifest.json'), 'utf8')));
    assert.ok(Math.max(...Object.values(manifest.export.parity.maxAbsDiff)) <= 1e-4);
    const { openGenerator } = await import('../../src/runtime/node.js');
    const g = await openGenerator(result.exportDir!, { device: 'cpu', threads: 1 });
    try {
      const out = await g.sample({ seed: 1, start: 0, n: 3, labels: Int32Array.from([0, 1, 1]) });
      assert.deepEqual(out.dims, [3, 16, 16, 3]);
      assert.ok(Array.from(out.data as Float32Array).every((v) => v >= -1 && v <= 1));
    } finally {
      await g.dispose();
    }
  } finally {
    cleanup();
  }
});
