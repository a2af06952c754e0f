/**
 * The typed configuration of one training run, its enumerations and its defaults.
 *
 * `src/cli.ts` parses flags into a {@link TrainOptions} object (every field optional, numbers
 * already range-checked) and {@link resolveTrainConfig} fills in the per-algorithm defaults of
 * ../shared/WGAN.md and checks the combinations, throwing {@link InvalidArgumentError} that names
 * the flag, the value and what is allowed. Everything below src/train receives a
 * {@link TrainConfig}, never raw flags.
 *
 * @example
 *   const config = resolveTrainConfig({ dataset: 'ring8', algo: 'wgan-gp', out: 'runs/ring' });
 *   config.lr      // 1e-4 (WGAN-GP default)
 *   config.beta1   // 0
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { MODEL_NAME_PATTERN } from '../core/manifest.js';
import { isToyDataset, TOY_DATASETS } from '../data/toy.js';
import { BACKEND_CHOICES, type BackendChoice } from '../tfjs/backend.js';

export { isToyDataset, TOY_DATASETS, type ToyDatasetName } from '../data/toy.js';
export { BACKEND_CHOICES, type BackendChoice } from '../tfjs/backend.js';

export const ALGORITHMS = ['wgan-gp', 'wgan', 'gan'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export const ARCHITECTURES = ['mlp', 'dcgan'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];



/** Hidden activations a critic may use; each one passes the penalty's finite-difference check. */
export const CRITIC_ACTIVATIONS = ['leaky_relu', 'relu', 'tanh'] as const;
export type CriticActivation = (typeof CRITIC_ACTIVATIONS)[number];

/** Critic normalisation. No batch norm: the gradient penalty is per example (WGAN.md). */
export const CRITIC_NORMS = ['none', 'layer'] as const;
export type CriticNorm = (typeof CRITIC_NORMS)[number];

/** Generator normalisation of the MLP's hidden layers (batch norm is fine in G: the penalty concerns the critic). */
export const GENERATOR_NORMS = ['none', 'batch'] as const;
export type GeneratorNorm = (typeof GENERATOR_NORMS)[number];

/** How a conditional generator takes its label: embedding ⊙ z, or [z, embedding]. */
export const GENERATOR_CONDITIONING = ['multiply', 'concat'] as const;
export type GeneratorConditioning = (typeof GENERATOR_CONDITIONING)[number];

/** How a conditional critic takes its label: projection ⟨embed(y), φ(x)⟩, or input concatenation. */
export const CRITIC_CONDITIONING = ['projection', 'concat'] as const;
export type CriticConditioning = (typeof CRITIC_CONDITIONING)[number];

