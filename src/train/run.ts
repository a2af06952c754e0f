/**
 * The training loop: build or resume, alternate critic and generator updates, log, sample,
 * checkpoint, and at the end plot, export and report.
 *
 * @example
 *   const result = await train(resolveTrainConfig({ dataset: 'ring8', out: 'runs/ring', steps: 2000 }));
 *   result.exportDir // 'models/ring'
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import type { TrainingProvenance } from '../core/manifest.js';
import { saveLayersModel } from '../tfjs/model-files.js';
import { requiredKernels, startBackend, type BackendInfo } from '../tfjs/backend.js';
import { checkResumeConfig, findLatestCheckpoint, readCheckpoint, restoreModel, restoreVariables, saveCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { assertCriticSupported } from './critic-support.js';
import { openDataset } from '../data/index.js';
import { isToyDataset } from '../data/toy.js';
import type { Dataset } from '../data/dataset.js';
import { exportableGenerator, exportTrainedGenerator } from './export-generator.js';
import { registerTrainingGradients } from '../tfjs/gradients.js';
import { openNodeGemm } from '../runtime/node-gemm.js';
import { MetricsLog, METRICS_FILE, readMetrics, type MetricsRecord } from './metrics-log.js';
import { archSpec, buildNets, disposeNets, type NetSpec } from './models/index.js';
import { createOptimizer } from './optimizers.js';
import { writeCurvesPng } from './plots.js';
import { createProgress } from '../io/progress.js';
import { createRunRngs, restoreRunRngs, rngStates } from '../core/random.js';
import { writeReport, type RunSummary } from './report.js';
import { makeSampleSheet, writeSampleSheet } from './samples.js';
import { criticIterations, learningRate } from './schedule.js';
import { criticStepTensor, generatorStepTensor, readCriticStep, trainableVariables, type StepContext } from './steps.js';
import { WeightAverage } from './weight-average.js';

export interface TrainHooks {
  /** Progress and status lines (default: stderr). */
  log?: (message: string) => void;
  /** Quality metrics of the exported model (the command plugs src/eval in here); `log` gets its status lines. */
  evaluate?: (modelDir: string, config: TrainConfig, log: (message: string) => void) => Promise<Record<string, unknown> | null>;
  /** Show a progress bar / periodic progress lines (default true). */
  progress?: boolean;
  /**
   * Stop early: once aborted, the run finishes its current step, writes a checkpoint and returns
   * with `interrupted` (the command aborts it on SIGINT/SIGTERM).
   */
  signal?: { readonly aborted: boolean };
}

export interface TrainResult {
  config: TrainConfig;
  backend: BackendInfo;
  stepsDone: number;
  seconds: number;
  /** True when the signal stopped the run early (a checkpoint was written). */
  interrupted: boolean;
  exportDir: string | null;
  quality: Record<string, unknown> | null;
  /** Why measuring the exported model failed (the command exits 1), or null. */
  evaluationError: string | null;
  reportPath: string | null;
  summary: RunSummary | null;
}

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

export function hyperparameters(config: TrainConfig): Record<string, unknown> {
  const hp: Record<string, unknown> = {
    arch: config.arch,
    conditional: config.conditional,
    batch: config.batch,
    nCritic: config.nCritic,
    warmupCritic: config.warmupCritic,
    optimizer: config.optimizer,
    lr: config.lr,
    lrSchedule: config.lrSchedule,
    latent: config.latent,
    hidden: config.hidden,
    layers: config.layers,
    criticActivation: config.criticActivation,
    criticNorm: config.criticNorm,
    gNorm: config.gNorm,
    dataScale: config.dataScale,
    seed: config.seed,
  };
  if (config.ema > 0) hp.ema = config.ema;
  if (config.diffaugment.length > 0) hp.diffaugment = config.diffaugment.join(',');
  if (config.optimizer === 'adam') Object.assign(hp, { beta1: config.beta1, beta2: config.beta2 });
  else hp.rmspropAlpha = config.beta2;
  if (config.algo === 'wgan-gp') hp.lambda = config.lambda;
  if (config.algo === 'wgan') hp.clip = config.clip;
  if (config.conditional) Object.assign(hp, { gCond: config.gCond, dCond: config.dCond, acWeight: config.acWeight, acWeightG: config.acWeightG });
  if (config.dataset !== 'mnist' && !isToyDataset(config.dataset)) {
    Object.assign(hp, { imageSize: config.imageSize, channels: config.channels, resize: config.resize, background: config.background, holdout: config.holdout, holdoutDir: config.holdoutDir });
  }
  return hp;
}

