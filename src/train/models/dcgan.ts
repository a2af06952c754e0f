/**
 * DCGAN-style convolutional generator and critic (Radford et al. 2016) that grow with the image:
 * the generator starts from a small map and doubles its side until the image side, halving its
 * channels at each step; the critic walks the same ladder down (./ladder.ts).
 *
 * With c = `hidden` (base channels), S the image side and S = s0 · 2^u (s0 ∈ 4…7):
 * Generator: z (conditional: ⊙ or ‖ label embedding) → Dense s0²·c·2^(u−1) → BatchNorm → ReLU →
 * Reshape [s0, s0, c·2^(u−1)] → (u − 1) × (Conv2DTranspose to half the channels, 4×4, stride 2 →
 * BatchNorm → ReLU) → Conv2DTranspose C, 4×4, stride 2, tanh → `[B, S, S, C]` in [-1, 1].
 * 28 px (u = 2) and 32 px (u = 3, c = 32): 7×7×64 → 14×14×32 → 28×28×C; 4×4×128 → 8×8×64 → 16×16×32 → 32×32×C.
 * Critic (no batch norm: the gradient penalty is per example): x (conditional `concat`: ‖ a label
 * plane) → u × (Conv2D, 4×4, stride 2, channels c, 2c, 4c, … → [LayerNorm from the second on] →
 * act) → Flatten → Dense 1 (conditional `projection`: + ⟨embed(y), φ(x)⟩).
 */
import * as tf from '@tensorflow/tfjs';
import { apply, activationLayer, convCriticInput } from './blocks.js';
import { ladderChannels, squareLadder, type Ladder } from './ladder.js';
import { criticHead, generatorInput } from './mlp.js';
import type { NetSpec } from './spec.js';

const KERNEL = 4;
const STRIDE = 2;

function ladderOf(spec: NetSpec): Ladder {
  return squareLadder(spec.dataShape, 'dcgan');
}

export function buildGenerator(spec: NetSpec): tf.LayersModel {
  const channels = spec.dataShape[2];
  const { start, ups } = ladderOf(spec);
  const c0 = ladderChannels(spec.hidden, ups, 0);
  const { inputs, h: h0 } = generatorInput(spec);
  let h = apply(tf.layers.dense({ units: start * start * c0, useBias: false, name: 'g_project' }), h0);
  h = apply(tf.layers.batchNormalization({ name: 'g_bn_0' }), h);
  h = apply(tf.layers.reLU({ name: 'g_relu_0' }), h);
  h = apply(tf.layers.reshape({ targetShape: [start, start, c0], name: 'g_reshape' }), h);
  for (let level = 1; level < ups; level++) {
    const filters = ladderChannels(spec.hidden, ups, level);
    h = apply(tf.layers.conv2dTranspose({ filters, kernelSize: KERNEL, strides: STRIDE, padding: 'same', useBias: false, name: `g_deconv_${level}` }), h);
    h = apply(tf.layers.batchNormalization({ name: `g_bn_${level}` }), h);
    h = apply(tf.layers.reLU({ name: `g_relu_${level}` }), h);
  }
  h = apply(tf.layers.conv2dTranspose({ filters: channels, kernelSize: KERNEL, strides: STRIDE, padding: 'same', activation: 'tanh', name: 'g_image' }), h);
  return tf.model({ inputs, outputs: h, name: 'generator' });
}

export function buildCritic(spec: NetSpec): tf.LayersModel {
  const { start, ups } = ladderOf(spec);
  const { inputs, label, h: input } = convCriticInput(spec);
  let h = input;
  // Down the ladder: channels c, 2c, …, c·2^(u−1) at sides S/2, …, s0.
  for (let i = 0; i < ups; i++) {
    h = apply(tf.layers.conv2d({ filters: ladderChannels(spec.hidden, ups, ups - 1 - i), kernelSize: KERNEL, strides: STRIDE, padding: 'same', name: `d_conv_${i}` }), h);
    if (i > 0 && spec.criticNorm === 'layer') h = apply(tf.layers.layerNormalization({ name: `d_norm_${i}` }), h);
    h = apply(activationLayer(spec.criticActivation, `d_act_${i}`), h);
  }
  h = apply(tf.layers.flatten({ name: 'd_flat' }), h);
  const featureDim = start * start * ladderChannels(spec.hidden, ups, 0);
  return tf.model({ inputs, outputs: criticHead(spec, h, featureDim, label), name: 'critic' });
}
