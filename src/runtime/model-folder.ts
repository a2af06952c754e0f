/**
 * The one reader of a `models/<name>/` folder on disk: `manifest.json` (size-limited, parsed with
 * the core schema) and the ONNX file it names, checked against the manifest's sha256; when the
 * manifest has a `critic` (and its `refine`), those files too, checked the same way. A folder
 * without them reads as before (`critic: null`, `refine: null`). The server, `wganx eval`,
 * `wganx augment` and the benchmarks read models through it.
 *
 * @example
 *   const { manifest, bytes, sha256, critic } = await readModelFolder('models/ring');
 *   critic?.path   // models/ring/critic.onnx, its bytes checked against manifest.critic.sha256
 */
import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { MANIFEST_FILE, parseManifest, type Manifest } from '../core/manifest.js';

export { MANIFEST_FILE };
/** Largest manifest.json read (a manifest is a few KiB; anything huge is not one). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** A model folder that cannot be read or does not hold what its manifest says. */
export class ModelLoadError extends WganxError {
  override name = 'ModelLoadError';
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface ManifestFile {
  manifest: Manifest;
  /** The JSON as written (for tools that rewrite the file and must keep every field). */
  raw: Record<string, unknown>;
}

/**
 * The bytes of `<dir>/<file>`, refusing anything but a regular file first: reading a FIFO or a
 * device would block a thread of libuv's pool for as long as nobody writes to it.
 */
export async function readRegularFile(dir: string, file: string, maxBytes = Infinity): Promise<Buffer> {
  const full = path.join(dir, file);
  try {
    const s = await stat(full);
    if (!s.isFile()) throw new ModelLoadError(`${file} is not a regular file`);
    if (s.size > maxBytes) throw new ModelLoadError(`${file} is ${s.size} bytes; at most ${maxBytes} allowed`);
    return await readFile(full);
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(`cannot read ${file}: ${reason(err)}`);
  }
}

/**
 * Refuse `<dir>/<file>` when it is a link to a file outside the folder (the server's model
 * folders: a link must not publish, or load, a file from elsewhere on the machine).
 */
async function checkInside(dir: string, file: string): Promise<void> {
  let inside: boolean;
  try {
    const [realDir, realFile] = await Promise.all([realpath(dir), realpath(path.join(dir, file))]);
    const rel = path.relative(realDir, realFile);
    inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  } catch {
    return; // missing or unreadable: readRegularFile says so
  }
  if (!inside) throw new ModelLoadError(`${file} is a link to a file outside the model folder`);
}

export interface ReadOptions {
  /** Refuse manifest.json and the ONNX file when they are links to files outside the folder. */
  confined?: boolean;
}

/**
 * Read and validate `<dir>/manifest.json`. A file that is not JSON is described by its size and
 * the position of the fault, never by its bytes (V8's message quotes them, and reasons are public).
 */
export async function readManifestFile(dir: string, opts: ReadOptions = {}): Promise<ManifestFile> {
  if (opts.confined) await checkInside(dir, MANIFEST_FILE);
  const bytes = await readRegularFile(dir, MANIFEST_FILE, MAX_MANIFEST_BYTES);
  if (bytes.length > MAX_MANIFEST_BYTES) throw new ModelLoadError(`${MANIFEST_FILE} is ${bytes.length} bytes; at most ${MAX_MANIFEST_BYTES} allowed`); // grew while read
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    const why = reason(err);
    const at = /at position (\d+)/.exec(why)?.[1];
    const where = at !== undefined ? `; the fault is at character ${at}` : /end of JSON/.test(why) ? '; it ends too early' : '';
    throw new ModelLoadError(`${MANIFEST_FILE} is not valid JSON (${bytes.length} bytes${where})`);
  }
  const manifest = parseManifest(raw, MANIFEST_FILE);
  return { manifest, raw: raw as Record<string, unknown> };
}

/** One checked ONNX file of a model folder besides the generator (the critic, the refine graph). */
export interface ModelFile {
  /** Its name inside the folder. */
  file: string;
  /** `dir` joined with `file`. */
  path: string;
  bytes: Uint8Array;
  /** sha256 (hex) of `bytes`, equal to the manifest's. */
  sha256: string;
}

export interface ModelFolder {
  dir: string;
  manifest: Manifest;
  /** The ONNX file's name inside the folder. */
  file: string;
  bytes: Uint8Array;
  /** sha256 (hex) of `bytes`. */
  sha256: string;
  /** `critic.onnx` when the manifest has a critic, else null. */
  critic: ModelFile | null;
  /** `refine.onnx` when the manifest's critic has one, else null. */
  refine: ModelFile | null;
}

/** `<dir>/<file>` read and checked against `expected` (null: not checked); `field` names the manifest field. */
async function readChecked(dir: string, file: string, expected: string | null, field: string, opts: ReadOptions): Promise<ModelFile> {
  if (path.basename(file) !== file) throw new InvalidArgumentError(`${MANIFEST_FILE}.${field}.file`, file, 'a file name inside the model folder');
  if (opts.confined) await checkInside(dir, file);
  const buffer = await readRegularFile(dir, file);
  const sha256 = createHash('sha256').update(buffer).digest('hex');
  if (expected !== null && expected !== sha256) {
    const where = field === 'export' ? '' : ` (${MANIFEST_FILE}'s ${field}.sha256)`;
    throw new ModelLoadError(`${file} has sha256 ${sha256.slice(0, 12)}…, ${MANIFEST_FILE} says ${expected.slice(0, 12)}… (file replaced or damaged)${where}`);
  }
  return { file, path: path.join(dir, file), bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), sha256 };
}

/**
 * Read a model folder: its manifest and the ONNX files it names (the generator; the critic and
 * refine graph when it has them), each of which must stay inside the folder and match the
 * manifest's sha256. With `name`, the manifest must name that model.
 */
export async function readModelFolder(dir: string, opts: { name?: string } & ReadOptions = {}): Promise<ModelFolder> {
  const { manifest } = await readManifestFile(dir, opts);
  if (opts.name !== undefined && manifest.name !== opts.name) throw new ModelLoadError(`${MANIFEST_FILE} names the model "${manifest.name}" but its folder is "${opts.name}"`);
  // The file names come from disk, not from a request; still keep them inside the folder.
  const generator = await readChecked(dir, manifest.export.file, manifest.export.sha256, 'export', opts);
  const entry = manifest.critic;
  const critic = entry ? await readChecked(dir, entry.file, entry.sha256, 'critic', opts) : null;
  const refine = entry?.refine ? await readChecked(dir, entry.refine.file, entry.refine.sha256, 'critic.refine', opts) : null;
  return { dir, manifest, file: generator.file, bytes: generator.bytes, sha256: generator.sha256, critic, refine };
}
