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

/** Measure an exported model with src/eval where it has metrics for the data set, and merge them into its manifest. */
export async function evaluateExport(modelDir: string, config: TrainConfig): Promise<Record<string, unknown> | null> {
  if (!EVALUATED_DATASETS.includes(config.dataset)) return null;
  if (config.dataset === 'mnist' && !config.conditional) return null;
  const evalModule = await import('../eval/index.js');
  const report = await evalModule.evaluateModel({ modelDir, seed: 0, figuresDir: null, threads: 1 });
  const metrics = evalModule.manifestMetrics(report);
  await evalModule.updateManifestMetrics(modelDir, metrics);
  return metrics;
}

/** Exit codes of a run stopped by a signal (128 + the signal's number). */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * The command owns the process: the first SIGINT/SIGTERM asks the run to stop after its current
 * step (it writes a checkpoint), a second one exits at once.
 */
export async function trainCommand(opts: TrainOptions): Promise<TrainResult> {
  const config = resolveTrainConfig(opts);
  const controller = new AbortController();
  let received: keyof typeof SIGNAL_EXIT | null = null;
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((name) => {
    const handler = () => {
      if (received) process.exit(SIGNAL_EXIT[name]);
      received = name;
      process.stderr.write(`${name}: stopping after this step (send it again to quit at once)\n`);
      controller.abort();
    };
    process.on(name, handler);
    return () => process.off(name, handler);
  });
  try {
    const result = await train(config, { evaluate: opts.eval === false ? undefined : evaluateExport, signal: controller.signal });
    if (result.summary) process.stdout.write(formatSummary(result.summary));
    if (result.interrupted && received) process.exitCode = SIGNAL_EXIT[received];
    return result;
  } finally {
    for (const off of handlers) off();
  }
}
