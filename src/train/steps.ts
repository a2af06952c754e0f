/**
 * One critic update and one generator update: the inner loop of every algorithm.
 *
 * Each function draws its inputs from the run's seeded streams, computes the loss of
 * ./losses.ts inside `tf.variableGrads` (WGAN-GP: with the penalty's double back-propagation),
 * applies the optimiser and, for `wgan`, clips every critic weight to [−c, c]. A conditional critic
 * with an auxiliary classifier head (`--ac-weight`) also learns the classes of the real batch, and
 * the generator is rewarded for samples it classifies as the asked class. Everything runs
 * inside `tf.tidy`; only plain numbers come out.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from './config.js';
import type { Dataset } from '../data/dataset.js';
import { classCrossEntropy, gradientPenalty, ganCriticLoss, ganGeneratorLoss, interpolates, wassersteinEstimate, wganCriticLoss, wganGeneratorLoss } from './losses.js';
import type { Nets } from './models/index.js';
import type { TrainOptimizer } from './optimizers.js';
import type { RunRngs } from '../core/random.js';
import { diffAugment } from './diffaugment.js';

export interface StepContext {
  config: TrainConfig;
  dataset: Dataset;
  nets: Nets;
  /** The critic's trainable variables, in `critic.trainableWeights` order (also what gets clipped). */
  criticVars: tf.Variable[];
  generatorVars: tf.Variable[];
  optD: TrainOptimizer;
  optG: TrainOptimizer;
  rngs: RunRngs;
}

export interface CriticStepResult {
  /** L_D including the penalty term. */
  loss: number;
  /** E[D(x)] − E[D(G(z))]. */
  w: number;
  /** The penalty E[(‖∇D‖ − 1)²] before λ, or null without one. */
  penalty: number | null;
  /** The auxiliary classifier's cross-entropy on the real batch (before --ac-weight), or null without one. */
  classLoss: number | null;
}

export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** Gradients in `vars` order; a variable the loss does not depend on gets zeros (tf.variableGrads omits it). */
export function gradientList(vars: readonly tf.Variable[], grads: tf.NamedTensorMap): tf.Tensor[] {
  return vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
}

function labelTensor(labels: Int32Array): tf.Tensor2D {
  return tf.tensor2d(labels, [labels.length, 1], 'int32');
}

/** A real batch as tensors; points are multiplied by --data-scale. */
function realBatch(ctx: StepContext): { x: tf.Tensor; labels: tf.Tensor2D | null } {
  const { config, dataset, rngs } = ctx;
  const b = dataset.sample(rngs.data, config.batch);
  if (dataset.kind === 'points' && config.dataScale !== 1) for (let i = 0; i < b.x.length; i++) b.x[i] *= config.dataScale;
  return { x: tf.tensor(b.x, [config.batch, ...dataset.shape]), labels: b.labels ? labelTensor(b.labels) : null };
}

function latents(ctx: StepContext): tf.Tensor2D {
  const { batch, latent } = ctx.config;
  return tf.tensor2d(ctx.rngs.latent.normal(batch * latent), [batch, latent]);
}

export function generate(generator: tf.LayersModel, z: tf.Tensor, labels: tf.Tensor | null, training = true): tf.Tensor {
  return generator.apply(labels ? [z, labels] : z, { training }) as tf.Tensor;
}

/** The critic's outputs: its score `[B, 1]`, and class logits `[B, K]` when it has an AC head. */
export function criticOutputs(critic: tf.LayersModel, x: tf.Tensor, labels: tf.Tensor | null): { score: tf.Tensor; logits: tf.Tensor | null } {
  const out = critic.apply(labels ? [x, labels] : x, { training: true }) as tf.Tensor | tf.Tensor[];
  const [first, logits] = Array.isArray(out) ? out : [out];
  return { score: first, logits: logits ?? null };
}

function score(critic: tf.LayersModel, x: tf.Tensor, labels: tf.Tensor | null): tf.Tensor {
  return criticOutputs(critic, x, labels).score;
}

/** Clamp every critic weight to [−c, c] (WGAN). */
export function clipWeights(vars: readonly tf.Variable[], c: number): void {
  tf.tidy(() => {
    for (const v of vars) v.assign(tf.clipByValue(v, -c, c));
  });
}

