/**
 * How many critic updates precede each generator update, and the learning rate at each step.
 */
import type { TrainConfig } from './config.js';

/** The WGAN reference code's warm-up: this many critic updates … */
export const WARMUP_CRITIC_ITERS = 100;
/** … for each of the first generator updates … */
export const WARMUP_GENERATOR_STEPS = 25;
/** … and for every this-many-th one, to keep the critic near optimal. */
export const WARMUP_PERIOD = 500;

/** Critic updates before generator update number `step` (0-based). */
export function criticIterations(step: number, config: Pick<TrainConfig, 'nCritic' | 'warmupCritic'>): number {
  if (config.warmupCritic && (step < WARMUP_GENERATOR_STEPS || step % WARMUP_PERIOD === 0)) return WARMUP_CRITIC_ITERS;
  return config.nCritic;
}

/** Learning rate of generator step `step` (0-based): constant, or decayed linearly to 0 at the end. */
export function learningRate(step: number, config: Pick<TrainConfig, 'lr' | 'lrSchedule' | 'steps'>): number {
  if (config.lrSchedule === 'linear') return config.lr * Math.max(0, 1 - step / config.steps);
  return config.lr;
}