/**
 * Before any training: the export's folder can be written (`--models-dir` is not a file) and does
 * not hold a different model (`--force` replaces one), so that a long run cannot fail at its end.
 */
async function checkExportFolder(config: TrainConfig): Promise<void> {
  if (config.modelsDir === null) return;
  const existing = await stat(config.modelsDir).catch(() => null);
  if (existing && !existing.isDirectory()) throw new InvalidArgumentError('--models-dir', config.modelsDir, 'a folder for the exported model (it names a file)');
  const { checkModelFolder } = await import('../export/index.js');
  await checkModelFolder(path.join(config.modelsDir, config.name), { training: { command: config.command }, force: config.force });
}

/** Create the run folder, or refuse one that is a file (or cannot be made) naming --out. */
async function makeRunFolder(out: string): Promise<void> {
  const existing = await stat(out).catch(() => null);
  if (existing && !existing.isDirectory()) throw new InvalidArgumentError('--out', out, 'a folder for the run (it names a file)');
  try {
    await mkdir(out, { recursive: true });
  } catch (err) {
    throw new InvalidArgumentError('--out', out, `a folder that can be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Steps between metrics lines on a GPU backend by default: each read of a loss waits for the GPU. */
export const GPU_LOG_EVERY = 20;

export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
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

  const ctx: StepContext = { config, dataset, nets, criticVars, generatorVars, optD, optG, rngs };
  const metricsFile = path.join(config.out, METRICS_FILE);
  const metrics = new MetricsLog(metricsFile, metricsBytes);
  const sheet = makeSampleSheet(dataset, config.latent, config.seed);
  const samplesDir = path.join(config.out, 'samples');
  const sheetOpts = (step: number) => ({ latent: config.latent, dataScale: config.dataScale, title: `${config.name}: ${config.algo}, step ${step}` });
  const showProgress = hooks.progress ?? true;
  const progress = showProgress ? createProgress({ label: 'train', unit: 'steps', total: config.steps, start }) : null;

  const stopped = () => hooks.signal?.aborted === true;

  const t0 = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - t0) / 1000;
  const checkpoint = async (step: number) =>
    saveCheckpoint(config.out, {
      step,
      config,
      rng: rngStates(ctx.rngs),
      optimizerSteps: { optD: optD.step, optG: optG.step },
      metricsBytes: metrics.bytes(),
      elapsedSeconds: elapsed(),
      last: { w: lastW },
      tensors: { generator: nets.generator.weights.map((w) => w.read()), critic: nets.critic.weights.map((w) => w.read()), optD: optD.slots(), optG: optG.slots(), ema: average?.tensors() ?? [] },
    });

  let step = start;
  let lastCheckpoint = start;
  // The last critic step's figures stay on the device until a log line or a checkpoint needs them:
  // on a GPU every read waits for the queued work, so reads are as rare as the log asks.
  let lastCritic: tf.Tensor | null = null;
  const readW = async () => {
    if (lastCritic) lastW = (await readCriticStep(lastCritic)).w;
  };
  try {
    while (step < config.steps && !stopped()) {
      const lr = learningRate(step, config);
      for (let k = criticIterations(step, config); k > 0; k--) {
        const t = criticStepTensor(ctx, lr);
        lastCritic?.dispose();
        lastCritic = t;
      }
      const gLoss = generatorStepTensor(ctx, lr);
      average?.update(step);
      step += 1;
      if (step % logEvery === 0 || step === config.steps) {
        const last = await readCriticStep(lastCritic!);
        lastW = last.w;
        const rec: MetricsRecord = { step, w: last.w, criticLoss: last.loss, generatorLoss: (await gLoss.data())[0], penalty: last.penalty, ...(last.classLoss === null ? {} : { classLoss: last.classLoss }), lr, seconds: elapsed() };
        metrics.append(rec);
      }
      gLoss.dispose();
      progress?.update(step, `W ${lastW !== null && Number.isFinite(lastW) ? lastW.toFixed(4) : '–'}`);
      // Let the event loop run (signals that abort the run, the progress bar's timer): the steps are synchronous.
      await new Promise((resolve) => setImmediate(resolve));
      if (config.sampleEvery > 0 && step % config.sampleEvery === 0) {
        const write = () => writeSampleSheet(path.join(samplesDir, `step-${String(step).padStart(7, '0')}.png`), nets.generator, sheet, dataset, sheetOpts(step));
        await (average ? average.swappedIn(write) : write());
      }
      if (config.checkpointEvery > 0 && step % config.checkpointEvery === 0) {
        await readW();
        await checkpoint(step);
        lastCheckpoint = step;
      }
    }
    if (step !== lastCheckpoint) {
      await readW();
      await checkpoint(step);
    }
  } finally {
    progress?.stop();
    lastCritic?.dispose();
  }
  const seconds = elapsed();

  if (stopped() && step < config.steps) {
    metrics.close();
    log(step > 0 ? `interrupted at step ${step}; checkpoint written — continue with the same command plus --resume` : 'interrupted before the first step; nothing to resume (start the same command again)');
    disposeNets(nets);
    optD.dispose();
    optG.dispose();
    average?.dispose();
    return { config, backend, stepsDone: step, seconds, interrupted: true, exportDir: null, quality: null, evaluationError: null, reportPath: null, summary: null };
  }

  // ── the end: curves, final samples, export, quality, report ─────────────────────────────────
  metrics.close();
  if (average) {
    // From here on the generator is the average: the final sheet, the export and its quality.
    average.writeInto();
    average.dispose();
    log(`generator: the exponential moving average of its weights (decay ${config.ema}) is what the sheet and the export show`);
  }
  if (backend.name === 'webgpu') {
    // The export and its parity check read tensors synchronously, which WebGPU cannot do in Node:
    // read every weight asynchronously (tfjs keeps the values on the CPU), then finish on cpu.
    await Promise.all([...nets.generator.weights, ...nets.critic.weights].map((w) => w.read().data()));
    await tf.setBackend('cpu');
    log('backend: the trained weights move to the cpu backend for the sample sheet, the export and its checks');
  }
  const records = readMetrics(metricsFile);
  const files: Record<string, string> = { metrics: metricsFile };
  const notes: string[] = [];
  const curves = path.join(config.out, 'curves.png');
  await writeCurvesPng(records, curves, `${config.name}: ${config.algo} on ${config.dataset}${config.dataScale !== 1 ? ` (W and losses in training units: data × ${config.dataScale})` : ''}`);
  files.curves = curves;
  const finalSheet = path.join(samplesDir, 'final.png');
  await writeSampleSheet(finalSheet, nets.generator, sheet, dataset, sheetOpts(step));
  files.samples = finalSheet;

  const exportModel = await exportableGenerator(nets.generator, spec, config.arch, config.dataScale);
  const generatorDir = path.join(config.out, 'generator');
  await saveLayersModel(exportModel, generatorDir);
  files['tfjs generator (data coordinates)'] = generatorDir;
  files.checkpoints = path.join(config.out, 'checkpoints');

  const training: TrainingProvenance = {
    algorithm: config.algo,
    dataset: config.dataset,
    steps: step,
    hyperparameters: hyperparameters(config),
    command: config.command,
    backend: backend.name,
    durationSeconds: Math.round(seconds * 10) / 10,
    metrics: {},
    ...(dataset.holdout ? { holdout: dataset.holdout } : {}),
  };
  let exportDir: string | null = null;
  let quality: Record<string, unknown> | null = null;
  let evaluationError: string | null = null;
  try {
    if (config.modelsDir !== null) {
      const out = await exportTrainedGenerator(exportModel, {
        modelsDir: config.modelsDir,
        name: config.name,
        dataset,
        training,
        description: `${config.conditional ? 'class-conditional ' : ''}${config.algo.toUpperCase()} ${config.arch} generator trained on ${config.dataset} with wganx`,
        log,
        options: { force: config.force },
      });
      exportDir = out.dir;
      log(`exported ${out.onnxPath}`);
      if (hooks.evaluate) {
        try {
          quality = await hooks.evaluate(exportDir, config, log);
        } catch (err) {
          evaluationError = (err as Error).message;
          notes.push(`evaluation failed: ${evaluationError} (the model is exported; measure it again with wganx eval --model ${exportDir})`);
        }
      }
    }
  } finally {
    exportModel.dispose();
  }

  const summary: RunSummary = { config, backend, datasetDescription: dataset.description, stepsDone: step, seconds, records, files, exportDir, quality, notes };
  const reportPath = await writeReport(config.out, summary);
  disposeNets(nets);
  optD.dispose();
  optG.dispose();
  return { config, backend, stepsDone: step, seconds, interrupted: false, exportDir, quality, evaluationError, reportPath, summary };
}
