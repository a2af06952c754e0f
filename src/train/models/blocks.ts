/**
 * Small layer helpers shared by the MLP and DCGAN builders. Generators use only layers that the
 * ONNX exporter converts (docs/HELPERS.md): Dense, Reshape, Flatten, Conv2DTranspose,
 * BatchNormalization, LayerNormalization, ReLU, LeakyReLU, Activation, Embedding, Multiply,
 * Concatenate. Critics are exported too (critic.onnx) and may also use Dot, Add, Conv2D and mean
 * pooling (src/export/critic-layers.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { CriticActivation } from '../config.js';
import { LEAKY_RELU_ALPHA } from './spec.js';

export type Sym = tf.SymbolicTensor;

export function apply(layer: tf.layers.Layer, x: Sym | Sym[]): Sym {
  return layer.apply(x) as Sym;
}

export function activationLayer(kind: CriticActivation | 'relu', name: string): tf.layers.Layer {
  switch (kind) {
    case 'leaky_relu':
      return tf.layers.leakyReLU({ alpha: LEAKY_RELU_ALPHA, name });
    case 'relu':
      return tf.layers.reLU({ name });
    case 'tanh':
      return tf.layers.activation({ activation: 'tanh', name });
  }
}

/**
 * A convolutional critic's inputs: the image `[B, S, S, C]` and, conditional, the label `[B, 1]`;
 * with `--d-cond concat` the image gets one more channel, a learned S×S plane per class.
 */
export function convCriticInput(spec: { dataShape: readonly number[]; numClasses: number; dCond: string }): { inputs: Sym[]; label: Sym | null; h: Sym } {
  const [size] = spec.dataShape;
  const x = tf.input({ shape: [...spec.dataShape], name: 'd_x' });
  if (spec.numClasses === 0) return { inputs: [x], label: null, h: x };
  const label = tf.input({ shape: [1], dtype: 'int32', name: 'd_label' });
  if (spec.dCond !== 'concat') return { inputs: [x, label], label, h: x };
  const { embedded } = labelEmbedding('d', spec.numClasses, size * size, label);
  const plane = apply(tf.layers.reshape({ targetShape: [size, size, 1], name: 'd_label_plane' }), embedded);
  return { inputs: [x, label], label, h: apply(tf.layers.concatenate({ axis: -1, name: 'd_x_label' }), [x, plane]) };
}

/** The label input `[batch, 1]` (int32 class index) and its embedding flattened to `[batch, dim]`. */
export function labelEmbedding(prefix: string, numClasses: number, dim: number, label?: Sym): { label: Sym; embedded: Sym } {
  const input = label ?? tf.input({ shape: [1], dtype: 'int32', name: `${prefix}_label` });
  const e = apply(tf.layers.embedding({ inputDim: numClasses, outputDim: dim, name: `${prefix}_label_embedding` }), input);
  return { label: input, embedded: apply(tf.layers.flatten({ name: `${prefix}_label_flat` }), e) };
}