/** One critic update; its figures stay on the device as [loss, w, penalty, classLoss] (NaN: none) until read. */
export function criticStepTensor(ctx: StepContext, lr: number): tf.Tensor1D {
  const { config, nets } = ctx;
  const result = tf.tidy(() => {
    const real = realBatch(ctx);
    const fake = generate(nets.generator, latents(ctx), real.labels);
    const eps = config.algo === 'wgan-gp' ? tf.tensor1d(ctx.rngs.penalty.uniform(config.batch)) : null;
    let w: tf.Scalar | null = null;
    let penalty: tf.Scalar | null = null;
    let classLoss: tf.Scalar | null = null;
    const augment = (x: tf.Tensor) => diffAugment(x, config.diffaugment, ctx.rngs.augment);
    const { value, grads } = tf.variableGrads(() => {
      // One critic pass over [real; fake] (the critic has no batch statistics, so this equals two passes).
      const both = criticOutputs(nets.critic, tf.concat([augment(real.x), augment(fake)]), real.labels ? tf.concat([real.labels, real.labels]) : null);
      const [dReal, dFake] = tf.split(both.score, 2);
      // variableGrads disposes everything but the loss: keep the diagnostics (disposed below).
      w = tf.keep(wassersteinEstimate(dReal, dFake));
      let loss = config.algo === 'gan' ? ganCriticLoss(dReal, dFake) : wganCriticLoss(dReal, dFake);
      if (both.logits && real.labels && config.acWeight > 0) {
        // AC-GAN: the classifier head learns the classes of real data only (Gulrajani et al.'s conditional WGAN-GP).
        classLoss = tf.keep(classCrossEntropy(tf.split(both.logits, 2)[0], real.labels));
        loss = tf.add(loss, tf.mul(classLoss, config.acWeight));
      }
      if (!eps) return loss;
      // With DiffAugment the critic only sees augmented images: the penalty is taken at augmented interpolates.
      penalty = tf.keep(gradientPenalty((x) => score(nets.critic, x, real.labels), augment(interpolates(real.x, fake, eps))));
      return tf.add(loss, tf.mul(penalty, config.lambda));
    }, ctx.criticVars);
    ctx.optD.apply(gradientList(ctx.criticVars, grads), lr);
    const out = tf.stack([value, w!, penalty ?? tf.scalar(NaN), classLoss ?? tf.scalar(NaN)]);
    tf.dispose([w!, penalty!, classLoss!].filter((t) => t !== null));
    return out;
  });
  if (config.algo === 'wgan') clipWeights(ctx.criticVars, config.clip);
  return result as tf.Tensor1D;
}

/** The figures of {@link criticStepTensor}'s result (read asynchronously, which every backend allows). */
export async function readCriticStep(t: tf.Tensor): Promise<CriticStepResult> {
  const [loss, w, penalty, classLoss] = await t.data();
  return { loss, w, penalty: Number.isNaN(penalty) ? null : penalty, classLoss: Number.isNaN(classLoss) ? null : classLoss };
}

/** One critic update, read at once (CPU backends; tests). */
export function criticStep(ctx: StepContext, lr: number): CriticStepResult {
  const t = criticStepTensor(ctx, lr);
  const [loss, w, penalty, classLoss] = t.dataSync();
  t.dispose();
  return { loss, w, penalty: Number.isNaN(penalty) ? null : penalty, classLoss: Number.isNaN(classLoss) ? null : classLoss };
}

/** One generator update, read at once (CPU backends; tests). */
export function generatorStep(ctx: StepContext, lr: number): number {
  const t = generatorStepTensor(ctx, lr);
  const out = t.dataSync()[0];
  t.dispose();
  return out;
}

/** One generator update; its loss stays on the device until read. */
export function generatorStepTensor(ctx: StepContext, lr: number): tf.Scalar {
  const { config, nets, dataset } = ctx;
  const loss = tf.tidy(() => {
    const labelValues = dataset.sampleLabels(ctx.rngs.labels, config.batch);
    const labels = labelValues ? labelTensor(labelValues) : null;
    const z = latents(ctx);
    const { value, grads } = tf.variableGrads(() => {
      const d = criticOutputs(nets.critic, diffAugment(generate(nets.generator, z, labels), config.diffaugment, ctx.rngs.augment), labels);
      const loss = config.algo === 'gan' ? ganGeneratorLoss(d.score) : wganGeneratorLoss(d.score);
      if (!d.logits || !labels || config.acWeightG === 0) return loss;
      return tf.add(loss, tf.mul(classCrossEntropy(d.logits, labels), config.acWeightG));
    }, ctx.generatorVars);
    ctx.optG.apply(gradientList(ctx.generatorVars, grads), lr);
    return value;
  });
  return loss;
}
