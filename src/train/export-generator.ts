/**
 * Turn the trained generator and critic into the model wganx ships: point generators output data
 * coordinates (training may scale the data by `--data-scale`; the scale is folded into the last
 * Dense layer, `W/s` and `b/s`), and the critic scores data coordinates (the scale folded into its
 * first Dense layer: the rows of `W` that read the sample, `s·W`), then export with src/export
 * into `<modelsDir>/<name>/` (`generator.onnx`, `critic.onnx`, `refine.onnx`, `manifest.json`).
 *
 * @example
 *   const model = await exportableGenerator(nets.generator, spec, config.arch, config.dataScale);   // a copy; dispose it
 *   const critic = await exportableCritic(nets.critic, spec, config.arch, config.dataScale);        // likewise
 *   await saveLayersModel(model, 'runs/ring/generator');
 */
import * as tf from '@tensorflow/tfjs';
import { WganxError } from '../core/errors.js';
import type { TrainingProvenance } from '../core/manifest.js';
import type { ExportOptions } from '../export/index.js';
import type { Dataset } from '../data/dataset.js';
import { loadArch } from './models/archs.js';
import type { NetSpec } from './models/spec.js';

/** Name of the generator's last Dense layer (points) — see ./models/mlp.ts. */
const OUTPUT_LAYER = 'g_out';
/** Name of the critic's first Dense layer (points), which reads the sample — see ./models/mlp.ts. */
const CRITIC_INPUT_LAYER = 'd_dense_0';

/** A copy of `generator` whose outputs are divided by `dataScale` (points only). */
export async function exportableGenerator(generator: tf.LayersModel, spec: NetSpec, arch: string, dataScale: number): Promise<tf.LayersModel> {
  const copy = (await loadArch(arch)).buildGenerator(spec);
  const values = generator.getWeights();
  copy.setWeights(values);
  if (dataScale !== 1) {
    if (spec.kind !== 'points') throw new WganxError('--data-scale applies to point data sets only');
    const layer = copy.getLayer(OUTPUT_LAYER);
    const [kernel, bias] = layer.getWeights();
    const scaled = [tf.div(kernel, dataScale), tf.div(bias, dataScale)];
    layer.setWeights(scaled);
    tf.dispose(scaled);
  }
  return copy;
}

/**
 * A copy of `critic` that scores data coordinates: `copy(x) = critic(x · dataScale)` (points only).
 * The first Dense layer reads the sample in its first rows (a `concat` critic's label embedding
 * follows them, ./models/mlp.ts), so those rows are multiplied by the scale.
 */
export async function exportableCritic(critic: tf.LayersModel, spec: NetSpec, arch: string, dataScale: number): Promise<tf.LayersModel> {
  const copy = (await loadArch(arch)).buildCritic(spec);
  copy.setWeights(critic.getWeights());
  if (dataScale !== 1) {
    if (spec.kind !== 'points') {
      copy.dispose();
      throw new WganxError('--data-scale applies to point data sets only');
    }
    const rows = spec.dataShape.reduce((a, b) => a * b, 1);
    const layer = copy.getLayer(CRITIC_INPUT_LAYER);
    const [kernel, ...rest] = layer.getWeights();
    const scaled = tf.tidy(() => {
      if (kernel.shape[0] === rows) return tf.mul(kernel, dataScale);
      const [sample, other] = tf.split(kernel, [rows, kernel.shape[0] - rows], 0);
      return tf.concat([tf.mul(sample, dataScale), other], 0);
    });
    layer.setWeights([scaled, ...rest]);
    scaled.dispose();
  }
  return copy;
}

export interface ExportRequest {
  modelsDir: string;
  name: string;
  dataset: Dataset;
  training: TrainingProvenance;
  description: string;
  log: (message: string) => void;
  /** Passed on to src/export (default: its own defaults). */
  options?: Pick<ExportOptions, 'opset' | 'fp16' | 'tritonDir' | 'tolerance' | 'force'>;
  /** The critic in data coordinates ({@link exportableCritic}), written as `critic.onnx`; null: none. */
  critic?: tf.LayersModel | null;
}

export interface ExportOutcome {
  dir: string;
  onnxPath: string;
  manifestPath: string;
  /** `critic.onnx`, or null when the request had no critic. */
  criticPath: string | null;
}

export async function exportTrainedGenerator(model: tf.LayersModel, req: ExportRequest): Promise<ExportOutcome> {
  const { exportModel, buildRefineGraph } = await import('../export/index.js');
  const dir = `${req.modelsDir.replace(/\/+$/, '')}/${req.name}`;
  const result = await exportModel(model, dir, {
    name: req.name,
    kind: req.dataset.kind,
    labels: req.dataset.labels ? [...req.dataset.labels] : undefined,
    latentDistribution: 'normal',
    outputRange: [req.dataset.range[0], req.dataset.range[1]],
    outputModes: req.dataset.modes ? { centres: req.dataset.modes.centres.map(([x, y]) => [x, y]), sigma: req.dataset.modes.sigma } : null,
    training: req.training,
    description: req.description,
    log: req.log,
    ...req.options,
    critic: req.critic ? { model: req.critic, refine: buildRefineGraph } : null,
  });
  return { dir, onnxPath: result.onnxPath, manifestPath: result.manifestPath, criticPath: result.criticPath ?? null };
}
