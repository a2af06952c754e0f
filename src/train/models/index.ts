/**
 * Build the generator and critic of a run: architecture by `--arch`, seeded initial weights.
 *
 * @example
 *   const { generator, critic } = buildNets('mlp', spec, rngs.init);
 *   generator.apply(tf.zeros([4, spec.latent])) // [4, 2] for a point data set
 */
import type * as tf from '@tensorflow/tfjs';
import type { Architecture } from '../config.js';
import type { CounterRng } from '../../core/random.js';
import { buildDcganCritic, buildDcganGenerator } from './dcgan.js';
import { initWeights } from './init.js';
import { buildMlpCritic, buildMlpGenerator } from './mlp.js';
import type { NetSpec } from './spec.js';

export type { NetSpec } from './spec.js';
export { LEAKY_RELU_ALPHA } from './spec.js';

export interface Nets {
  generator: tf.LayersModel;
  critic: tf.LayersModel;
}

const BUILDERS: Readonly<Record<Architecture, { generator: (s: NetSpec) => tf.LayersModel; critic: (s: NetSpec) => tf.LayersModel }>> = {
  mlp: { generator: buildMlpGenerator, critic: buildMlpCritic },
  dcgan: { generator: buildDcganGenerator, critic: buildDcganCritic },
};

export function buildNets(arch: Architecture, spec: NetSpec, rng: CounterRng): Nets {
  const generator = BUILDERS[arch].generator(spec);
  const critic = BUILDERS[arch].critic(spec);
  initWeights(generator, rng);
  initWeights(critic, rng);
  return { generator, critic };
}

export function disposeNets(nets: Nets): void {
  nets.generator.dispose();
  nets.critic.dispose();
}
