/**
 * `wganx export --optimize --out <folder>`: bring a model folder exported before ./graph-rewrite.ts
 * to the graph a fresh export writes, in place, without the tfjs model it came from.
 *
 * The rewritten graph must compute what the folder's file computes: both run in onnxruntime (CPU)
 * on the parity check's inputs (the manifest's seed, batch 1 and 64), and the largest difference,
 * added to the tfjs parity the manifest records, must stay within the manifest's tolerance (the
 * triangle inequality on the same inputs: a bound on |tfjs − the new file|); else nothing is
 * written. Then generator.onnx (with its embedded manifest) and manifest.json are replaced
 * atomically, ONNX first, every other manifest field kept; `export.sha256` and
 * `export.parity.maxAbsDiff` change. A folder already in the fast form is left untouched. The
 * critic, refine graph and float16 variant keep their files (they stay correct and keep their
 * hashes).
 *
 * @example
 *   const r = await optimizeModelFolder('models/mnist-dcgan');
 *   r.changes   // ['g_project: Gemm columns in NCHW order, …', 'g_deconv_1: ConvTranspose 64→32 … as 4 phase convolutions, Relu fused']
 *   r.rewriteMaxAbsDiff   // { '1': 6.0e-7, '64': 9.5e-7 }
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, ParityError } from '../core/errors.js';
import { MANIFEST_FILE, MANIFEST_METADATA_KEY, parseManifest, type Manifest } from '../core/manifest.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readManifestFile, readModelFolder } from '../runtime/model-folder.js';
import { createSession } from '../runtime/node.js';
import { rewriteGraph } from './graph-rewrite.js';
import { embedManifest, readOnnxManifest } from './metadata.js';
import { decodeModel, encodeModel } from './onnx-builder.js';
import { maxAbsDiff, parityFeeds } from './parity.js';

export interface OptimizeFolderResult {
  /** false: the folder's graph was already in the fast form and nothing was written. */
  changed: boolean;
  changes: string[];
  manifest: Manifest;
  onnxPath: string;
  manifestPath: string;
  /** Largest |old file − new file| per batch size (empty when nothing changed). */
  rewriteMaxAbsDiff: Record<string, number>;
}

/** Largest |a − b| over the outputs of two graphs with the same interface, per batch size. */
async function compareGraphs(a: Uint8Array, b: Uint8Array, manifest: Manifest, batches: number[]): Promise<Record<string, number>> {
  const sessions = await Promise.all([a, b].map((bytes) => createSession(bytes, { providers: ['cpu'], threads: 1 })));
  try {
    const out: Record<string, number> = {};
    for (const batch of batches) {
      const feeds = parityFeeds(manifest.inputs, batch, manifest.export.parity.inputsSeed, manifest.conditional?.numClasses ?? 2).onnx;
      const [x, y] = await Promise.all(sessions.map((s) => s.run(feeds)));
      out[String(batch)] = Math.max(...sessions[0].outputNames.map((name) => maxAbsDiff(x[name].data as Float32Array, y[name].data as Float32Array)));
    }
    return out;
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/** Rewrite the ONNX file of the model folder `dir` in place (see the module comment). */
export async function optimizeModelFolder(dir: string, opts: { log?: (message: string) => void } = {}): Promise<OptimizeFolderResult> {
  const log = opts.log ?? (() => {});
  if (!existsSync(join(dir, MANIFEST_FILE))) {
    throw new InvalidArgumentError('--out', dir, `a model folder to rewrite, holding ${MANIFEST_FILE} (${existsSync(dir) ? `it holds no ${MANIFEST_FILE}` : 'there is no such folder'})`);
  }
  const folder = await readModelFolder(dir);
  const { raw } = await readManifestFile(dir);
  const onnxPath = join(dir, folder.file);
  const manifestPath = join(dir, MANIFEST_FILE);
  const embedded = readOnnxManifest(folder.bytes);
  const model = decodeModel(folder.bytes);
  model.metadataProps = (model.metadataProps ?? []).filter((p) => p.key !== MANIFEST_METADATA_KEY);
  const { model: rewritten, changes } = rewriteGraph(model);
  if (changes.length === 0) {
    // The caller reports it (the result says `changed: false`).
    return { changed: false, changes, manifest: folder.manifest, onnxPath, manifestPath, rewriteMaxAbsDiff: {} };
  }
  for (const line of changes) log(`rewrite: ${line}`);

  const graph = encodeModel(rewritten);
  const parity = folder.manifest.export.parity;
  const batches = Object.keys(parity.maxAbsDiff).map(Number).filter((b) => Number.isInteger(b) && b > 0);
  if (batches.length === 0) throw new InvalidArgumentError(`${MANIFEST_FILE}.export.parity.maxAbsDiff`, parity.maxAbsDiff, 'the parity figures of at least one batch size');
  const diff = await compareGraphs(folder.bytes, graph, folder.manifest, batches);
  const bound = Object.fromEntries(batches.map((b) => [String(b), parity.maxAbsDiff[String(b)] + diff[String(b)]]));
  log(`rewritten against the folder's file: max |difference| ${Object.entries(diff).map(([b, d]) => `${d.toExponential(2)} at batch ${b}`).join(', ')}; parity bound with tfjs ${Object.values(bound).map((d) => d.toExponential(2)).join(', ')} (tolerance ${parity.tolerance})`);
  const worst = Math.max(...Object.values(bound));
  if (!(worst <= parity.tolerance)) {
    throw new ParityError(`${onnxPath}: the rewritten graph differs from the file by ${JSON.stringify(diff)}, which with the recorded tfjs parity ${JSON.stringify(parity.maxAbsDiff)} exceeds the tolerance ${parity.tolerance}; nothing was written`);
  }

  const exportNext = { ...embedded.export, parity: { ...embedded.export.parity, maxAbsDiff: bound } };
  const onnxBytes = embedManifest(graph, parseManifest({ ...embedded, export: exportNext }, 'manifest'));
  const sha256 = createHash('sha256').update(onnxBytes).digest('hex');
  const rawExport = raw.export as Record<string, unknown>;
  const next = { ...raw, export: { ...rawExport, sha256, parity: { ...(rawExport.parity as object), maxAbsDiff: bound } } };
  const manifest = parseManifest(next, MANIFEST_FILE);
  await writeFileAtomic(onnxPath, onnxBytes);
  await writeFileAtomic(manifestPath, `${JSON.stringify(next, null, 2)}\n`);
  log(`wrote ${onnxPath} (${onnxBytes.length} bytes, sha256 ${sha256}) and ${manifestPath}`);
  return { changed: true, changes, manifest, onnxPath, manifestPath, rewriteMaxAbsDiff: diff };
}
