/**
 * What both architectures need to know to build a generator and a critic.
 */
import type { CriticActivation, CriticConditioning, CriticNorm, GeneratorConditioning, GeneratorNorm } from '../config.js';

export interface NetSpec {
  kind: 'points' | 'image';
  /** Shape of one example: `[2]` or `[height, width, channels]`. */
  dataShape: readonly number[];
  latent: number;
  /** Number of classes of a conditional model; 0 for an unconditional one. */
  numClasses: number;
  /** MLP hidden width, or the DCGAN base channel count. */
  hidden: number;
  /** MLP hidden layers (DCGAN: ignored). */
  layers: number;
  criticActivation: CriticActivation;
  criticNorm: CriticNorm;
  /** MLP generator: batch norm between each hidden Dense and its ReLU (DCGAN always has it). */
  gNorm?: GeneratorNorm;
  /** Conditional critic: a second output, class logits `[B, numClasses]` (AC-GAN head). */
  auxClassifier?: boolean;
  gCond: GeneratorConditioning;
  dCond: CriticConditioning;
}

/** Slope of LeakyReLU for x < 0 (DCGAN paper). */
export const LEAKY_RELU_ALPHA = 0.2;
/** Width of the label embedding concatenated with z (`--g-cond concat`) or x (`--d-cond concat`, MLP). */
export const LABEL_EMBEDDING_DIM = 16;
