/**
 * Fully connected generator and critic, for the 2-D toys and (as a fast CPU option) for images.
 *
 * Generator: z `[B, latent]` (conditional: ⊙ or ‖ a label embedding) → `layers` × (Dense `hidden`,
 * [BatchNorm,] ReLU) → Dense to the data size: linear for points `[B, 2]`, tanh + Reshape for images
 * `[B, H, W, C]` in [-1, 1].
 * Critic: x → Flatten (conditional `concat`: ‖ label embedding) → `layers` × (Dense `hidden`,
 * optional LayerNorm, activation) → Dense 1, linear (conditional `projection`: + ⟨embed(y), φ(x)⟩,
 * Miyato & Koyama 2018; with `--ac-weight`, a second output of class logits).
 */
import * as tf from '@tensorflow/tfjs';
import { apply, activationLayer, labelEmbedding, type Sym } from './blocks.js';
import { LABEL_EMBEDDING_DIM, type NetSpec } from './spec.js';

/** z combined with the label (conditional) or z itself; returns the model inputs too. */
export function generatorInput(spec: NetSpec, prefix = 'g'): { inputs: Sym[]; h: Sym } {
  const z = tf.input({ shape: [spec.latent], name: `${prefix}_z` });
  if (spec.numClasses === 0) return { inputs: [z], h: z };
  if (spec.gCond === 'multiply') {
    const { label, embedded } = labelEmbedding(prefix, spec.numClasses, spec.latent);
    return { inputs: [z, label], h: apply(tf.layers.multiply({ name: `${prefix}_z_times_label` }), [z, embedded]) };
  }
  const { label, embedded } = labelEmbedding(prefix, spec.numClasses, LABEL_EMBEDDING_DIM);
  return { inputs: [z, label], h: apply(tf.layers.concatenate({ name: `${prefix}_z_label` }), [z, embedded]) };
}

export function buildGenerator(spec: NetSpec): tf.LayersModel {
  const { inputs, h: h0 } = generatorInput(spec);
  let h = h0;
  for (let i = 0; i < spec.layers; i++) {
    if (spec.gNorm === 'batch') {
      h = apply(tf.layers.dense({ units: spec.hidden, useBias: false, name: `g_dense_${i}` }), h);
      h = apply(tf.layers.batchNormalization({ name: `g_bn_${i}` }), h);
      h = apply(tf.layers.reLU({ name: `g_relu_${i}` }), h);
    } else {
      h = apply(tf.layers.dense({ units: spec.hidden, activation: 'relu', name: `g_dense_${i}` }), h);
    }
  }
  const size = spec.dataShape.reduce((a, b) => a * b, 1);
  if (spec.kind === 'points') {
    h = apply(tf.layers.dense({ units: size, name: 'g_out' }), h);
  } else {
    h = apply(tf.layers.dense({ units: size, activation: 'tanh', name: 'g_out' }), h);
    h = apply(tf.layers.reshape({ targetShape: [...spec.dataShape], name: 'g_image' }), h);
  }
  return tf.model({ inputs, outputs: h, name: 'generator' });
}

/**
 * The critic's outputs: Dense 1 on the features (the score), plus the projection term for a
 * conditional `projection` critic; with `spec.auxClassifier` also class logits
 * `[B, numClasses]` from a second Dense head on the same features (AC-GAN).
 */
export function criticHead(spec: NetSpec, features: Sym, featureDim: number, label: Sym | null): Sym[] {
  let out = apply(tf.layers.dense({ units: 1, name: 'd_out' }), features);
  if (label && spec.dCond === 'projection') {
    const { embedded } = labelEmbedding('d_proj', spec.numClasses, featureDim, label);
    const proj = apply(tf.layers.dot({ axes: 1, name: 'd_projection' }), [features, embedded]);
    out = apply(tf.layers.add({ name: 'd_out_plus_projection' }), [out, proj]);
  }
  if (!spec.auxClassifier || spec.numClasses === 0) return [out];
  return [out, apply(tf.layers.dense({ units: spec.numClasses, name: 'd_class_logits' }), features)];
}

export function buildCritic(spec: NetSpec): tf.LayersModel {
  const x = tf.input({ shape: [...spec.dataShape], name: 'd_x' });
  const inputs: Sym[] = [x];
  let label: Sym | null = null;
  let h = spec.dataShape.length > 1 ? apply(tf.layers.flatten({ name: 'd_flat' }), x) : x;
  if (spec.numClasses > 0) {
    label = tf.input({ shape: [1], dtype: 'int32', name: 'd_label' });
    inputs.push(label);
    if (spec.dCond === 'concat') {
      const { embedded } = labelEmbedding('d', spec.numClasses, LABEL_EMBEDDING_DIM, label);
      h = apply(tf.layers.concatenate({ name: 'd_x_label' }), [h, embedded]);
    }
  }
  for (let i = 0; i < spec.layers; i++) {
    h = apply(tf.layers.dense({ units: spec.hidden, name: `d_dense_${i}` }), h);
    if (spec.criticNorm === 'layer') h = apply(tf.layers.layerNormalization({ name: `d_norm_${i}` }), h);
    h = apply(activationLayer(spec.criticActivation, `d_act_${i}`), h);
  }
  return tf.model({ inputs, outputs: criticHead(spec, h, spec.hidden, label), name: 'critic' });
}
