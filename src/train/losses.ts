/**
 * The WGAN, WGAN-GP and GAN losses (docs/training.md), all minimised. Critic scores are linear (no sigmoid).
 *
 * - WGAN critic:      L_D = E_z[D(G(z))] − E_x[D(x)]   (+ λ·penalty for WGAN-GP)
 * - WGAN generator:   L_G = −E_z[D(G(z))]
 * - W estimate:       E_x[D(x)] − E_z[D(G(z))] = −L_D without the penalty
 * - gradient penalty: E[(‖∇_x̂ D(x̂)‖₂ − 1)²], x̂ = ε·x + (1−ε)·G(z), ε ~ U[0, 1] per example
 * - GAN baseline (non-saturating, Goodfellow et al. 2014): L_D = E[softplus(−D(x))] +
 *   E[softplus(D(G(z)))], L_G = E[softplus(−D(G(z)))] — i.e. cross-entropy on logits D.
 * - auxiliary classifier (AC-GAN, conditional): E[−log softmax(logits)_y], the mean cross-entropy
 *   of class logits `[B, K]` against int labels `[B, 1]`.
 */
import * as tf from '@tensorflow/tfjs';

/** Added under the square root of the gradient norm so that its own gradient stays finite at 0. */
export const NORM_EPSILON = 1e-12;

export function wganCriticLoss(dReal: tf.Tensor, dFake: tf.Tensor): tf.Scalar {
  return tf.sub(tf.mean(dFake), tf.mean(dReal));
}

export function wganGeneratorLoss(dFake: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(dFake));
}

export function wassersteinEstimate(dReal: tf.Tensor, dFake: tf.Tensor): tf.Scalar {
  return tf.sub(tf.mean(dReal), tf.mean(dFake));
}

export function ganCriticLoss(dReal: tf.Tensor, dFake: tf.Tensor): tf.Scalar {
  return tf.add(tf.mean(tf.softplus(tf.neg(dReal))), tf.mean(tf.softplus(dFake)));
}

export function ganGeneratorLoss(dFake: tf.Tensor): tf.Scalar {
  return tf.mean(tf.softplus(tf.neg(dFake)));
}

/** Random interpolates x̂ = ε·real + (1−ε)·fake, `eps` `[B]` in [0, 1], one per example. */
export function interpolates(real: tf.Tensor, fake: tf.Tensor, eps: tf.Tensor1D): tf.Tensor {
  const e = tf.reshape(eps, [eps.shape[0], ...real.shape.slice(1).map(() => 1)]);
  return tf.add(tf.mul(e, real), tf.mul(tf.sub(1, e), fake));
}

/**
 * E[(‖∇_x̂ D(x̂)‖₂ − 1)²] over the batch, the norm taken per example over all its values.
 * `critic(x̂)` returns `[B, 1]` scores; its input gradient is taken with `tf.grad`, so when this
 * runs inside `tf.variableGrads` the result is differentiated twice (double back-propagation:
 * register the gradients of ./gradients.ts first).
 */
export function gradientPenalty(critic: (x: tf.Tensor) => tf.Tensor, xHat: tf.Tensor): tf.Scalar {
  const g = tf.grad((x: tf.Tensor) => tf.sum(critic(x)))(xHat);
  const axes = g.shape.slice(1).map((_, i) => i + 1);
  const norm = tf.sqrt(tf.add(tf.sum(tf.square(g), axes), NORM_EPSILON));
  return tf.mean(tf.square(tf.sub(norm, 1)));
}

/** Mean cross-entropy of class logits `[B, K]` against integer labels `[B, 1]` (or `[B]`). */
export function classCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const k = logits.shape[logits.shape.length - 1]!;
  const oneHot = tf.oneHot(tf.cast(tf.reshape(labels, [-1]), 'int32') as tf.Tensor1D, k);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1)));
}
