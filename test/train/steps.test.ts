/**
 * The one-step trainers: no tensor leaks across steps, and weight clipping keeps every critic
 * weight in [−c, c] after every critic update.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../../src/tfjs/backend.js';
import type { TrainConfig } from '../../src/train/config.js';
import { openDataset } from '../../src/data/index.js';
import { registerTrainingGradients } from '../../src/tfjs/gradients.js';
import { buildNets, disposeNets } from '../../src/train/models/index.js';
import { createOptimizer } from '../../src/train/optimizers.js';
import { createRunRngs, restoreRunRngs, rngStates } from '../../src/core/random.js';
import { netSpec } from '../../src/train/run.js';
import { criticStep, generatorStep, trainableVariables, type StepContext } from '../../src/train/steps.js';
import { tinyConfig } from './helpers.js';

async function context(config: TrainConfig): Promise<StepContext> {
  registerTrainingGradients();
  await startBackend(config.backend, []);
  const dataset = await openDataset(config);
  const rngs = createRunRngs(config.seed);
  const nets = await buildNets(config.arch, netSpec(config, dataset), rngs.init);
  const criticVars = trainableVariables(nets.critic);
  const generatorVars = trainableVariables(nets.generator);
  const hp = { lr: config.lr, beta1: config.beta1, beta2: config.beta2 };
  return { config, dataset, nets, criticVars, generatorVars, optD: createOptimizer(config.optimizer, criticVars, hp), optG: createOptimizer(config.optimizer, generatorVars, hp), rngs };
}

function release(ctx: StepContext): void {
  disposeNets(ctx.nets);
  ctx.optD.dispose();
  ctx.optG.dispose();
}

const LEAK_CASES: Array<[string, Parameters<typeof tinyConfig>[1]]> = [
  ['wgan-gp mlp', { algo: 'wgan-gp' }],
  ['wgan mlp', { algo: 'wgan' }],
  ['gan mlp', { algo: 'gan' }],
  ['wgan-gp conditional dcgan (mnist)', { algo: 'wgan-gp', dataset: 'mnist', arch: 'dcgan', conditional: true, hidden: 2, batch: 4 }],
  ['wgan-gp conditional mlp (mnist, concat)', { algo: 'wgan-gp', dataset: 'mnist', conditional: true, gCond: 'concat', dCond: 'concat', batch: 4 }],
  ['wgan-gp conditional mlp with an auxiliary classifier (mnist)', { algo: 'wgan-gp', dataset: 'mnist', conditional: true, acWeight: 1, batch: 4 }],
];

for (const [name, opts] of LEAK_CASES) {
  test(`${name}: tf.memory().numTensors does not grow across steps`, async () => {
    const ctx = await context(tinyConfig('unused', opts));
    const step = () => {
      criticStep(ctx, ctx.config.lr);
      criticStep(ctx, ctx.config.lr);
      generatorStep(ctx, ctx.config.lr);
    };
    step(); // first step may create lasting state (none expected, but allowed)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    assert.equal(tf.memory().numTensors, before);
    release(ctx);
  });
}

test('wgan: every critic weight stays in [−c, c] after every critic update', async () => {
  const c = 0.01;
  const ctx = await context(tinyConfig('unused', { algo: 'wgan', clip: c, lr: 0.05 }));
  // The seeded initial weights are far outside [−c, c]: the first update must clip them all.
  assert.ok(ctx.criticVars.some((v) => Math.max(...Array.from(v.dataSync(), Math.abs)) > c));
  for (let i = 0; i < 5; i++) {
    criticStep(ctx, ctx.config.lr);
    for (const v of ctx.criticVars) {
      const vals = v.dataSync();
      for (const x of vals) assert.ok(x >= -c && x <= c, `${v.name}: ${x}`);
    }
    // With a large learning rate the weights reach the bounds: clipping is active, not vacuous.
    assert.ok(ctx.criticVars.some((v) => Array.from(v.dataSync()).some((x) => Math.abs(x) === Math.fround(c))));
  }
  release(ctx);
});

test('the gradient penalty term is recorded for wgan-gp only', async () => {
  const gp = await context(tinyConfig('unused', { algo: 'wgan-gp' }));
  const r = criticStep(gp, gp.config.lr);
  assert.ok(r.penalty !== null && r.penalty >= 0 && Number.isFinite(r.loss) && Number.isFinite(r.w));
  release(gp);
  const clip = await context(tinyConfig('unused', { algo: 'wgan' }));
  assert.equal(criticStep(clip, clip.config.lr).penalty, null);
  release(clip);
});

test('building and releasing a run leaves no tensor behind', async () => {
  await startBackend('cpu', []);
  const before = tf.memory().numTensors;
  const ctx = await context(tinyConfig('unused', { algo: 'wgan-gp' }));
  criticStep(ctx, ctx.config.lr);
  generatorStep(ctx, ctx.config.lr);
  release(ctx);
  assert.equal(tf.memory().numTensors, before);
});

test('auxiliary classifier: the critic learns the classes of real digits, and only the generator loss with --ac-weight-g rewards the asked class', async () => {
  const ctx = await context(tinyConfig('unused', { dataset: 'mnist', conditional: true, acWeight: 1, acWeightG: 1, hidden: 32, batch: 32, lr: 1e-3, beta1: 0.5 }));
  const losses: number[] = [];
  for (let i = 0; i < 150; i++) {
    const r = criticStep(ctx, ctx.config.lr);
    assert.ok(r.classLoss !== null && Number.isFinite(r.classLoss), `classLoss ${r.classLoss}`);
    losses.push(r.classLoss);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Chance level is ln 10 ≈ 2.30; even beside the Wasserstein loss, the head learns the classes within ~100 batches.
  assert.ok(mean(losses.slice(-10)) < 0.6 * mean(losses.slice(0, 10)), `class loss ${mean(losses.slice(0, 10))} → ${mean(losses.slice(-10))}`);
  // Same draws (replayed random streams), learning rate 0: the generator loss with --ac-weight-g 1
  // exceeds the one without by the classifier's cross-entropy on the generated batch, which is > 0.
  const saved = rngStates(ctx.rngs);
  const withClass = generatorStep(ctx, 0);
  ctx.rngs = restoreRunRngs(saved);
  ctx.config.acWeightG = 0;
  const withoutClass = generatorStep(ctx, 0);
  assert.ok(withClass - withoutClass > 0.05, `${withClass} vs ${withoutClass}`);
  release(ctx);
});
