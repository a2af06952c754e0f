/**
 * Refusing to replace a model folder that holds a different model. `wganx train --out runs/ring`
 * exports into `models/ring`, the bundled model, and a running server hot-swaps whatever lands
 * there: writing over another model must be asked for (`force`, the commands' `--force`).
 *
 * The folder holds "the same model" — and may be written without `force` — when it holds no
 * manifest.json, or its ONNX graph is the one being written (a re-export of the same weights: the
 * files differ only in the manifest embedded in them; a file written before ./graph-rewrite.ts
 * counts by its rewritten graph) and the write keeps its training provenance, or both come from
 * the same training command (a run continued with `--resume`, perhaps with more `--steps`, or run
 * again). A bare re-export of a trained model would drop its provenance and critic: refused.
 *
 * @example
 *   await checkModelFolder('models/ring', { training: { command: 'wganx train …' } });   // before training
 *   await checkModelFolder('models/ring', { graph: converted.bytes, training });          // before writing
 */
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { WganxError } from '../core/errors.js';
import { MANIFEST_FILE, MANIFEST_METADATA_KEY, type Manifest } from '../core/manifest.js';
import { readManifestFile } from '../runtime/model-folder.js';
import { rewriteGraph } from './graph-rewrite.js';
import { decodeModel, encodeModel, onnx } from './onnx-builder.js';

/** A folder that holds another model (or an evaluator) that a command would replace; nothing was written. */
export class ModelFolderTaken extends WganxError {
  override name = 'ModelFolderTaken';
  constructor(
    readonly dir: string,
    /** What the folder holds, in words: "a different model (…)". */
    readonly holds: string,
  ) {
    super(`${dir} already holds ${holds}; nothing was written. Pass --force to replace it, or write to another folder`);
  }
}

/**
 * `wganx train` flags that do not change which run a command is: those a continued run may change
 * (every flag outside src/train/config.ts's RESUME_LOCKED_FIELDS, except --out, --name and
 * --models-dir, which name the run and its export, and --strict, which decides the files it reads;
 * test/train/resume.test.ts keeps the two lists in step). Switches stand alone; the others take a value.
 */
export const SAME_RUN_FLAGS = {
  switches: ['--resume', '--force', '--export', '--no-export', '--eval', '--no-eval'],
  valued: ['--steps', '--backend', '--threads', '--matmul', '--sample-every', '--checkpoint-every', '--log-every'],
} as const;

/** The words of a training command without `--resume`, `--force` and, when `continued`, the other SAME_RUN_FLAGS. */
function runWords(command: string, continued: boolean): string {
  const words = command.trim().split(/\s+/);
  if (!continued) return words.filter((w) => w !== '--resume' && w !== '--force').join(' ');
  const kept: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if ((SAME_RUN_FLAGS.switches as readonly string[]).includes(w)) continue;
    if ((SAME_RUN_FLAGS.valued as readonly string[]).includes(w)) {
      i++; // and its value
      continue;
    }
    if (SAME_RUN_FLAGS.valued.some((f) => w.startsWith(`${f}=`))) continue;
    kept.push(w);
  }
  return kept.join(' ');
}

/**
 * Whether two training commands are the same run: equal once `--resume` and `--force` are dropped,
 * and, when either continues a run (`--resume`), also the other flags a continued run may change
 * (`--steps`, the backend, threads, logging and checkpoint cadence, export and eval switches). A
 * fresh run with other `--steps` is another model.
 */
export function sameTrainingRun(a: string, b: string): boolean {
  const continued = [a, b].some((c) => c.trim().split(/\s+/).includes('--resume'));
  return runWords(a, continued) === runWords(b, continued);
}

/** `bytes` (an ONNX file) without the manifest wganx embeds: the graph and weights alone. */
function graphOnly(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  model.metadataProps = (model.metadataProps ?? []).filter((p) => p.key !== MANIFEST_METADATA_KEY);
  return onnx.ModelProto.encode(model).finish();
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function describe(m: Manifest): string {
  const sha = m.export.sha256 ? `, sha256 ${m.export.sha256.slice(0, 12)}…` : '';
  const command = m.training ? (m.training.command.length > 120 ? `${m.training.command.slice(0, 117)}...` : m.training.command) : '';
  // A checkpoint's export records its own command (a checkpoint does not keep the training command).
  const made = m.training ? `, ${/^wganx export\b/.test(command) ? 'exported' : 'trained'} by \`${command}\`` : ', exported without training provenance';
  return `"${m.name}" version ${m.version}${sha}${made}`;
}

/**
 * The `export.createdAt` of the model in `dir` when its ONNX graph is `graph` (the same weights
 * exported again), else null: a re-export keeps it, so that the same model gives the same bytes
 * (and a server watching the folder sees no new version).
 */
export async function sameGraphCreatedAt(dir: string, graph: Uint8Array): Promise<string | null> {
  try {
    const { manifest } = await readManifestFile(dir);
    const held = await readFile(path.join(dir, path.basename(manifest.export.file)));
    return equalBytes(graphOnly(held), graph) ? manifest.export.createdAt : null;
  } catch {
    return null; // nothing there, or not a model wganx wrote
  }
}

/** What is about to be written into a model folder. */
export interface FolderWrite {
  /** The ONNX graph being written, without an embedded manifest (undefined: not known yet, e.g. before training). */
  graph?: Uint8Array;
  /** The training provenance being written (only its command is compared), or null. */
  training?: { command: string } | null;
  /** Replace whatever the folder holds. */
  force?: boolean;
}

/**
 * Throws {@link ModelFolderTaken} when `dir` holds a model other than the one about to be written
 * (see the module comment), unless `force`. A manifest.json that cannot be read counts as another
 * model. Without `graph` (before training) only the training command can tell that the model is
 * the same.
 */
export async function checkModelFolder(dir: string, next: FolderWrite): Promise<void> {
  if (next.force) return;
  const absent = await lstat(path.join(dir, MANIFEST_FILE)).then(
    () => false,
    (err: NodeJS.ErrnoException) => err.code === 'ENOENT' || err.code === 'ENOTDIR',
  );
  if (absent) return; // no model there (a new or empty folder, or not a folder yet)
  let manifest: Manifest;
  try {
    manifest = (await readManifestFile(dir)).manifest;
  } catch (err) {
    throw new ModelFolderTaken(dir, `a different model (a ${MANIFEST_FILE} that cannot be read: ${(err as Error).message})`);
  }
  if (next.training && manifest.training && sameTrainingRun(next.training.command, manifest.training.command)) return;
  if (next.graph) {
    const file = path.join(dir, path.basename(manifest.export.file));
    const held = await readFile(file).catch(() => null);
    if (held) {
      let same = false;
      try {
        const graph = graphOnly(held);
        // A file exported before the graph rewrite holds the same model when its rewrite is the graph.
        same = equalBytes(graph, next.graph) || equalBytes(encodeModel(rewriteGraph(decodeModel(graph)).model), next.graph);
      } catch {
        // not an ONNX file: another model (or none), which --force replaces
      }
      if (same && manifest.training && next.training === null) {
        const critic = manifest.critic ? ' and its critic' : '';
        throw new ModelFolderTaken(dir, `this model with its training provenance${critic} (${describe(manifest)}), which an export without them would drop (\`wganx export --checkpoint <run folder>\` keeps them)`);
      }
      if (same) return;
    }
  }
  throw new ModelFolderTaken(dir, `a different model (${describe(manifest)})`);
}
