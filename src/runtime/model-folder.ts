/**
 * The one reader of a `models/<name>/` folder on disk: `manifest.json` (size-limited, parsed with
 * the core schema) and the ONNX file it names, checked against the manifest's sha256. The
 * server, `wganx eval`, `wganx augment` and the benchmarks read models through it.
 *
 * @example
 *   const { manifest, bytes, sha256 } = await readModelFolder('models/ring');
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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

/** Read and validate `<dir>/manifest.json`. */
export async function readManifestFile(dir: string): Promise<ManifestFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dir, MANIFEST_FILE));
  } catch (err) {
    throw new ModelLoadError(`cannot read ${MANIFEST_FILE}: ${reason(err)}`);
  }
  if (bytes.length > MAX_MANIFEST_BYTES) throw new ModelLoadError(`${MANIFEST_FILE} is ${bytes.length} bytes; at most ${MAX_MANIFEST_BYTES} allowed`);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ModelLoadError(`${MANIFEST_FILE} is not valid JSON: ${reason(err)}`);
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
export async function readModelFolder(dir: string, opts: { name?: string } = {}): Promise<ModelFolder> {
  const { manifest } = await readManifestFile(dir);
  if (opts.name !== undefined && manifest.name !== opts.name) throw new ModelLoadError(`${MANIFEST_FILE} names the model "${manifest.name}" but its folder is "${opts.name}"`);
  // The file name comes from disk, not from a request; still keep it inside the folder.
  const file = manifest.export.file;
  if (path.basename(file) !== file) throw new InvalidArgumentError(`${MANIFEST_FILE}.export.file`, file, 'a file name inside the model folder');
  let buffer: Buffer;
  try {
    buffer = await readFile(path.join(dir, file));
  } catch (err) {
    throw new ModelLoadError(`cannot read ${file}: ${reason(err)}`);
  }
  const sha256 = createHash('sha256').update(buffer).digest('hex');
  if (manifest.export.sha256 !== null && manifest.export.sha256 !== sha256) {
    throw new ModelLoadError(`${file} has sha256 ${sha256.slice(0, 12)}…, ${MANIFEST_FILE} says ${manifest.export.sha256.slice(0, 12)}… (file replaced or damaged)`);
  }
  return { dir, manifest, file, bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), sha256 };
}
