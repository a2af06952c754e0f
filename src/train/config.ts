/**
 * The typed configuration of one training run, its enumerations and its defaults.
 *
 * `src/cli.ts` parses flags into a {@link TrainOptions} object (every field optional, numbers
 * already range-checked) and {@link resolveTrainConfig} fills in the per-algorithm defaults of
 * the WGAN papers (docs/training.md) and checks the combinations, throwing {@link InvalidArgumentError} that names
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
import { resolveFlags, type FlagInput, type FlagTable } from '../core/flags.js';
import { MODEL_NAME_PATTERN } from '../core/manifest.js';
import { isToyDataset, TOY_DATASETS } from '../data/toy.js';
import { DEFAULT_HOLDOUT, HOLDOUT_FOLDER, IMAGE_KINDS, RESIZE_MODES, type ResizeMode } from '../data/image-folder.js';
import { BACKEND_CHOICES, MATMUL_CHOICES, MAX_WASM_THREADS, type BackendChoice, type MatmulChoice } from '../tfjs/choices.js';
import { ARCHITECTURES, ARCHS, archSpec, type Architecture } from './models/archs.js';
import { DIFFAUGMENT_POLICIES, parseDiffAugment, type DiffAugmentPolicy } from './diffaugment-policies.js';

export { isToyDataset, TOY_DATASETS, type ToyDatasetName } from '../data/toy.js';
export { BACKEND_CHOICES, type BackendChoice } from '../tfjs/choices.js';

export const ALGORITHMS = ['wgan-gp', 'wgan', 'gan'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export { ARCHITECTURES, type Architecture } from './models/archs.js';

/** Hidden activations a critic may use; each one passes the penalty's finite-difference check. */
export const CRITIC_ACTIVATIONS = ['leaky_relu', 'relu', 'tanh'] as const;
export type CriticActivation = (typeof CRITIC_ACTIVATIONS)[number];

export const DEFAULT_CRITIC_ACTIVATION: CriticActivation = 'leaky_relu';

/** Critic normalisation. No batch norm: the gradient penalty is per example (docs/training.md). */
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

/**
 * Per-algorithm defaults (docs/training.md). `wgan` uses RMSProp without momentum: its `beta2` is the
 * squared-gradient decay α (PyTorch's default 0.99, as in the WGAN reference code) and `beta1`
 * is unused. `gan` uses the DCGAN paper's Adam settings and one discriminator step per
 * generator step.
 */
export const ALGORITHM_DEFAULTS: Readonly<Record<Algorithm, { optimizer: OptimizerName; lr: number; beta1: number; beta2: number; nCritic: number }>> = {
  wgan: { optimizer: 'rmsprop', lr: 5e-5, beta1: 0, beta2: 0.99, nCritic: 5 },
  'wgan-gp': { optimizer: 'adam', lr: 1e-4, beta1: 0, beta2: 0.9, nCritic: 5 },
  gan: { optimizer: 'adam', lr: 2e-4, beta1: 0.5, beta2: 0.999, nCritic: 1 },
};

/** Hidden width of MLPs when --hidden is not given: small for 2-D points, wider for images. */
export const DEFAULT_HIDDEN = { points: 256, image: 512 } as const;
/** Hidden layers of MLPs when --layers is not given. */
export const DEFAULT_LAYERS = { points: 3, image: 3 } as const;

/**
 * The flags of `wganx train`, declared once: src/cli.ts builds the command's options from this
 * table and {@link resolveTrainConfig} checks every value against it. Options without a default
 * get one per algorithm, data set or architecture (see {@link resolveTrainConfig}).
 */
