/** Shared pieces of the benchmarks: the DCGAN generator they all measure, and medians. */
import * as tf from '@tensorflow/tfjs';

/** Latent size of the benchmark generator. */
export const BENCH_LATENT = 100;

/** The DCGAN generator of the issues: Dense → Reshape → [Conv2DTranspose → BN → ReLU]×2 → Conv2DTranspose → tanh (28×28×1). */
export function dcganGenerator(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [BENCH_LATENT], units: 7 * 7 * 128, useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.reshape({ targetShape: [7, 7, 128] }),
      tf.layers.conv2dTranspose({ filters: 64, kernelSize: 5, strides: 1, padding: 'same', useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.conv2dTranspose({ filters: 32, kernelSize: 4, strides: 2, padding: 'same', useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.conv2dTranspose({ filters: 1, kernelSize: 4, strides: 2, padding: 'same', activation: 'tanh' }),
    ],
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
