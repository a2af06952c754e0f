/**
 * `wganx export`: load a tfjs model folder, export it with {@link exportModel}, print the figures;
 * with `--optimize`, rewrite an exported folder's graph in place instead (./optimize-folder.ts).
 */
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { resolveFlags, type FlagInput, type FlagValues } from '../core/flags.js';
import { MODEL_NAME_PATTERN } from '../core/manifest.js';
import { loadLayersModel, resolveModelJson } from '../tfjs/model-files.js';
import { quietTfjs } from '../tfjs/backend.js';
import { EXPORT_FLAGS } from './flags.js';
import { exportModel } from './index.js';
import { optimizeModelFolder } from './optimize-folder.js';
import { checkTopology } from './topology.js';

/** model.json's modelTopology, or null when it is not JSON (loadLayersModel says so). */
function parsedTopology(text: string): unknown {
  try {
    return (JSON.parse(text) as { modelTopology?: unknown }).modelTopology ?? null;
  } catch {
    return null;
  }
}

export type ExportCommandOptions = FlagInput<typeof EXPORT_FLAGS>;

export async function exportCommand(given: ExportCommandOptions): Promise<void> {
  const opts = resolveFlags(EXPORT_FLAGS, given);
  if (opts.optimize) return optimizeCommand(opts);
  if (opts.model === undefined) throw new InvalidArgumentError('--model', opts.model, 'a folder holding a tfjs model.json, or --checkpoint <dir> for a wganx train checkpoint (required)');
  quietTfjs();
  const name = basename(resolve(opts.out));
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError('--out', opts.out, `a folder whose name is a model name matching ${MODEL_NAME_PATTERN}`);
  }
  // tfjs loops forever on a graph it cannot build: check it first.
  const jsonPath = await resolveModelJson(opts.model);
  checkTopology(parsedTopology(await readFile(jsonPath, 'utf8')), jsonPath);
  const model = await loadLayersModel(opts.model);
  const result = await exportModel(model, opts.out, {
    name,
    opset: opts.opset,
    fp16: opts.fp16,
    tritonDir: opts.triton,
    kind: opts.kind,
    labels: opts.labels,
    tolerance: opts.tolerance,
    force: opts.force,
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

/** `wganx export --optimize --out <folder>`: the folder's own file is the source; the flags that pick or shape another source are refused. */
async function optimizeCommand(opts: FlagValues<typeof EXPORT_FLAGS>): Promise<void> {
  const refused: [string, unknown][] = [['--model', opts.model], ['--checkpoint', opts.checkpoint], ['--triton', opts.triton], ['--labels', opts.labels]];
  for (const [flag, value] of refused) if (value !== undefined) throw new InvalidArgumentError(flag, value, 'nothing with --optimize (the folder --out names is rewritten from its own ONNX file)');
  if (opts.fp16) throw new InvalidArgumentError('--fp16', true, 'nothing with --optimize (a float16 variant stays as it is; export again to rewrite it)');
  if (opts.kind !== 'auto') throw new InvalidArgumentError('--kind', opts.kind, 'auto with --optimize (the manifest says what the model generates)');
  const r = await optimizeModelFolder(opts.out, { log: (m) => process.stderr.write(`${m}\n`) });
  const lines = r.changed
    ? [
        `optimized ${r.manifest.name}: ${r.changes.length} rewrite${r.changes.length === 1 ? '' : 's'}`,
        `  onnx      ${r.onnxPath} (sha256 ${r.manifest.export.sha256})`,
        `  manifest  ${r.manifestPath}`,
        `  rewrite   ${Object.entries(r.rewriteMaxAbsDiff).map(([b, d]) => `batch ${b}: ${d.toExponential(2)}`).join(', ')} against the old file`,
        `  parity    ${Object.entries(r.manifest.export.parity.maxAbsDiff).map(([b, d]) => `batch ${b}: ${d.toExponential(2)}`).join(', ')} (bound with tfjs, ≤ ${r.manifest.export.parity.tolerance})`,
      ]
    : [`${r.manifest.name}: ${r.onnxPath} is already in the fast form; nothing was written`];
  process.stdout.write(`${lines.join('\n')}\n`);
}