export const TRAIN_FLAGS = {
  dataset: { type: 'string', flag: '--dataset', arg: '<name>', required: true, nonEmpty: true, help: `training data: ${TOY_DATASETS.join(', ')}, mnist, or a folder of PNG/JPEG/WebP images (one sub-folder per class with --conditional; holdout/ is held out)` },
  algo: { type: 'choice', flag: '--algo', arg: '<algo>', choices: ALGORITHMS, default: 'wgan-gp', help: 'wgan-gp (gradient penalty), wgan (weight clipping) or gan (non-saturating cross-entropy baseline)' },
  arch: {
    type: 'choice', flag: '--arch', arg: '<arch>', choices: ARCHITECTURES, default: 'mlp',
    help: `generator and critic architecture: ${Object.entries(ARCHS).map(([name, row]) => `${name} = ${row.help}`).join('; ')}`,
  },
  conditional: { type: 'boolean', flag: '--conditional', default: false, help: 'class-conditional generator and critic (mnist, or an image folder with one sub-folder per class)' },
  steps: { type: 'int', flag: '--steps', arg: '<n>', min: 1, max: 1e9, default: 10000, help: 'generator updates' },
  batch: { type: 'int', flag: '--batch', arg: '<n>', min: 2, max: 65536, default: 64, help: 'examples per batch' },
  nCritic: { type: 'int', flag: '--n-critic', arg: '<n>', min: 1, max: 1000, help: 'critic updates per generator update (default 5; 1 for gan)' },
  warmupCritic: { type: 'boolean', flag: '--warmup-critic', default: false, help: '100 critic updates for each of the first 25 generator updates and every 500th (WGAN reference code)' },
  lambda: { type: 'number', flag: '--lambda', arg: '<x>', min: 0, max: 1e6, default: 10, help: 'gradient-penalty weight λ (wgan-gp)' },
  clip: { type: 'number', flag: '--clip', arg: '<c>', min: 0, max: 1e6, exclusiveMin: true, default: 0.01, help: 'weight-clipping bound c (wgan)' },
  lr: { type: 'number', flag: '--lr', arg: '<x>', min: 0, max: 10, exclusiveMin: true, help: 'learning rate of both nets (default: 1e-4 wgan-gp, 5e-5 wgan, 2e-4 gan)' },
  beta1: { type: 'number', flag: '--beta1', arg: '<x>', min: 0, max: 1, exclusiveMax: true, help: "Adam β1 (default: 0 wgan-gp, 0.5 gan; unused by wgan's RMSProp)" },
  beta2: { type: 'number', flag: '--beta2', arg: '<x>', min: 0, max: 1, exclusiveMax: true, help: 'Adam β2 (default: 0.9 wgan-gp, 0.999 gan); RMSProp α for wgan (default 0.99)' },
  latent: { type: 'int', flag: '--latent', arg: '<n>', min: 1, max: 4096, default: 100, help: 'latent dimension' },
  seed: { type: 'int', flag: '--seed', arg: '<s>', min: 0, max: Number.MAX_SAFE_INTEGER, default: 0, help: 'seed of every random stream (weights, data, latents, penalty)' },
  out: { type: 'string', flag: '--out', arg: '<dir>', required: true, nonEmpty: true, help: 'run folder for checkpoints, metrics.jsonl, samples and plots, e.g. runs/<name>' },
  resume: { type: 'boolean', flag: '--resume', default: false, help: 'continue from the newest checkpoint in --out (same flags; --steps may grow)' },
  backend: {
    type: 'choice', flag: '--backend', arg: '<name>', choices: BACKEND_CHOICES, default: 'auto',
    help: 'tfjs backend: auto = tfjs-node-gpu, tfjs-node if installed, then webgpu on a hardware GPU, else the fastest of wasm/cpu with every kernel the run needs',
  },
  threads: { type: 'int', flag: '--threads', arg: '<n>', min: 0, max: MAX_WASM_THREADS, default: 0, help: `threads of the wasm backend's matrix products, on onnxruntime or XNNPACK (0: every core, at most ${MAX_WASM_THREADS}, and 1 for points data, whose nets are too small to share)` },
  matmul: {
    type: 'choice', flag: '--matmul', arg: '<engine>', choices: MATMUL_CHOICES, default: 'auto',
    help: "wasm backend's matrix products: auto = onnxruntime-node's native kernels (MLAS) when they load, else XNNPACK; onnxruntime = fail if they do not; xnnpack = tfjs's own",
  },
  sampleEvery: { type: 'int', flag: '--sample-every', arg: '<k>', min: 0, max: 1e9, default: 500, help: 'write a sample sheet every k steps (0: never)' },
  checkpointEvery: { type: 'int', flag: '--checkpoint-every', arg: '<k>', min: 0, max: 1e9, default: 500, help: 'write a checkpoint every k steps (0: only at the end)' },
  logEvery: { type: 'int', flag: '--log-every', arg: '<k>', min: 0, max: 1e9, default: 0, help: 'append to metrics.jsonl every k steps (0: every step on CPU backends, every 20 on a GPU, where each read waits for it)' },
  hidden: { type: 'int', flag: '--hidden', arg: '<n>', min: 1, max: 8192, help: 'MLP hidden width (default 256 points, 512 images) or DCGAN base channels (default 64)' },
  layers: { type: 'int', flag: '--layers', arg: '<n>', min: 1, max: 16, help: 'MLP hidden layers (default 3)' },
  criticActivation: { type: 'choice', flag: '--critic-activation', arg: '<fn>', choices: CRITIC_ACTIVATIONS, help: "critic hidden activation (default leaky_relu; the architecture's reference recipe may set another: resnet relu)" },
  criticNorm: { type: 'choice', flag: '--critic-norm', arg: '<norm>', choices: CRITIC_NORMS, default: 'none', help: 'critic normalisation (never batch norm: the penalty is per example)' },
  gNorm: { type: 'choice', flag: '--g-norm', arg: '<norm>', choices: GENERATOR_NORMS, default: 'none', help: 'MLP generator: batch norm between each hidden Dense and its ReLU' },
  acWeight: {
    type: 'number', flag: '--ac-weight', arg: '<x>', min: 0, max: 1e3, default: 0,
    help: 'conditional: auxiliary classifier head in the critic (AC-GAN), weight of its cross-entropy on real data (0: none)',
  },
  acWeightG: {
    type: 'number', flag: '--ac-weight-g', arg: '<x>', min: 0, max: 1e3,
    help: "conditional: weight of that classifier's cross-entropy on generated data, for the asked class, in the generator loss (default: --ac-weight)",
  },
  gCond: { type: 'choice', flag: '--g-cond', arg: '<how>', choices: GENERATOR_CONDITIONING, default: 'multiply', help: 'conditional generator: label embedding multiplied into z, or concatenated with z' },
  dCond: { type: 'choice', flag: '--d-cond', arg: '<how>', choices: CRITIC_CONDITIONING, default: 'projection', help: 'conditional critic: projection ⟨embed(y), φ(x)⟩, or label concatenated with the input' },
  dataScale: {
    type: 'number', flag: '--data-scale', arg: '<s>', min: 0, max: 1e6, exclusiveMin: true, default: 1,
    help: 'points: multiply the data by s inside training (the exported model outputs data coordinates)',
  },
  ema: {
    type: 'number', flag: '--ema', arg: '<decay>', min: 0, max: 1, exclusiveMax: true, default: 0,
    help: "keep an exponential moving average of the generator's weights with this decay (e.g. 0.999) and export it, not the last weights (0: off)",
  },
  lrSchedule: { type: 'choice', flag: '--lr-schedule', arg: '<s>', choices: LR_SCHEDULES, default: 'constant', help: 'constant, or linear decay to 0 at the last step' },
  imageSize: { type: 'int', flag: '--image-size', arg: '<px>', min: 8, max: 256, default: 28, help: 'image folders: resize to px × px' },
  channels: { type: 'choice', flag: '--channels', arg: '<c>', choices: CHANNEL_CHOICES, default: 'auto', help: 'image folders: 1 (grey), 3 (RGB) or auto' },
  resize: { type: 'choice', flag: '--resize', arg: '<how>', choices: RESIZE_MODES, default: 'cover', help: 'image folders: cover (scale to cover, centre crop) or pad (scale to fit, pad with --background)' },
  background: { type: 'string', flag: '--background', arg: '<colour>', default: 'white', nonEmpty: true, help: 'image folders: colour under transparent pixels and padding (white, black, grey, #rrggbb)' },
  holdout: {
    type: 'number', flag: '--holdout', arg: '<fraction>', min: 0, max: 1, exclusiveMax: true, default: DEFAULT_HOLDOUT,
    help: 'image folders without a holdout/ folder: fraction held out for evaluation, chosen by content hash (stable between runs; 0: none)',
  },
  holdoutDir: { type: 'string', flag: '--holdout-dir', arg: '<dir>', nonEmpty: true, help: 'image folders: the held-out images (default: <dataset>/holdout when it exists; training then reads <dataset>/train if present)' },
  diffaugment: {
    type: 'string', flag: '--diffaugment', arg: '<list>', default: 'none', nonEmpty: true,
    help: `images: differentiable augmentation of everything the critic sees, for small data sets (DiffAugment): a comma-separated subset of ${DIFFAUGMENT_POLICIES.join(', ')}, or none`,
  },
  strict: { type: 'boolean', flag: '--strict', default: false, help: 'image folders: refuse files that are not PNG/JPEG/WebP images or do not decode (without it: skip and report them)' },
  name: { type: 'string', flag: '--name', arg: '<name>', nonEmpty: true, help: 'model name for the export (default: the last segment of --out)' },
  modelsDir: { type: 'string', flag: '--models-dir', arg: '<dir>', default: 'models', nonEmpty: true, help: 'export the generator into <dir>/<name>/' },
  force: { type: 'boolean', flag: '--force', default: false, help: 'export over a model folder that holds a different model (another graph and training command; the same run needs no flag)' },
  export: { type: 'boolean', flag: '--export', default: true, help: 'export to ONNX at the end', negatedHelp: 'do not export to ONNX at the end' },
  eval: {
    type: 'boolean', flag: '--eval', default: true,
    help: 'measure quality after the export (toys, conditional mnist, image folders with held-out images); a failed measurement exits 1',
    negatedHelp: 'do not measure quality after the export',
  },
} as const satisfies FlagTable;

