/**
 * `--ema`: the generator's weight average against a float64 reference of its update rule, its
 * swap in and out of the model, and a run that trains exactly as without it but exports the
 * average its checkpoint holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../../src/tfjs/backend.js';
import { loadLayersModel } from '../../src/tfjs/model-files.js';
import { findLatestCheckpoint, readCheckpoint } from '../../src/train/checkpoint.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/run.js';
import { averageDecay, WeightAverage } from '../../src/train/weight-average.js';
import { tempDir, tinyConfig } from './helpers.js';

function tinyModel(): tf.LayersModel {
  return tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], kernelInitializer: 'ones', biasInitializer: 'zeros' })] });
}

function setWeights(model: tf.LayersModel, values: number[][]): void {
  const ts = values.map((v, i) => tf.tensor(v, model.weights[i].shape as number[]));
  model.setWeights(ts);
  tf.dispose(ts);
}

function weights(model: tf.LayersModel): number[][] {
  return model.getWeights().map((t) => Array.from(t.dataSync()));
}

test('the decay warms up as (1 + t) / (10 + t) and then stays at --ema', () => {
  assert.equal(averageDecay(0.999, 0), 0.1);
  assert.equal(averageDecay(0.999, 10), 11 / 20);
  assert.equal(averageDecay(0.999, 100_000), 0.999);
  assert.equal(averageDecay(0.5, 5), 0.4);
  assert.equal(averageDecay(0.5, 20), 0.5);
});

test('the average follows avg ← d·avg + (1 − d)·w after each update (float64 reference)', async () => {
  await startBackend('cpu', []);
  const model = tinyModel();
  const avg = new WeightAverage(model, 0.9);
  let ref = weights(model);
  const steps = [
    [[0.5, -1, 2, 0, 1, 3], [0.25, -0.5]],
    [[1, 1, 1, 1, 1, 1], [0, 0]],
    [[-2, 0.5, 0.125, 4, -1, 0], [1, 2]],
  ];
  steps.forEach((w, t) => {
    setWeights(model, w);
    avg.update(t);
    const d = averageDecay(0.9, t);
    ref = ref.map((a, i) => a.map((x, j) => d * x + (1 - d) * w[i][j]));
  });
  const got = avg.tensors().map((t) => Array.from(t.dataSync()));
  got.forEach((g, i) => g.forEach((x, j) => assert.ok(Math.abs(x - ref[i][j]) < 1e-6, `weight ${i}[${j}]: ${x} vs ${ref[i][j]}`)));

  // Swapped in for a sample sheet, then the model's own weights come back.
  const own = weights(model);
  const inside = await avg.swappedIn(() => Promise.resolve(weights(model)));
  assert.deepEqual(inside, got);
  assert.deepEqual(weights(model), own);
  avg.writeInto();
  assert.deepEqual(weights(model), got);
  avg.dispose();
  model.dispose();
});

test('--ema is a decay in [0, 1)', () => {
  assert.throws(() => resolveTrainConfig({ dataset: 'ring8', out: 'runs/x', ema: 1 }), /--ema: 1 is not allowed; expected a number in \[0, 1\)/);
  assert.throws(() => resolveTrainConfig({ dataset: 'ring8', out: 'runs/x', ema: -0.1 }), /--ema: -0\.1 is not allowed/);
  assert.equal(resolveTrainConfig({ dataset: 'ring8', out: 'runs/x' }).ema, 0);
});

test('a run with --ema trains exactly as one without it and exports the average its checkpoint holds', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const run = async (name: string, ema: number) => {
      const out = join(dir, name);
      await train(tinyConfig(out, { steps: 6, ema }), { log: () => {}, progress: false });
      return { out, ck: await readCheckpoint((await findLatestCheckpoint(out))!) };
    };
    const plain = await run('plain', 0);
    const averaged = await run('averaged', 0.9);
    // The average never feeds back: the same generator, critic and optimiser states.
    for (const group of ['generator', 'critic', 'optD', 'optG'] as const) assert.deepEqual(averaged.ck.tensors[group], plain.ck.tensors[group], group);
    assert.equal(plain.ck.tensors.ema.length, 0);
    assert.equal(averaged.ck.tensors.ema.length, averaged.ck.tensors.generator.length);
    assert.notDeepEqual(averaged.ck.tensors.ema, averaged.ck.tensors.generator);

    const exported = async (out: string) => {
      const model = await loadLayersModel(join(out, 'generator'));
      const values = model.getWeights().map((t) => t.dataSync() as Float32Array);
      model.dispose();
      return values;
    };
    assert.deepEqual(await exported(plain.out), plain.ck.tensors.generator);
    assert.deepEqual(await exported(averaged.out), averaged.ck.tensors.ema);
  } finally {
    cleanup();
  }
});
