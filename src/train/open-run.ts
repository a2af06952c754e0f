/**
 * Phase one of a training run: start the tfjs backend, open the data, check the run and export
 * folders, build the nets and optimisers, and restore the newest checkpoint with `--resume`
 * (refusing one trained with other net-shaping flags). Nothing trains here.
 *
 * @example
 *   const run = await openRun(config, { log: console.error });
 *   run.start   // the step the loop continues from (0, or the checkpoint's)
 *   closeRun(run);
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { makeFolder } from '../io/make-folder.js';
import path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { createRunRngs, restoreRunRngs } from '../core/random.js';
import { openDataset } from '../data/index.js';
import { tooFewHeldOut } from '../data/image-folder.js';
import type { Dataset } from '../data/dataset.js';
import { isToyDataset } from '../data/toy.js';
import { openNodeGemm } from '../runtime/node-gemm.js';
import { requiredKernels, startBackend, type BackendInfo } from '../tfjs/backend.js';
import { registerTrainingGradients } from '../tfjs/gradients.js';
import { checkResumeConfig, findLatestCheckpoint, readCheckpoint, restoreModel, restoreVariables } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { assertCriticSupported } from './critic-support.js';
import { archSpec, buildNets, disposeNets, type NetSpec } from './models/index.js';
import { createOptimizer } from './optimizers.js';
import type { TrainHooks } from './run-types.js';
import { trainableVariables, type StepContext } from './steps.js';
import { WeightAverage } from './weight-average.js';

export function netSpec(config: TrainConfig, dataset: Dataset): NetSpec {
  return {
    kind: dataset.kind,
    dataShape: dataset.shape,
    latent: config.latent,
    numClasses: config.conditional ? (dataset.labels?.length ?? 0) : 0,
    hidden: config.hidden,
    layers: config.layers,
    criticActivation: config.criticActivation,
    criticNorm: config.criticNorm,
    gNorm: config.gNorm,
    auxClassifier: config.acWeight > 0,
    gCond: config.gCond,
    dCond: config.dCond,
  };
}

/**
 * Before any training: the export's folder can be written (`--models-dir` is not a file) and does
 * not hold a different model (`--force` replaces one), so that a long run cannot fail at its end.
 */
async function checkExportFolder(config: TrainConfig): Promise<void> {
  if (config.modelsDir === null) return;
  // The folder, or the nearest folder above it that exists, must be a folder this process can write.
  let at = path.resolve(config.modelsDir);
  let found = await stat(at).catch(() => null);
  while (!found && path.dirname(at) !== at) {
    at = path.dirname(at);
    found = await stat(at).catch(() => null);
  }
  const named = at === path.resolve(config.modelsDir) ? 'it names a file' : `${at} is a file`;
  if (found && !found.isDirectory()) throw new InvalidArgumentError('--models-dir', config.modelsDir, `a folder for the exported model (${named})`);
  if (found && !(await access(at, constants.W_OK).then(() => true, () => false))) throw new InvalidArgumentError('--models-dir', config.modelsDir, `a folder this user may write (${at} is not writable)`);
  const { checkModelFolder } = await import('../export/index.js');
  await checkModelFolder(path.join(config.modelsDir, config.name), { training: { command: config.command }, force: config.force });
}