/** What callers hand over: any subset of the flags (checked by {@link resolveTrainConfig}), and the command line to record. */
export type TrainOptions = FlagInput<typeof TRAIN_FLAGS> & {
  /** The command line to record in the manifest (default: this process's argv). */
  command?: string;
};

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
  /** wasm backend threads (0: every core). */
  threads: number;
  /** wasm backend matrix products: onnxruntime-node (auto, onnxruntime) or XNNPACK. */
  matmul: MatmulChoice;
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
  /** Decay of the generator's weight average that is exported (0: none, the last weights). */
  ema: number;
  imageSize: number;
  channels: 'auto' | 1 | 3;
  resize: ResizeMode;
  background: string;
  holdout: number;
  holdoutDir: string | null;
  strict: boolean;
  /** DiffAugment policies, in canonical order (empty: off). */
  diffaugment: DiffAugmentPolicy[];
  /** Model name for the export (default: the last segment of `out`). */
  name: string;
  /** Export into `<modelsDir>/<name>/` at the end; null: no export. */
  modelsDir: string | null;
  /** Export over a folder holding a different model. */
  force: boolean;
  command: string;
}

/** Kind of data a dataset name stands for, without opening it. */
export function datasetKind(dataset: string): 'points' | 'image' {
  return isToyDataset(dataset) ? 'points' : 'image';
}

