/**
 * The one reader of a `models/<name>/` folder on disk: `manifest.json` (size-limited, parsed with
 * the core schema) and the ONNX file it names, checked against the manifest's sha256. The
 * server, `wganx eval`, `wganx augment` and the benchmarks read models through it.
 *
 * @example
 *   const { manifest, bytes, sha256 } = await readModelFolder('models/ring');
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

export interface ModelFolder {
  dir: string;
  manifest: Manifest;
  /** The ONNX file's name inside the folder. */
  file: string;
  bytes: Uint8Array;
  /** sha256 (hex) of `bytes`. */
  sha256: string;
}

/**
 * Read a model folder: its manifest and the ONNX file it names (which must stay inside the
 * folder and match the manifest's sha256). With `name`, the manifest must name that model.
 */
export async function readModelFolder(dir: string, opts: { name?: string } & ReadOptions = {}): Promise<ModelFolder> {
  const { manifest } = await readManifestFile(dir, opts);
  if (opts.name !== undefined && manifest.name !== opts.name) throw new ModelLoadError(`${MANIFEST_FILE} names the model "${manifest.name}" but its folder is "${opts.name}"`);
  // The file name comes from disk, not from a request; still keep it inside the folder.
  const file = manifest.export.file;
  if (path.basename(file) !== file) throw new InvalidArgumentError(`${MANIFEST_FILE}.export.file`, file, 'a file name inside the model folder');
  if (opts.confined) await checkInside(dir, file);
  const buffer = await readRegularFile(dir, file);
  const sha256 = createHash('sha256').update(buffer).digest('hex');
  if (manifest.export.sha256 !== null && manifest.export.sha256 !== sha256) {
    throw new ModelLoadError(`${file} has sha256 ${sha256.slice(0, 12)}…, ${MANIFEST_FILE} says ${manifest.export.sha256.slice(0, 12)}… (file replaced or damaged)`);
  }
  return { dir, manifest, file, bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), sha256 };
}
