/**
 * `wganx train`: resolve the flags into a {@link TrainConfig}, train, and print the report.
 * Quality metrics come from src/eval (toys: modes and % high quality; MNIST: evaluator accuracy),
 * measured on the exported ONNX model and merged into its manifest.
 */
import { resolveTrainConfig, type TrainConfig, type TrainOptions } from './config.js';
import { formatSummary } from './report.js';
import { train, type TrainResult } from './run.js';

/** Data sets src/eval has metrics for. */
const EVALUATED_DATASETS = ['ring8', 'grid25', 'mnist'];

async function evaluateExport(modelDir: string, config: TrainConfig): Promise<Record<string, unknown> | null> {
  if (!EVALUATED_DATASETS.includes(config.dataset)) return null;
  if (config.dataset === 'mnist' && !config.conditional) return null;
  const evalModule = await import('../eval/index.js');
  const report = await evalModule.evaluateModel({ modelDir, seed: 0, figuresDir: null, threads: 1 });
  const metrics = evalModule.manifestMetrics(report);
  await evalModule.updateManifestMetrics(modelDir, metrics);
  return metrics;
}

export async function trainCommand(opts: TrainOptions & { eval?: boolean }): Promise<TrainResult> {
  const config = resolveTrainConfig(opts);
  const result = await train(config, { evaluate: opts.eval === false ? undefined : evaluateExport });
  if (result.summary) process.stdout.write(formatSummary(result.summary));
  return result;
}
