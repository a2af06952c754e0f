/**
 * Phase three of a training run that reached `--steps`: the learning curves, the final sample
 * sheet, the generator in data coordinates (tfjs files), the ONNX export (generator and critic) with its provenance, the
 * quality measurement (the hooks' `evaluate`, src/eval through the command) and the report. The
 * caller releases the nets afterwards (./open-run.ts `closeRun`).
 *
 * @example
 *   const result = await finishRun(run, loopResult, { evaluate });
 *   result.exportDir // models/<name>
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import type { TrainingProvenance } from '../core/manifest.js';
import { isToyDataset } from '../data/toy.js';
import { saveLayersModel } from '../tfjs/model-files.js';
import type { TrainConfig } from './config.js';
import { exportableCritic, exportableGenerator, exportTrainedGenerator } from './export-generator.js';
import type { LoopResult } from './loop.js';
import { readMetrics } from './metrics-log.js';
import type { OpenedRun } from './open-run.js';
import { writeCurvesPng } from './plots.js';
import { writeReport, type RunSummary } from './report.js';
import type { TrainHooks, TrainResult } from './run-types.js';
import { writeSampleSheet } from './samples.js';

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

export async function finishRun(run: OpenedRun, loop: LoopResult, hooks: TrainHooks = {}): Promise<TrainResult> {
  const { config, backend, dataset, spec, average, log } = run;
  const { nets } = run.ctx;
  const { step, seconds } = loop;
  if (average) {
    // From here on the generator is the average: the final sheet, the export and its quality.
    average.writeInto();
    log(`generator: the exponential moving average of its weights (decay ${config.ema}) is what the sheet and the export show`);
  }
  if (backend.name === 'webgpu') {
    // The export and its parity check read tensors synchronously, which WebGPU cannot do in Node:
    // read every weight asynchronously (tfjs keeps the values on the CPU), then finish on cpu.
    await Promise.all([...nets.generator.weights, ...nets.critic.weights].map((w) => w.read().data()));
    await tf.setBackend('cpu');
    log('backend: the trained weights move to the cpu backend for the sample sheet, the export and its checks');
  }
  const records = readMetrics(loop.metricsFile);
  const files: Record<string, string> = { metrics: loop.metricsFile };
  const notes: string[] = [];
  const curves = path.join(config.out, 'curves.png');
  await writeCurvesPng(records, curves, `${config.name}: ${config.algo} on ${config.dataset}${config.dataScale !== 1 ? ` (W and losses in training units: data × ${config.dataScale})` : ''}`);
  files.curves = curves;
  const finalSheet = path.join(config.out, 'samples', 'final.png');
  await writeSampleSheet(finalSheet, nets.generator, loop.sheet, dataset, loop.sheetOptions(step));
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
  let critic: tf.LayersModel | null = null;
  try {
    if (config.modelsDir !== null) {
      critic = await exportableCritic(nets.critic, spec, config.arch, config.dataScale);
      const out = await exportTrainedGenerator(exportModel, {
        modelsDir: config.modelsDir,
        name: config.name,
        dataset,
        training,
        description: `${config.conditional ? 'class-conditional ' : ''}${config.algo.toUpperCase()} ${config.arch} generator trained on ${config.dataset} with wganx`,
        log,
        options: { force: config.force },
        critic,
      });
      exportDir = out.dir;
      log(`exported ${out.onnxPath}`);
      if (hooks.evaluate) {
        try {
          quality = await hooks.evaluate(exportDir, config, log, dataset.holdout);
        } catch (err) {
          evaluationError = (err as Error).message;
          notes.push(`evaluation failed: ${evaluationError} (the model is exported; measure it again with wganx eval --model ${exportDir})`);
        }
      }
    }
  } finally {
    exportModel.dispose();
    critic?.dispose();
  }

  const summary: RunSummary = { config, backend, datasetDescription: dataset.description, stepsDone: step, seconds, records, files, exportDir, quality, notes };
  const reportPath = await writeReport(config.out, summary);
  return { config, backend, stepsDone: step, seconds, interrupted: false, exportDir, quality, evaluationError, reportPath, summary };
}
