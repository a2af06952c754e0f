/**
 * Encoding and writing one chunk of an augmentation data set (runs on a writer thread, see
 * ./writers.ts): image files straight to their final names (a crash leaves at most the files of an
 * unfinished chunk, which a rerun writes again), npz/tar/csv chunk files under a temporary name,
 * then renamed. Every byte is a pure function of the outputs: fixed zip and tar timestamps, the
 * same encoders as the server (src/encode), so the same arguments give the same files.
 *
 * Returns the sha256 of each sample's bytes: its image file; its PNG member (tar); its raw uint8
 * pixels or float32 coordinates (npz, csv).
 */
import { createHash } from 'node:crypto';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { pack } from 'tar-stream';
import { toUint8, upscale } from '../core/image.js';
import { encodeEach, encodeNpy, type ImageFormat } from '../encode/encode.js';
import type { AugmentFormat } from './flags.js';

export interface ChunkJob {
  id: number;
  /** The data set folder (absolute). */
  out: string;
  format: AugmentFormat;
  /** Per sample: its file (image formats) or its chunk's file, relative to `out`. */
  files: string[];
  /** Per sample: its WebDataset key (tar). */
  keys: string[];
  /** Row-major generator outputs, `count × rowSize`. */
  data: Float32Array;
  rowShape: number[];
  range: [number, number];
  scale: number;
  /** Per sample: class index, or null (unconditional). */
  labels: (number | null)[];
  /** Per sample: latent index. */
  indices: number[];
  seed: number;
}

export type ChunkResult = { id: number; sha256: string[] } | { id: number; error: { message: string; code: string | null; file: string } };

/** The timestamp of every zip and tar entry: fixed, so that archives are byte-identical run to run. */
const ARCHIVE_TIME = new Date(Date.UTC(2000, 0, 1));

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Write `bytes` to `file` through a temporary name in the same folder, so the file is whole or
 * absent. The name is fixed (no pid): a run killed mid-write leaves `<file>.tmp`, which the rerun
 * that writes this chunk again overwrites and renames.
 */
function writeWhole(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw err;
  }
}

/** Images as uint8 NHWC, upscaled by `scale`. */
function pixels(job: ChunkJob): { data: Uint8Array; shape: number[] } {
  const [h, w, c] = job.rowShape;
  const count = job.indices.length;
  const raw = toUint8(job.data, job.range);
  if (job.scale === 1) return { data: raw, shape: [count, h, w, c] };
  const tile = h * w * c;
  const big = new Uint8Array(count * tile * job.scale * job.scale);
  for (let k = 0; k < count; k++) {
    const img = upscale({ data: raw.subarray(k * tile, (k + 1) * tile), width: w, height: h, channels: c, columns: 1, rows: 1 }, job.scale);
    big.set(img.data, k * img.data.length);
  }
  return { data: big, shape: [count, h * job.scale, w * job.scale, c] };
}

function int64(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

async function tarBytes(members: { name: string; bytes: Uint8Array }[]): Promise<Uint8Array> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const m of members) p.entry({ name: m.name, size: m.bytes.length, mtime: ARCHIVE_TIME, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '' }, Buffer.from(m.bytes));
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** Which file the error is about, for the message. */
class FileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: NodeJS.ErrnoException,
  ) {
    super(reason.message);
  }
}

function write(job: ChunkJob, file: string, bytes: Uint8Array, whole: boolean): void {
  try {
    if (whole) writeWhole(join(job.out, file), bytes);
    else writeFileSync(join(job.out, file), bytes);
  } catch (err) {
    throw new FileError(file, err as NodeJS.ErrnoException);
  }
}

export async function writeChunk(job: ChunkJob): Promise<ChunkResult> {
  try {
    return { id: job.id, sha256: await writeFiles(job) };
  } catch (err) {
    const file = err instanceof FileError ? err.file : job.files[0];
    const cause = err instanceof FileError ? err.reason : (err as NodeJS.ErrnoException);
    return { id: job.id, error: { message: cause.message, code: cause.code ?? null, file } };
  }
}

async function writeFiles(job: ChunkJob): Promise<string[]> {
  const count = job.indices.length;
  const { format } = job;
  if (format === 'png' || format === 'webp' || format === 'jpeg') {
    const images = await encodeEach(job.data, job.rowShape, count, job.range, { format: format as ImageFormat, scale: job.scale });
    images.forEach((bytes, k) => write(job, job.files[k], bytes, false));
    return images.map(sha256);
  }
  if (format === 'tar') {
    const images = await encodeEach(job.data, job.rowShape, count, job.range, { format: 'png', scale: job.scale });
    const members = images.flatMap((bytes, k) => {
      const label = job.labels[k];
      const png = { name: `${job.keys[k]}.png`, bytes };
      return label === null ? [png] : [png, { name: `${job.keys[k]}.cls`, bytes: Buffer.from(String(label)) }];
    });
    write(job, job.files[0], await tarBytes(members), true);
    return images.map(sha256);
  }
  const labels = job.labels.every((l) => l !== null) ? (job.labels as number[]) : null;
  if (format === 'npz') {
    const entries: Record<string, Uint8Array> = {};
    let perSample: (k: number) => Uint8Array;
    if (job.rowShape.length === 3) {
      const { data, shape } = pixels(job);
      const tile = data.length / count;
      entries['images.npy'] = encodeNpy(data, shape);
      perSample = (k) => data.subarray(k * tile, (k + 1) * tile);
    } else {
      const width = job.data.length / count;
      entries['points.npy'] = encodeNpy(job.data, [count, width]);
      perSample = (k) => new Uint8Array(job.data.buffer, job.data.byteOffset + k * width * 4, width * 4);
    }
    if (labels) entries['labels.npy'] = encodeNpy(int64(labels), [count]);
    entries['indices.npy'] = encodeNpy(int64(job.indices), [count]);
    write(job, job.files[0], zipSync(Object.fromEntries(Object.entries(entries).map(([name, bytes]) => [name, [bytes, { level: 0, mtime: ARCHIVE_TIME }]])), { level: 0, mtime: ARCHIVE_TIME }), true);
    return Array.from({ length: count }, (_, k) => sha256(perSample(k)));
  }
  // csv (points): one row per sample, the coordinates at float32 precision.
  const width = job.data.length / count;
  const coords = width === 2 ? ['x', 'y'] : Array.from({ length: width }, (_, d) => `x${d}`);
  const rows = [[...coords, ...(labels ? ['label'] : []), 'seed', 'index'].join(',')];
  const hashes: string[] = [];
  for (let k = 0; k < count; k++) {
    const point = job.data.subarray(k * width, (k + 1) * width);
    hashes.push(sha256(new Uint8Array(point.buffer, point.byteOffset, point.byteLength)));
    rows.push([...Array.from(point, String), ...(labels ? [String(labels[k])] : []), String(job.seed), String(job.indices[k])].join(','));
  }
  write(job, job.files[0], Buffer.from(`${rows.join('\n')}\n`), true);
  return hashes;
}
