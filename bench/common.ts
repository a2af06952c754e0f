/** Shared pieces of the benchmarks: the DCGAN generator they all measure, and medians. */
import type * as tf from '@tensorflow/tfjs';
import { CounterRng } from '../src/core/random.js';
import { buildNets, type NetSpec } from '../src/train/models/index.js';

/** Latent size of the benchmark generator. */
export const BENCH_LATENT = 100;

/** The benchmark generator's spec: `wganx train --arch dcgan` on 28×28 grey images, base 64 channels, unconditional. */
export const BENCH_SPEC: NetSpec = {
  kind: 'image', dataShape: [28, 28, 1], latent: BENCH_LATENT, numClasses: 0, hidden: 64, layers: 3,
  criticActivation: 'leaky_relu', criticNorm: 'none', gCond: 'multiply', dCond: 'projection',
};

/** Seed of its initial weights. */
const BENCH_SEED = 1;

/**
 * The DCGAN generator that training builds (src/train/models: Dense 7·7·128 → BatchNorm → ReLU →
 * Reshape → Conv2DTranspose 64, 4×4, stride 2 → BatchNorm → ReLU → Conv2DTranspose 1, tanh →
 * 28×28×1), with seeded weights.
 */
export async function dcganGenerator(): Promise<tf.LayersModel> {
  const { generator, critic } = await buildNets('dcgan', BENCH_SPEC, new CounterRng(BENCH_SEED, 0));
  critic.dispose();
  return generator;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