/** Create the run folder, or refuse one that is a file (or cannot be made) naming --out. */
async function makeRunFolder(out: string): Promise<void> {
  const existing = await stat(out).catch(() => null);
  if (existing && !existing.isDirectory()) throw new InvalidArgumentError('--out', out, 'a folder for the run (it names a file)');
  try {
    await makeFolder(out);
  } catch (err) {
    throw new InvalidArgumentError('--out', out, `a folder that can be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Steps between metrics lines on a GPU backend by default: each read of a loss waits for the GPU. */
export const GPU_LOG_EVERY = 20;

/** A run ready to loop: everything the loop and the end of the run need. */
export interface OpenedRun {
  config: TrainConfig;
  backend: BackendInfo;
  dataset: Dataset;
  spec: NetSpec;
  /** Nets, optimisers, variables and the random streams the steps draw from. */
  ctx: StepContext;
  /** The generator's weight average (`--ema`), or null. */
  average: WeightAverage | null;
  /** The step the loop starts from, and what the checkpoint carried over. */
  start: number;
  elapsedBefore: number;
  lastW: number | null;
  metricsBytes: number | null;
  /** Steps between metrics lines. */
  logEvery: number;
  log: (message: string) => void;
}

export async function openRun(config: TrainConfig, hooks: TrainHooks = {}): Promise<OpenedRun> {
  const log = hooks.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  registerTrainingGradients();
  assertCriticSupported(config);
  const backend = await startBackend(config.backend, requiredKernels({ ...config, archKernels: archSpec(config.arch).kernels }), {
    threads: config.threads,
    smallNets: isToyDataset(config.dataset),
    matmul: config.matmul,
    openGemm: (threads) => openNodeGemm({ threads }),
  });
  log(`backend: ${backend.name} (${backend.reason})`);
  // --log-every 0: every step where reading is free (CPU backends), every GPU_LOG_EVERY steps on a GPU.
  const logEvery = config.logEvery > 0 ? config.logEvery : backend.name === 'webgpu' || backend.name === 'tensorflow' ? GPU_LOG_EVERY : 1;
  const dataset = await openDataset(config, log, hooks.progress ?? true);
  if (config.conditional && !dataset.labels) throw new InvalidArgumentError('--conditional', true, `a labelled data set; ${config.dataset} has no labels`);
  log(`data: ${dataset.description}`);
  const tooFew = dataset.holdout && hooks.evaluate && config.modelsDir !== null ? tooFewHeldOut(dataset.holdout) : null;
  if (tooFew !== null) log(`data: ${tooFew}; the exported model will not be measured`);

  await makeRunFolder(config.out);
  await checkExportFolder(config);
  const latest = await findLatestCheckpoint(config.out);
  if (latest && !config.resume) {
    throw new InvalidArgumentError('--out', config.out, `a folder without checkpoints (it holds ${path.basename(latest)}): pass --resume to continue that run, or choose another --out`);
  }

  const spec = netSpec(config, dataset);
  let rngs = createRunRngs(config.seed);
  const nets = await buildNets(config.arch, spec, rngs.init);
  const criticVars = trainableVariables(nets.critic);
  const generatorVars = trainableVariables(nets.generator);
  const hp = { lr: config.lr, beta1: config.beta1, beta2: config.beta2 };
  const optD = createOptimizer(config.optimizer, criticVars, hp);
  const optG = createOptimizer(config.optimizer, generatorVars, hp);
  const average = config.ema > 0 ? new WeightAverage(nets.generator, config.ema) : null;

  let start = 0;
  let elapsedBefore = 0;
  let lastW: number | null = null;
  let metricsBytes: number | null = null;
  try {
    if (latest && config.resume) {
      const ck = await readCheckpoint(latest);
      checkResumeConfig(config, ck.state.config, latest);
      restoreModel(nets.generator, ck.tensors.generator);
      restoreModel(nets.critic, ck.tensors.critic);
      restoreVariables(optD.slots(), ck.tensors.optD, 'critic optimiser');
      restoreVariables(optG.slots(), ck.tensors.optG, 'generator optimiser');
      if (average) restoreVariables(average.tensors(), ck.tensors.ema, 'averaged generator');
      optD.step = ck.state.optimizerSteps.optD;
      optG.step = ck.state.optimizerSteps.optG;
      rngs = restoreRunRngs(ck.state.rng);
      start = ck.state.step;
      if (config.steps < start) {
        throw new InvalidArgumentError('--steps', config.steps, `at least ${start}, the step of the checkpoint ${path.basename(latest)} that --resume continues (a run cannot go back; the exported model and its manifest would disagree)`);
      }
      elapsedBefore = ck.state.elapsedSeconds;
      lastW = ck.state.last.w;
      metricsBytes = ck.state.metricsBytes;
      log(`resuming from ${latest} (step ${start})`);
    } else if (config.resume) {
      log(`--resume: no checkpoint in ${config.out}, starting from step 0`);
    }
  } catch (err) {
    disposeNets(nets);
    optD.dispose();
    optG.dispose();
    average?.dispose();
    throw err;
  }
  const ctx: StepContext = { config, dataset, nets, criticVars, generatorVars, optD, optG, rngs };
  return { config, backend, dataset, spec, ctx, average, start, elapsedBefore, lastW, metricsBytes, logEvery, log };
}

/** Release the nets, the optimisers and the weight average of a run. */
export function closeRun(run: OpenedRun): void {
  disposeNets(run.ctx.nets);
  run.ctx.optD.dispose();
  run.ctx.optG.dispose();
  run.average?.dispose();
}
