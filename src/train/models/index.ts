/**
 * Build the generator and critic of a run: architecture by `--arch` (the table in ./archs.ts),
 * seeded initial weights.
 *
 * @example
 *   const { generator, critic } = await buildNets('mlp', spec, rngs.init);
 *   generator.apply(tf.zeros([4, spec.latent])) // [4, 2] for a point data set
 */
import type * as tf from '@tensorflow/tfjs';
import type { CounterRng } from '../../core/random.js';
import { loadArch } from './archs.js';
import { initWeights } from './init.js';
import type { NetSpec } from './spec.js';

export type { NetSpec } from './spec.js';
export { LEAKY_RELU_ALPHA } from './spec.js';
export { ARCHITECTURES, ARCHS, archSpec, loadArch, type ArchSpec, type Architecture } from './archs.js';

export interface Nets {
  generator: tf.LayersModel;
  critic: tf.LayersModel;
}

export async function buildNets(arch: string, spec: NetSpec, rng: CounterRng): Promise<Nets> {
  const { buildGenerator, buildCritic } = await loadArch(arch);
  const generator = buildGenerator(spec);
  const critic = buildCritic(spec);
  initWeights(generator, rng);
  initWeights(critic, rng);
  return { generator, critic };
}

export function disposeNets(nets: Nets): void {
  nets.generator.dispose();
  nets.critic.dispose();
}
