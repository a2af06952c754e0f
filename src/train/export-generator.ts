/**
 * Turn the trained generator into the model wganx ships: point generators output data
 * coordinates (training may scale the data by `--data-scale`; the scale is folded into the last
 * Dense layer, `W/s` and `b/s`), then export with src/export into `<modelsDir>/<name>/`.
 *
 * @example
 *   const model = await exportableGenerator(nets.generator, spec, config.arch, config.dataScale);   // a copy; dispose it
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

export interface ExportRequest {
  modelsDir: string;
  name: string;
  dataset: Dataset;
  training: TrainingProvenance;
  description: string;
  log: (message: string) => void;
  /** Passed on to src/export (default: its own defaults). */
  options?: Pick<ExportOptions, 'opset' | 'fp16' | 'tritonDir' | 'tolerance' | 'force'>;
}

export interface ExportOutcome {
  dir: string;
  onnxPath: string;
  manifestPath: string;
}

export async function exportTrainedGenerator(model: tf.LayersModel, req: ExportRequest): Promise<ExportOutcome> {
  const { exportModel } = await import('../export/index.js');
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
  });
  return { dir, onnxPath: result.onnxPath, manifestPath: result.manifestPath };
}