/** Quote a command line so that it can be pasted back into a shell. */
export function quoteCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Flags that only image folders read (MNIST has its own size, split and channels; points have none). */
const FOLDER_ONLY_FLAGS = ['channels', 'resize', 'background', 'holdout', 'holdoutDir', 'strict'] as const satisfies readonly (keyof TrainOptions)[];

/** What a run is, as far as which flags it reads goes. */
interface RunShape {
  dataset: string;
  kind: 'points' | 'image';
  algo: Algorithm;
  arch: string;
  conditional: boolean;
  holdoutDir?: string | null;
}

/**
 * The flags a run does not read (image flags for point data sets, folder flags for MNIST and
 * points, `--layers` for nets whose depth follows the image, `--g-norm` for nets with batch norm
 * built in, `--g-cond` / `--d-cond` without `--conditional` (and `--g-cond` for a net with its own
 * conditioning), `--beta1` for RMSProp, `--lambda` / `--clip` for the algorithms without a
 * penalty / clipping, `--holdout` beside a held-out folder, `--data-scale` for images), each with
 * what is allowed instead and the value that is the same as not giving it.
 */
export function unreadFlags(run: RunShape): Map<Exclude<keyof TrainConfig & keyof TrainOptions, 'command'>, { allowed: string; neutral?: unknown }> {
  const { dataset, kind, algo, arch } = run;
  const out = new Map<Exclude<keyof TrainConfig & keyof TrainOptions, 'command'>, { allowed: string; neutral?: unknown }>();
  const folder = kind === 'image' && dataset !== 'mnist';
  if (kind === 'points') out.set('imageSize', { allowed: `nothing for the 2-D point data set ${dataset} (image data sets only)` });
  if (kind !== 'points') out.set('dataScale', { allowed: `1 for ${dataset} (it scales 2-D point data sets only)`, neutral: 1 });
  if (!folder) for (const k of FOLDER_ONLY_FLAGS) out.set(k, { allowed: `nothing for ${dataset} (image folders only)`, neutral: k === 'strict' ? false : undefined });
  const row = archSpec(arch);
  if (!row.takesLayers) out.set('layers', { allowed: `nothing for --arch ${arch} (its depth follows --image-size)` });
  if (row.generatorNorm) out.set('gNorm', { allowed: `nothing for --arch ${arch} (its generator has ${row.generatorNorm})` });
  if (!run.conditional) {
    for (const k of ['gCond', 'dCond'] as const) out.set(k, { allowed: 'nothing without --conditional (how the nets take the class label)' });
  } else if (row.generatorConditioning) {
    out.set('gCond', { allowed: `nothing for --arch ${arch} (its generator takes the label by ${row.generatorConditioning})` });
  }
  if (ALGORITHM_DEFAULTS[algo].optimizer !== 'adam') out.set('beta1', { allowed: `0 for --algo ${algo} (its ${ALGORITHM_DEFAULTS[algo].optimizer} has no momentum; --beta2 is its decay α)`, neutral: 0 });
  if (algo !== 'wgan-gp') out.set('lambda', { allowed: `nothing for --algo ${algo} (the gradient penalty's weight: wgan-gp only)` });
  if (algo !== 'wgan') out.set('clip', { allowed: `nothing for --algo ${algo} (weight clipping: wgan only)` });
  if (folder) {
    const inside = path.join(dataset, HOLDOUT_FOLDER);
    const heldOutFolder = run.holdoutDir ?? (statSync(inside, { throwIfNoEntry: false })?.isDirectory() ? inside : null);
    if (heldOutFolder) out.set('holdout', { allowed: `nothing beside a held-out folder (${heldOutFolder} is held out as it is)` });
  }
  return out;
}