/** Learning-rate schedule over generator steps: constant, or linear decay to zero at the end. */
export const LR_SCHEDULES = ['constant', 'linear'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

export const CHANNEL_CHOICES = ['auto', '1', '3'] as const;

export type OptimizerName = 'adam' | 'rmsprop';

/** Per-algorithm defaults (WGAN.md; `gan` uses the DCGAN paper's Adam settings). */
/**
 * Per-algorithm defaults (WGAN.md). `wgan` uses RMSProp without momentum: its `beta2` is the
 * squared-gradient decay α (PyTorch's default 0.99, as in the WGAN reference code) and `beta1`
 * is unused. `gan` uses the DCGAN paper's Adam settings and one discriminator step per
 * generator step.
 */
export const ALGORITHM_DEFAULTS: Readonly<Record<Algorithm, { optimizer: OptimizerName; lr: number; beta1: number; beta2: number; nCritic: number }>> = {
  wgan: { optimizer: 'rmsprop', lr: 5e-5, beta1: 0, beta2: 0.99, nCritic: 5 },
  'wgan-gp': { optimizer: 'adam', lr: 1e-4, beta1: 0, beta2: 0.9, nCritic: 5 },
  gan: { optimizer: 'adam', lr: 2e-4, beta1: 0.5, beta2: 0.999, nCritic: 1 },
};

export const DEFAULTS = {
  algo: 'wgan-gp' as Algorithm,
  arch: 'mlp' as Architecture,
  steps: 10000,
  batch: 64,
  lambda: 10,
  clip: 0.01,
  latent: 100,
  seed: 0,
  backend: 'auto' as BackendChoice,
  sampleEvery: 500,
  checkpointEvery: 500,
  logEvery: 1,
  criticActivation: 'leaky_relu' as CriticActivation,
  criticNorm: 'none' as CriticNorm,
  gNorm: 'none' as GeneratorNorm,
  acWeight: 0,
  gCond: 'multiply' as GeneratorConditioning,
  dCond: 'projection' as CriticConditioning,
  lrSchedule: 'constant' as LrSchedule,
  imageSize: 28,
  modelsDir: 'models',
} as const;

/** Hidden width of MLPs when --hidden is not given: small for 2-D points, wider for images. */
export const DEFAULT_HIDDEN = { points: 256, image: 512 } as const;
/** Hidden layers of MLPs when --layers is not given. */
export const DEFAULT_LAYERS = { points: 3, image: 3 } as const;
/** Base channel count of DCGAN nets (doubled in the inner layer). */
export const DEFAULT_DCGAN_CHANNELS = 64;

/** What the CLI hands over: every field optional, numbers already range-checked by the flag parsers. */
export interface TrainOptions {
  dataset?: string;
  algo?: Algorithm;
  arch?: Architecture;
  conditional?: boolean;
  steps?: number;
  batch?: number;
  nCritic?: number;
  warmupCritic?: boolean;
  lambda?: number;
  clip?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  latent?: number;
  seed?: number;
  out?: string;
  resume?: boolean;
  backend?: BackendChoice;
  sampleEvery?: number;
  checkpointEvery?: number;
  logEvery?: number;
  hidden?: number;
  layers?: number;
  criticActivation?: CriticActivation;
  criticNorm?: CriticNorm;
  gNorm?: GeneratorNorm;
  acWeight?: number;
  acWeightG?: number;
  gCond?: GeneratorConditioning;
  dCond?: CriticConditioning;
  dataScale?: number;
  lrSchedule?: LrSchedule;
  imageSize?: number;
  channels?: 'auto' | 1 | 3;
  name?: string;
  modelsDir?: string | null;
  /** The command line to record in the manifest (default: this process's argv). */
  command?: string;
}

export interface TrainConfig {
  /** `ring8`, `grid25`, `swissroll`, `mnist` or an image folder path. */
  dataset: string;
  algo: Algorithm;
  arch: Architecture;
  conditional: boolean;
  /** Generator updates ("iterations"). */
  steps: number;
  batch: number;
  nCritic: number;
  warmupCritic: boolean;
  lambda: number;
  clip: number;
  optimizer: OptimizerName;
  lr: number;
  beta1: number;
  beta2: number;
  latent: number;
  seed: number;
  out: string;
  resume: boolean;
  backend: BackendChoice;
  sampleEvery: number;
  checkpointEvery: number;
  logEvery: number;
  /** MLP hidden width, or the DCGAN base channel count. */
  hidden: number;
  layers: number;
  criticActivation: CriticActivation;
  criticNorm: CriticNorm;
  gNorm: GeneratorNorm;
  /**
   * Conditional only: weight of an auxiliary classifier head in the critic (AC-GAN, Odena et al.
   * 2017; Gulrajani et al. used it for their conditional WGAN-GP). The critic adds
   * `acWeight · CE(class | real x)` to its loss; 0 = no head.
   */
  acWeight: number;
  /** The generator adds `acWeightG · CE(asked class | G(z, y))` (default: acWeight). */
  acWeightG: number;
  gCond: GeneratorConditioning;
  dCond: CriticConditioning;
  /** Points are multiplied by this inside training; the exported generator undoes it. */
  dataScale: number;
  lrSchedule: LrSchedule;
  imageSize: number;
  channels: 'auto' | 1 | 3;
  /** Model name for the export (default: the last segment of `out`). */
  name: string;
  /** Export into `<modelsDir>/<name>/` at the end; null: no export. */
  modelsDir: string | null;
  command: string;
}

/** Kind of data a dataset name stands for, without opening it. */
export function datasetKind(dataset: string): 'points' | 'image' {
  return isToyDataset(dataset) ? 'points' : 'image';
}

function oneOf<T extends string>(flag: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(flag, value, `one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function numberIn(flag: string, value: number, lo: number, hi: number, integer: boolean, loOpen = false, hiOpen = false): number {
  const okLo = loOpen ? value > lo : value >= lo;
  const okHi = hiOpen ? value < hi : value <= hi;
  if (typeof value !== 'number' || !Number.isFinite(value) || !okLo || !okHi || (integer && !Number.isInteger(value))) {
    const range = `${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}`;
    throw new InvalidArgumentError(flag, value, `${integer ? 'an integer' : 'a number'} in ${range}`);
  }
  return value;
}

/** Quote a command line so that it can be pasted back into a shell. */
export function quoteCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Fill in defaults and check every field and combination. Throws InvalidArgumentError naming the flag. */
export function resolveTrainConfig(opts: TrainOptions): TrainConfig {
  if (!opts.dataset) throw new InvalidArgumentError('--dataset', opts.dataset, `${TOY_DATASETS.join(', ')}, mnist or a folder of PNG/JPEG images`);
  const dataset = opts.dataset;
  if (!isToyDataset(dataset) && dataset !== 'mnist') {
    if (!existsSync(dataset) || !statSync(dataset).isDirectory()) {
      throw new InvalidArgumentError('--dataset', dataset, `${TOY_DATASETS.join(', ')}, mnist or an existing folder of PNG/JPEG images`);
    }
  }
  const kind = datasetKind(dataset);
  const algo = oneOf('--algo', opts.algo ?? DEFAULTS.algo, ALGORITHMS);
  const arch = oneOf('--arch', opts.arch ?? DEFAULTS.arch, ARCHITECTURES);
  if (arch === 'dcgan' && kind === 'points') throw new InvalidArgumentError('--arch', arch, `mlp for the 2-D point data set ${dataset}`);
  const conditional = opts.conditional ?? false;
  if (conditional && kind === 'points') throw new InvalidArgumentError('--conditional', true, `only with a labelled data set (mnist or an image folder with one sub-folder per class), not ${dataset}`);
  if (!opts.out) throw new InvalidArgumentError('--out', opts.out, 'an output folder, e.g. runs/<name>');
  const algoDefaults = ALGORITHM_DEFAULTS[algo];
  const criticActivation = oneOf('--critic-activation', opts.criticActivation ?? DEFAULTS.criticActivation, CRITIC_ACTIVATIONS);
  const criticNorm = oneOf('--critic-norm', opts.criticNorm ?? DEFAULTS.criticNorm, CRITIC_NORMS);
  const name = opts.name ?? path.basename(path.resolve(opts.out)).toLowerCase();
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(opts.name ? '--name' : '--name (from the last segment of --out)', name, `a name matching ${MODEL_NAME_PATTERN}`);
  }
  const channels = opts.channels ?? 'auto';
  if (channels !== 'auto' && channels !== 1 && channels !== 3) throw new InvalidArgumentError('--channels', channels, 'auto, 1 or 3');
  const imageSize = numberIn('--image-size', opts.imageSize ?? DEFAULTS.imageSize, 8, 256, true);
  if (arch === 'dcgan' && imageSize % 4 !== 0) throw new InvalidArgumentError('--image-size', imageSize, 'a multiple of 4 for --arch dcgan');
  if (dataset === 'mnist' && opts.imageSize !== undefined && imageSize !== 28) throw new InvalidArgumentError('--image-size', imageSize, '28 for mnist');
  const hidden = numberIn('--hidden', opts.hidden ?? (arch === 'dcgan' ? DEFAULT_DCGAN_CHANNELS : DEFAULT_HIDDEN[kind]), 1, 8192, true);
  const layers = numberIn('--layers', opts.layers ?? DEFAULT_LAYERS[kind], 1, 16, true);
  const acWeight = numberIn('--ac-weight', opts.acWeight ?? DEFAULTS.acWeight, 0, 1e3, false);
  const acWeightG = numberIn('--ac-weight-g', opts.acWeightG ?? acWeight, 0, 1e3, false);
  if (!conditional && (acWeight > 0 || acWeightG > 0)) {
    throw new InvalidArgumentError(acWeight > 0 ? '--ac-weight' : '--ac-weight-g', acWeight > 0 ? acWeight : acWeightG, '0 without --conditional (the auxiliary classifier predicts the class label)');
  }
  if (acWeightG > 0 && acWeight === 0) {
    throw new InvalidArgumentError('--ac-weight-g', acWeightG, '0 unless --ac-weight > 0 (the generator would chase an untrained classifier)');
  }

  return {
    dataset,
    algo,
    arch,
    conditional,
    steps: numberIn('--steps', opts.steps ?? DEFAULTS.steps, 1, 1e9, true),
    batch: numberIn('--batch', opts.batch ?? DEFAULTS.batch, 2, 65536, true),
    nCritic: numberIn('--n-critic', opts.nCritic ?? algoDefaults.nCritic, 1, 1000, true),
    warmupCritic: opts.warmupCritic ?? false,
    lambda: numberIn('--lambda', opts.lambda ?? DEFAULTS.lambda, 0, 1e6, false),
    clip: numberIn('--clip', opts.clip ?? DEFAULTS.clip, 0, 1e6, false, true),
    optimizer: algoDefaults.optimizer,
    lr: numberIn('--lr', opts.lr ?? algoDefaults.lr, 0, 10, false, true),
    beta1: numberIn('--beta1', opts.beta1 ?? algoDefaults.beta1, 0, 1, false, false, true),
    beta2: numberIn('--beta2', opts.beta2 ?? algoDefaults.beta2, 0, 1, false, false, true),
    latent: numberIn('--latent', opts.latent ?? DEFAULTS.latent, 1, 4096, true),
    seed: numberIn('--seed', opts.seed ?? DEFAULTS.seed, 0, Number.MAX_SAFE_INTEGER, true),
    out: opts.out,
    resume: opts.resume ?? false,
    backend: oneOf('--backend', opts.backend ?? DEFAULTS.backend, BACKEND_CHOICES),
    sampleEvery: numberIn('--sample-every', opts.sampleEvery ?? DEFAULTS.sampleEvery, 0, 1e9, true),
    checkpointEvery: numberIn('--checkpoint-every', opts.checkpointEvery ?? DEFAULTS.checkpointEvery, 0, 1e9, true),
    logEvery: numberIn('--log-every', opts.logEvery ?? DEFAULTS.logEvery, 1, 1e9, true),
    hidden,
    layers,
    criticActivation,
    criticNorm,
    gNorm: oneOf('--g-norm', opts.gNorm ?? DEFAULTS.gNorm, GENERATOR_NORMS),
    acWeight,
    acWeightG,
    gCond: oneOf('--g-cond', opts.gCond ?? DEFAULTS.gCond, GENERATOR_CONDITIONING),
    dCond: oneOf('--d-cond', opts.dCond ?? DEFAULTS.dCond, CRITIC_CONDITIONING),
    dataScale: numberIn('--data-scale', opts.dataScale ?? 1, 0, 1e6, false, true),
    lrSchedule: oneOf('--lr-schedule', opts.lrSchedule ?? DEFAULTS.lrSchedule, LR_SCHEDULES),
    imageSize: dataset === 'mnist' ? 28 : imageSize,
    channels: dataset === 'mnist' ? 1 : channels,
    name,
    modelsDir: opts.modelsDir === undefined ? DEFAULTS.modelsDir : opts.modelsDir,
    command: opts.command ?? quoteCommand(['wganx', ...process.argv.slice(2)]),
  };
}

/**
 * Fields that must match between a checkpoint and a `--resume` run: everything that shapes the
 * networks, the data or the random streams. `steps`, the backend and the logging cadence may change.
 */
export const RESUME_LOCKED_FIELDS = [
  'dataset', 'algo', 'arch', 'conditional', 'batch', 'nCritic', 'warmupCritic', 'lambda', 'clip', 'optimizer',
  'lr', 'beta1', 'beta2', 'latent', 'seed', 'hidden', 'layers', 'criticActivation', 'criticNorm', 'gNorm', 'acWeight', 'acWeightG', 'gCond', 'dCond',
  'dataScale', 'lrSchedule', 'imageSize', 'channels',
] as const satisfies readonly (keyof TrainConfig)[];

/** Flag name of a config field, for error messages (`nCritic` → `--n-critic`). */
export function flagName(field: string): string {
  return `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
