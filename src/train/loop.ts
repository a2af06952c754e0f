/**
 * Phase two of a training run: alternate critic and generator updates from the opened run's step
 * to `--steps`, append the metrics, write sample sheets and checkpoints, and stop after the current
 * step once the hooks' signal is aborted (with a checkpoint, so `--resume` continues exactly).
 *
 * @example
 *   const done = await runLoop(run, { signal: controller.signal });
 *   done.step, done.interrupted
 */
import type * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { rngStates } from '../core/random.js';
import { createProgress } from '../io/progress.js';
import { saveCheckpoint } from './checkpoint.js';
import { MetricsLog, METRICS_FILE, type MetricsRecord } from './metrics-log.js';
import type { OpenedRun } from './open-run.js';
import type { TrainHooks } from './run-types.js';
import { makeSampleSheet, writeSampleSheet, type SampleSheet } from './samples.js';
import { criticIterations, learningRate } from './schedule.js';
import { criticStepTensor, generatorStepTensor, readCriticStep } from './steps.js';

export interface LoopResult {
  /** Generator updates done in all (the checkpoint's and this run's). */
  step: number;
  /** Training time, the checkpoint's included. */
  seconds: number;
  /** True when the signal stopped the run before `--steps` (a checkpoint was written). */
  interrupted: boolean;
  /** The metrics log (closed). */
  metricsFile: string;
  /** The latents and labels of every sample sheet of the run, and the sheet options. */
  sheet: SampleSheet;
  sheetOptions: (step: number) => { latent: number; dataScale: number; title: string };
}

export async function runLoop(run: OpenedRun, hooks: TrainHooks = {}): Promise<LoopResult> {
  const { config, dataset, ctx, average, start, elapsedBefore, logEvery } = run;
  const { nets, optD, optG } = ctx;
  let lastW = run.lastW;
  const metricsFile = path.join(config.out, METRICS_FILE);
  const metrics = new MetricsLog(metricsFile, run.metricsBytes);
  const sheet = makeSampleSheet(dataset, config.latent, config.seed);
  const samplesDir = path.join(config.out, 'samples');
  const sheetOptions = (step: number) => ({ latent: config.latent, dataScale: config.dataScale, title: `${config.name}: ${config.algo}, step ${step}` });
  const progress = (hooks.progress ?? true) ? createProgress({ label: 'train', unit: 'steps', total: config.steps, start }) : null;
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
        const write = () => writeSampleSheet(path.join(samplesDir, `step-${String(step).padStart(7, '0')}.png`), nets.generator, sheet, dataset, sheetOptions(step));
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
    metrics.close();
  }
  return { step, seconds: elapsed(), interrupted: stopped() && step < config.steps, metricsFile, sheet, sheetOptions };
}
