/**
 * `wganx export --checkpoint`: the generator of a checkpoint, exported, gives exactly the samples of
 * the run's own export at that step (batch-norm statistics and --data-scale included), with the
 * step in its manifest and the quality figures measured (the weight average of an --ema run);
 * both write the trained critic as critic.onnx, which scores data coordinates
 * (critic.onnx(x) = the tfjs critic(x · data-scale)), and refine.onnx; bad input names the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/core/manifest.js';
import * as tf from '@tensorflow/tfjs';
import { sampleLatents } from '../../src/core/latent.js';
import { createRunRngs } from '../../src/core/random.js';
import { openDataset } from '../../src/data/index.js';
import { readModelFolder } from '../../src/runtime/model-folder.js';
import { createSession, openGenerator } from '../../src/runtime/node.js';
import { configFromCheckpoint, readCheckpoint, restoreModel } from '../../src/train/checkpoint.js';
import { exportCheckpoint } from '../../src/train/checkpoint-export.js';
import { buildNets, disposeNets } from '../../src/train/models/index.js';
import { netSpec } from '../../src/train/open-run.js';
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

    // Both exports carry the critic of step 6: the same file, in data coordinates.
    const [runFolder, ckFolder] = await Promise.all([readModelFolder(fromRun), readModelFolder(latest.dir)]);
    assert.ok(runFolder.critic && ckFolder.critic, 'critic.onnx beside generator.onnx');
    assert.equal(ckFolder.critic.sha256, runFolder.critic.sha256);
    assert.deepEqual(ckFolder.manifest.critic?.inputs, [{ name: 'x', dtype: 'float32', shape: ['batch', 2] }]);
    assert.ok(Object.values(ckFolder.manifest.critic!.parity.maxAbsDiff).every((d) => d <= 1e-4));
    await expectCriticInDataCoordinates(join(run, 'checkpoints', 'step-000000006'), ckFolder.critic.bytes, 4);
    // And refine.onnx (critic(G(z)) and ∂/∂z, src/export/refine-graph.ts), checked against tf.grad at export.
    assert.ok(runFolder.refine && ckFolder.refine, 'refine.onnx beside critic.onnx');
    assert.equal(ckFolder.refine.sha256, runFolder.refine.sha256);
    const gradientCheck = ckFolder.manifest.critic!.refine!.gradientCheck;
    assert.ok(gradientCheck.maxAbsDiff <= gradientCheck.tolerance, JSON.stringify(gradientCheck));

    // A checkpoint folder means that step: an earlier generator, other samples.
    const earlier = await exportCheckpoint({ checkpoint: join(run, 'checkpoints', 'step-000000003'), out: join(dir, 'models', 'ring-step3') }, () => {});
    assert.equal(earlier.step, 3);
    assert.notDeepEqual(await samples(earlier.dir), await samples(fromRun));
  } finally {
    cleanup();
  }
});

/** critic.onnx(x) equals the checkpoint's tfjs critic at x · scale (the training units), on data-sized points. */
async function expectCriticInDataCoordinates(checkpoint: string, criticBytes: Uint8Array, scale: number): Promise<void> {
  const ck = await readCheckpoint(checkpoint);
  const config = configFromCheckpoint(ck.state.config, join(checkpoint, '..', '..'));
  assert.equal(config.dataScale, scale);
  const nets = await buildNets(config.arch, netSpec(config, await openDataset(config, () => {}, false)), createRunRngs(config.seed).init);
  const session = await createSession(criticBytes, { providers: ['cpu'], threads: 1 });
  try {
    restoreModel(nets.critic, ck.tensors.critic);
    const n = 32;
    const x = sampleLatents({ seed: 3, start: 0, count: n, dim: 2 });
    const got = (await session.run({ x: { dtype: 'float32', data: x, dims: [n, 2] } })).score.data as Float32Array;
    const want = tf.tidy(() => (nets.critic.predict(tf.mul(tf.tensor2d(x, [n, 2]), scale)) as tf.Tensor).dataSync());
    const unscaled = tf.tidy(() => (nets.critic.predict(tf.tensor2d(x, [n, 2])) as tf.Tensor).dataSync());
    const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    assert.ok(diff(got, want) <= 1e-4, `critic.onnx(x) vs critic(x·${scale}): ${diff(got, want)}`);
    assert.ok(diff(got, unscaled) > 1e-3, 'the scale makes a difference (else the check above proves nothing)');
  } finally {
    await session.release();
    disposeNets(nets);
  }
}

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
