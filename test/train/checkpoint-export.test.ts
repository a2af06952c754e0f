/**
 * `wganx export --checkpoint`: the generator of a checkpoint, exported, gives exactly the samples of
 * the run's own export at that step (batch-norm statistics and --data-scale included), with the
 * step in its manifest and the quality figures measured (the weight average of an --ema run);
 * bad input names the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/core/manifest.js';
import { openGenerator } from '../../src/runtime/node.js';
import { exportCheckpoint } from '../../src/train/checkpoint-export.js';
import { train } from '../../src/train/run.js';
import { tempDir, tinyConfig } from './helpers.js';

async function samples(modelDir: string): Promise<Float32Array> {
  const g = await openGenerator(modelDir, { device: 'cpu', threads: 1 });
  try {
    return (await g.sample({ seed: 5, start: 0, n: 64 })).data as Float32Array;
  } finally {
    await g.dispose();
  }
}

test('export --checkpoint: the newest checkpoint of a run exports to the same samples as the run itself, with its step and figures in the manifest', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const run = join(dir, 'ring-ck');
    const result = await train(tinyConfig(run, { dataScale: 4, gNorm: 'batch', steps: 6, checkpointEvery: 3, modelsDir: join(dir, 'models'), export: true }), { progress: false, log: () => {} });
    const fromRun = result.exportDir!;

    // A run folder means its newest checkpoint (step 6, the run's end).
    const latest = await exportCheckpoint({ checkpoint: run, out: join(dir, 'models', 'ring-step6') }, () => {});
    assert.equal(latest.step, 6);
    assert.deepEqual(await samples(latest.dir), await samples(fromRun));
    const manifest = parseManifest(JSON.parse(readFileSync(join(latest.dir, 'manifest.json'), 'utf8')));
    assert.equal(manifest.training?.steps, 6);
    assert.equal((manifest.training?.hyperparameters as Record<string, unknown>).dataScale, 4);
    assert.equal(manifest.training?.metrics.modesCovered, latest.metrics?.modesCovered);
    assert.equal(typeof latest.metrics?.modesCovered, 'number');

    // A checkpoint folder means that step: an earlier generator, other samples.
    const earlier = await exportCheckpoint({ checkpoint: join(run, 'checkpoints', 'step-000000003'), out: join(dir, 'models', 'ring-step3') }, () => {});
    assert.equal(earlier.step, 3);
    assert.notDeepEqual(await samples(earlier.dir), await samples(fromRun));
  } finally {
    cleanup();
  }
});

test('export --checkpoint of a run with --ema exports its weight average, as the run itself does', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const run = join(dir, 'ring-ema');
    const result = await train(tinyConfig(run, { gNorm: 'batch', steps: 6, ema: 0.9, modelsDir: join(dir, 'models'), export: true }), { progress: false, log: () => {} });
    const fromCheckpoint = await exportCheckpoint({ checkpoint: run, out: join(dir, 'models', 'ring-ema-step6') }, () => {});
    assert.deepEqual(await samples(fromCheckpoint.dir), await samples(result.exportDir!));
    const manifest = parseManifest(JSON.parse(readFileSync(join(fromCheckpoint.dir, 'manifest.json'), 'utf8')));
    assert.equal((manifest.training?.hyperparameters as Record<string, unknown>).ema, 0.9);
  } finally {
    cleanup();
  }
});

test('export --checkpoint: bad input names the flag and writes nothing', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const run = join(dir, 'ring');
    await train(tinyConfig(run, { steps: 2, checkpointEvery: 2 }), { progress: false, log: () => {} });
    const out = join(dir, 'models', 'x');
    const cases: [Record<string, unknown>, string][] = [
      [{ checkpoint: join(dir, 'nowhere') }, '--checkpoint'],
      [{ checkpoint: dir }, '--checkpoint'], // a folder without checkpoints
      [{ checkpoint: run, model: run }, '--model'],
      [{ checkpoint: run, kind: 'image' }, '--kind'],
      [{ checkpoint: run, labels: ['a'] }, '--labels'],
    ];
    for (const [given, field] of cases) {
      await assert.rejects(exportCheckpoint({ out, ...given }, () => {}), (err: unknown) => err instanceof InvalidArgumentError && err.field === field, JSON.stringify(given));
    }
    assert.ok(!existsSync(out));
  } finally {
    cleanup();
  }
});
