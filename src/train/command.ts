/**
 * `wganx train`: resolve the flags into a {@link TrainConfig}, train, and print the report.
 * Quality metrics come from src/eval (toys: modes and % high quality; MNIST: evaluator accuracy),
 * measured on the exported ONNX model and merged into its manifest.
 */
import path from 'node:path';
import { tooFewHeldOut } from '../data/image-folder.js';
import type { HoldoutInfo } from '../data/index.js';
import { isToyDataset } from '../data/toy.js';
import { onStopSignals } from '../io/stop-signals.js';
import { resolveTrainConfig, type TrainConfig, type TrainOptions } from './config.js';
import { formatSummary } from './report.js';
import { train, type TrainResult } from './run.js';

/** Data sets src/eval has metrics for, besides image folders. */
const EVALUATED_DATASETS = ['ring8', 'grid25', 'mnist'];

/**
 * Measure an exported model with src/eval where it has metrics for the data set (toys, conditional
 * MNIST, image folders with held-out images), and merge them into its manifest.
 */
export async function evaluateExport(modelDir: string, config: TrainConfig, log: (message: string) => void = () => {}, heldOut?: HoldoutInfo): Promise<Record<string, unknown> | null> {
  const folder = !EVALUATED_DATASETS.includes(config.dataset) && !isToyDataset(config.dataset);
  if (!folder && !EVALUATED_DATASETS.includes(config.dataset)) return null;
  if (config.dataset === 'mnist' && !config.conditional) return null;
  const tooFew = folder && heldOut ? tooFewHeldOut(heldOut) : null;
  if (tooFew !== null) {
    log(`quality: not measured: ${tooFew}`);
    return null;
  }
  const evalModule = await import('../eval/index.js');
  const report = await evalModule.evaluateModel({ modelDir, seed: 0, figuresDir: folder ? path.join(config.out, 'eval') : null, threads: 1, log, ...(folder ? { dataDir: config.dataset } : {}) });
  const metrics = evalModule.manifestMetrics(report);
  await evalModule.updateManifestMetrics(modelDir, metrics);
  return metrics;
}

/**
 * The command owns the process: the first SIGINT/SIGTERM asks the run to stop after its current
 * step (it writes a checkpoint), a second one exits at once.
 */
export async function trainCommand(opts: TrainOptions): Promise<TrainResult> {
  const config = resolveTrainConfig(opts);
  const stop = onStopSignals('stopping after this step (send it again to quit at once)');
  try {
    const result = await train(config, { evaluate: opts.eval === false ? undefined : evaluateExport, signal: stop.signal });
    if (result.summary) process.stdout.write(formatSummary(result.summary));
    if (result.interrupted && stop.received) process.exitCode = stop.exitCode;
    if (result.evaluationError !== null) {
      process.stderr.write(`wganx: the model is exported to ${result.exportDir}, but measuring it failed: ${result.evaluationError} (--no-eval skips it)\n`);
      process.exitCode = 1;
    }
    return result;
  } finally {
    stop.off();
  }
}
