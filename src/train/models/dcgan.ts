/**
 * DCGAN-style convolutional generator and critic (Radford et al. 2016), sized for small images
 * (side divisible by 4, e.g. 28 for MNIST).
 *
 * Generator: z (conditional: ⊙ or ‖ label embedding) → Dense (S/4)²·2c → BatchNorm → ReLU →
 * Reshape [S/4, S/4, 2c] → Conv2DTranspose c, 4×4, stride 2 → BatchNorm → ReLU →
 * Conv2DTranspose C, 4×4, stride 2, tanh → `[B, S, S, C]` in [-1, 1]. (c = `hidden`.)
 * Critic (no batch norm: the gradient penalty is per example): x (conditional `concat`: ‖ a label
 * plane) → Conv2D c, 4×4, stride 2 → act → Conv2D 2c, 4×4, stride 2 → optional LayerNorm → act →
 * Flatten → Dense 1 (conditional `projection`: + ⟨embed(y), φ(x)⟩).
 */
import * as tf from '@tensorflow/tfjs';
import { apply, activationLayer, labelEmbedding, type Sym } from './blocks.js';
import { criticHead, generatorInput } from './mlp.js';
import type { NetSpec } from './spec.js';

const KERNEL = 4;
const STRIDE = 2;

export function buildDcganGenerator(spec: NetSpec): tf.LayersModel {
  const [size, , channels] = spec.dataShape;
  const s4 = size / 4;
  const c = spec.hidden;
  const { inputs, h: h0 } = generatorInput(spec);
  let h = apply(tf.layers.dense({ units: s4 * s4 * 2 * c, useBias: false, name: 'g_project' }), h0);
  h = apply(tf.layers.batchNormalization({ name: 'g_bn_0' }), h);
  h = apply(tf.layers.reLU({ name: 'g_relu_0' }), h);
  h = apply(tf.layers.reshape({ targetShape: [s4, s4, 2 * c], name: 'g_reshape' }), h);
  h = apply(tf.layers.conv2dTranspose({ filters: c, kernelSize: KERNEL, strides: STRIDE, padding: 'same', useBias: false, name: 'g_deconv_1' }), h);
  h = apply(tf.layers.batchNormalization({ name: 'g_bn_1' }), h);
  h = apply(tf.layers.reLU({ name: 'g_relu_1' }), h);
  h = apply(tf.layers.conv2dTranspose({ filters: channels, kernelSize: KERNEL, strides: STRIDE, padding: 'same', activation: 'tanh', name: 'g_image' }), h);
  return tf.model({ inputs, outputs: h, name: 'generator' });
}

export function buildDcganCritic(spec: NetSpec): tf.LayersModel {
  const [size] = spec.dataShape;
  const c = spec.hidden;
  const x = tf.input({ shape: [...spec.dataShape], name: 'd_x' });
  const inputs: Sym[] = [x];
  let label: Sym | null = null;
  let h: Sym = x;
  if (spec.numClasses > 0) {
    label = tf.input({ shape: [1], dtype: 'int32', name: 'd_label' });
    inputs.push(label);
    if (spec.dCond === 'concat') {
      // One extra input channel: a learned size×size plane per class.
      const { embedded } = labelEmbedding('d', spec.numClasses, size * size, label);
      const plane = apply(tf.layers.reshape({ targetShape: [size, size, 1], name: 'd_label_plane' }), embedded);
      h = apply(tf.layers.concatenate({ axis: -1, name: 'd_x_label' }), [x, plane]);
    }
  }
  h = apply(tf.layers.conv2d({ filters: c, kernelSize: KERNEL, strides: STRIDE, padding: 'same', name: 'd_conv_0' }), h);
  h = apply(activationLayer(spec.criticActivation, 'd_act_0'), h);
  h = apply(tf.layers.conv2d({ filters: 2 * c, kernelSize: KERNEL, strides: STRIDE, padding: 'same', name: 'd_conv_1' }), h);
  if (spec.criticNorm === 'layer') h = apply(tf.layers.layerNormalization({ name: 'd_norm_1' }), h);
  h = apply(activationLayer(spec.criticActivation, 'd_act_1'), h);
  h = apply(tf.layers.flatten({ name: 'd_flat' }), h);
  const featureDim = (size / 4) * (size / 4) * 2 * c;
  return tf.model({ inputs, outputs: criticHead(spec, h, featureDim, label), name: 'critic' });
}