/** Refuse flags given for a run that would not read them (they would be ignored without a word): see {@link unreadFlags}. */
function checkFlagsApply(given: Omit<TrainOptions, 'command'>, run: RunShape): void {
  for (const [key, rule] of unreadFlags(run)) {
    const value = given[key];
    if (value !== undefined && value !== rule.neutral) throw new InvalidArgumentError(flagName(key), value, rule.allowed);
  }
}

/**
 * Check every flag against {@link TRAIN_FLAGS}, fill in the defaults (per algorithm, data set and
 * architecture where the table has none) and check the combinations. Throws
 * InvalidArgumentError naming the flag.
 */
export function resolveTrainConfig(opts: TrainOptions): TrainConfig {
  const { command, ...given } = opts;
  if (given.dataset === undefined) throw new InvalidArgumentError('--dataset', given.dataset, `${TOY_DATASETS.join(', ')}, mnist or a folder of ${IMAGE_KINDS} images`);
  if (given.out === undefined) throw new InvalidArgumentError('--out', given.out, 'an output folder, e.g. runs/<name>');
  const f = resolveFlags(TRAIN_FLAGS, given);
  const dataset = f.dataset;
  if (!isToyDataset(dataset) && dataset !== 'mnist') {
    if (!existsSync(dataset) || !statSync(dataset).isDirectory()) {
      throw new InvalidArgumentError('--dataset', dataset, `${TOY_DATASETS.join(', ')}, mnist or an existing folder of ${IMAGE_KINDS} images`);
    }
  }
  const kind = datasetKind(dataset);
  const { algo, arch, conditional } = f;
  const row = archSpec(arch);
  if (!row.dataKinds.includes(kind)) {
    throw new InvalidArgumentError('--arch', arch, `${ARCHITECTURES.filter((a) => (ARCHS[a].dataKinds as readonly string[]).includes(kind)).join(' or ')} for the 2-D point data set ${dataset}`);
  }
  if (conditional && kind === 'points') throw new InvalidArgumentError('--conditional', true, `only with a labelled data set (mnist or an image folder with one sub-folder per class), not ${dataset}`);
  const algoDefaults = ALGORITHM_DEFAULTS[algo];
  // The architecture's reference recipe (its paper's hyper-parameters) for this algorithm, if any.
  const ref = row.reference?.algo === algo ? row.reference : undefined;
  const name = f.name ?? path.basename(path.resolve(f.out)).toLowerCase();
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(f.name ? '--name' : '--name (from the last segment of --out)', name, `a name matching ${MODEL_NAME_PATTERN}`);
  }
  if (!(row.criticNorms as readonly string[]).includes(f.criticNorm)) throw new InvalidArgumentError('--critic-norm', f.criticNorm, `${row.criticNorms.join(' or ')} for --arch ${arch}`);
  const { imageSize } = f;
  if (dataset === 'mnist' && given.imageSize !== undefined && imageSize !== 28) throw new InvalidArgumentError('--image-size', imageSize, '28 for mnist');
  const sizeRule = kind === 'image' ? row.imageSize(dataset === 'mnist' ? 28 : imageSize) : null;
  if (sizeRule) throw new InvalidArgumentError('--image-size', imageSize, `${sizeRule} for --arch ${arch}`);
  const { acWeight } = f;
  const acWeightG = f.acWeightG ?? acWeight;
  if (!conditional && (acWeight > 0 || acWeightG > 0)) {
    throw new InvalidArgumentError(acWeight > 0 ? '--ac-weight' : '--ac-weight-g', acWeight > 0 ? acWeight : acWeightG, '0 without --conditional (the auxiliary classifier predicts the class label)');
  }
  if (acWeightG > 0 && acWeight === 0) {
    throw new InvalidArgumentError('--ac-weight-g', acWeightG, '0 unless --ac-weight > 0 (the generator would chase an untrained classifier)');
  }
  checkFlagsApply(given, { dataset, kind, algo, arch, conditional, holdoutDir: given.holdoutDir ?? null });
  const channels = f.channels === 'auto' ? 'auto' : (Number(f.channels) as 1 | 3);
  const diffaugment = parseDiffAugment(f.diffaugment);
  if (diffaugment.length > 0 && kind !== 'image') throw new InvalidArgumentError('--diffaugment', f.diffaugment, `none for the 2-D point data set ${dataset} (it augments images)`);

  return {
    dataset,
    algo,
    arch,
    conditional,
    steps: f.steps,
    batch: f.batch,
    nCritic: f.nCritic ?? ref?.nCritic ?? algoDefaults.nCritic,
    warmupCritic: f.warmupCritic,
    lambda: f.lambda,
    clip: f.clip,
    optimizer: algoDefaults.optimizer,
    lr: f.lr ?? ref?.lr ?? algoDefaults.lr,
    beta1: f.beta1 ?? ref?.beta1 ?? algoDefaults.beta1,
    beta2: f.beta2 ?? ref?.beta2 ?? algoDefaults.beta2,
    latent: f.latent,
    seed: f.seed,
    out: f.out,
    resume: f.resume,
    backend: f.backend,
    threads: f.threads,
    matmul: f.matmul,
    sampleEvery: f.sampleEvery,
    checkpointEvery: f.checkpointEvery,
    logEvery: f.logEvery,
    hidden: f.hidden ?? (typeof row.defaultHidden === 'number' ? row.defaultHidden : row.defaultHidden[kind]),
    layers: f.layers ?? DEFAULT_LAYERS[kind],
    criticActivation: f.criticActivation ?? ref?.criticActivation ?? DEFAULT_CRITIC_ACTIVATION,
    criticNorm: f.criticNorm,
    gNorm: f.gNorm,
    acWeight,
    acWeightG,
    gCond: f.gCond,
    dCond: f.dCond,
    dataScale: f.dataScale,
    lrSchedule: f.lrSchedule,
    ema: f.ema,
    imageSize: dataset === 'mnist' ? 28 : imageSize,
    channels: dataset === 'mnist' ? 1 : channels,
    resize: f.resize,
    background: f.background,
    holdout: f.holdout,
    holdoutDir: f.holdoutDir ?? null,
    strict: f.strict,
    diffaugment,
    name,
    modelsDir: f.export ? f.modelsDir : null,
    force: f.force,
    command: command ?? quoteCommand(['wganx', ...process.argv.slice(2)]),
  };
}

/**
 * Fields that must match between a checkpoint and a `--resume` run: everything that shapes the
 * networks, the data or the random streams. `steps`, the backend and the logging cadence may change.
 */
export const RESUME_LOCKED_FIELDS = [
  'dataset', 'algo', 'arch', 'conditional', 'batch', 'nCritic', 'warmupCritic', 'lambda', 'clip', 'optimizer',
  'lr', 'beta1', 'beta2', 'latent', 'seed', 'hidden', 'layers', 'criticActivation', 'criticNorm', 'gNorm', 'acWeight', 'acWeightG', 'gCond', 'dCond',
  'dataScale', 'lrSchedule', 'imageSize', 'channels', 'ema', 'resize', 'background', 'holdout', 'holdoutDir', 'diffaugment',
] as const satisfies readonly (keyof TrainConfig)[];

/** Flag name of a config field, for error messages (`nCritic` → `--n-critic`). */
export function flagName(field: string): string {
  return `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
