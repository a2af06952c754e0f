/**
 * The architectures `--arch` offers, one row each. Every consumer reads this table: the flag
 * table and the config check (`../config.ts`: names, data kinds, image sizes, default width,
 * reference hyper-parameters), the net builders (`./index.ts`), the export (`../export-generator.ts`),
 * the tfjs backend check (`requiredKernels` in src/tfjs/backend.ts), the penalty guard
 * (`../critic-support.ts`) and the run report (`../report.ts`). Adding an architecture is a row
 * here plus its builder file, which exports `buildGenerator` and `buildCritic`
 * ({@link ArchBuilders}); test/train/archs.test.ts fails
 * when a row lacks a piece (builds, exports with parity, passes the penalty check).
 *
 * The rows load their builders lazily: reading the table (the CLI's `--help`) does not load
 * TensorFlow.js.
 *
 * @example
 *   archSpec('dcgan').imageSize(30)   // "an even side whose halvings reach 4–7 (…)": 30 is refused
 *   const { buildGenerator } = await archSpec('dcgan').load();
 */
import type * as tf from '@tensorflow/tfjs';
import { tableRow } from '../../core/table.js';
import type { KernelFeature } from '../../tfjs/backend.js';
import type { Algorithm, CriticActivation, CriticNorm } from '../config.js';
import { dcganLadder, DCGAN_SIZE_RULE } from './ladder.js';
import type { NetSpec } from './spec.js';

export interface ArchBuilders {
  buildGenerator(spec: NetSpec): tf.LayersModel;
  buildCritic(spec: NetSpec): tf.LayersModel;
}

/** `activation/norm` of a critic hidden layer. */
export type CriticKey = `${CriticActivation}/${CriticNorm}`;

/** Hyper-parameters an architecture's reference recipe sets (they replace the algorithm's defaults). */
export interface ReferenceHyperparameters {
  /** The algorithm they are for (another algorithm keeps its own defaults). */
  algo: Algorithm;
  lr?: number;
  beta1?: number;
  beta2?: number;
  nCritic?: number;
  criticActivation?: CriticActivation;
}

export interface ArchSpec {
  /** One line for `--help` and the README. */
  readonly help: string;
  readonly dataKinds: readonly ('points' | 'image')[];
  /** null when images of `size` × `size` can be built, else what `--image-size` allows. */
  readonly imageSize: (size: number) => string | null;
  /** Whether `--layers` (hidden layers) shapes it; a net whose depth follows the image size refuses the flag. */
  readonly takesLayers: boolean;
  /** What its generator has between layers when `--g-norm` does not apply (a net with batch norm built in); absent: `--g-norm`. */
  readonly generatorNorm?: string;
  /** `--hidden` when not given: MLP width (points / images) or base channels. */
  readonly defaultHidden: number | { readonly points: number; readonly image: number };
  /** Critic normalisations its critic builds (`--critic-norm`); any other is refused. */
  readonly criticNorms: readonly CriticNorm[];
  /** Kernel groups beyond dense products that training calls (src/tfjs/backend.ts `FEATURE_KERNELS`). */
  readonly kernels: readonly KernelFeature[];
  /**
   * Critic `activation/norm` combinations whose gradient-penalty gradient tfjs computes correctly,
   * each checked by test/train/penalty-gradient.test.ts against finite differences; WGAN-GP refuses
   * any other (see ../critic-support.ts).
   */
  readonly penaltyVerified: readonly CriticKey[];
  /** How a conditional generator takes the label when `--g-cond` does not apply (reports name it); absent: `--g-cond`. */
  readonly generatorConditioning?: string;
  /** The architecture's reference hyper-parameters for one algorithm, if its paper gives them. */
  readonly reference?: ReferenceHyperparameters;
  readonly load: () => Promise<ArchBuilders>;
}

const EVERY_CRITIC: readonly CriticKey[] = [
  'leaky_relu/none', 'leaky_relu/layer', 'relu/none', 'relu/layer', 'tanh/none', 'tanh/layer',
];

export const ARCHS = {
  mlp: {
    help: 'fully connected nets (points, and small images on a CPU)',
    dataKinds: ['points', 'image'],
    imageSize: () => null,
    takesLayers: true,
    defaultHidden: { points: 256, image: 512 },
    criticNorms: ['none', 'layer'],
    kernels: [],
    penaltyVerified: EVERY_CRITIC,
    load: () => import('./mlp.js'),
  },
  dcgan: {
    help: `convolutional nets that grow with the image: ${DCGAN_SIZE_RULE}`,
    dataKinds: ['image'],
    imageSize: (size) => (dcganLadder(size) ? null : DCGAN_SIZE_RULE),
    takesLayers: false,
    generatorNorm: 'batch norm after every layer but the last',
    defaultHidden: 64,
    criticNorms: ['none', 'layer'],
    kernels: ['conv', 'norm'],
    penaltyVerified: EVERY_CRITIC,
    load: () => import('./dcgan.js'),
  },
  resnet: {
    help: 'the WGAN-GP paper\'s CIFAR-10 ResNet (residual up/down blocks, nearest up-sampling, mean pooling, conditional batch norm in G), grown like dcgan; meant for GPUs, with the paper\'s hyper-parameters as defaults',
    dataKinds: ['image'],
    imageSize: (size) => (dcganLadder(size) ? null : DCGAN_SIZE_RULE),
    takesLayers: false,
    generatorNorm: 'batch norm in every residual block (conditional batch norm for --conditional)',
    defaultHidden: 128,
    criticNorms: ['none'],
    kernels: ['conv', 'norm', 'resample'],
    penaltyVerified: ['relu/none', 'leaky_relu/none', 'tanh/none'],
    generatorConditioning: 'conditional batch norm',
    reference: { algo: 'wgan-gp', lr: 2e-4, beta1: 0, beta2: 0.9, nCritic: 5, criticActivation: 'relu' },
    load: () => import('./resnet.js'),
  },
} as const satisfies Record<string, ArchSpec>;

export type Architecture = keyof typeof ARCHS;
export const ARCHITECTURES = Object.keys(ARCHS) as Architecture[];

/** The row of `name`, or an error that lists the table. */
export function archSpec(name: string): ArchSpec {
  return tableRow<ArchSpec>(ARCHS, '--arch', name);
}

/** The builders of `name` (loads its file on first use). */
export function loadArch(name: string): Promise<ArchBuilders> {
  return archSpec(name).load();
}
