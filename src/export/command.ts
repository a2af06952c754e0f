/**
 * `wganx export`: load a tfjs model folder, export it with {@link exportModel}, print the figures.
 */
import { basename, resolve } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { MODEL_NAME_PATTERN, ModelKind } from '../core/manifest.js';
import { loadLayersModel } from '../io/tfjs-model-files.js';
import { exportModel } from './index.js';

export interface ExportCommandOptions {
  modelPath: string;
  outDir: string;
  opset: number;
  fp16: boolean;
  tritonDir?: string;
  kind: ModelKind | 'auto';
  labels?: string[];
  tolerance: number;
}

export async function exportCommand(opts: ExportCommandOptions): Promise<void> {
  const name = basename(resolve(opts.outDir));
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError('--out', opts.outDir, `a folder whose name is a model name matching ${MODEL_NAME_PATTERN}`);
  }
  const model = await loadLayersModel(opts.modelPath);
  const result = await exportModel(model, opts.outDir, {
    name,
    opset: opts.opset,
    fp16: opts.fp16,
    tritonDir: opts.tritonDir,
    kind: opts.kind,
    labels: opts.labels,
    tolerance: opts.tolerance,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  const { manifest } = result;
  const lines = [
    `exported ${manifest.name}: ${manifest.kind} generator, latent ${manifest.latent.dim}${manifest.conditional ? `, ${manifest.conditional.numClasses} classes` : ''}`,
    `  onnx      ${result.onnxPath} (opset ${manifest.export.opset}, sha256 ${manifest.export.sha256})`,
    `  manifest  ${result.manifestPath}`,
    `  parity    ${Object.entries(manifest.export.parity.maxAbsDiff).map(([b, d]) => `batch ${b}: ${d.toExponential(2)}`).join(', ')} (≤ ${manifest.export.parity.tolerance})`,
  ];
  if (result.fp16Path) lines.push(`  fp16      ${result.fp16Path} (max diff ${manifest.export.fp16?.maxAbsDiff.toExponential(2)})`);
  if (result.tritonPath) lines.push(`  triton    ${result.tritonPath}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
