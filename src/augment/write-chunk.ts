/**
 * Encoding and writing one chunk of an augmentation data set (runs on a writer thread, see
 * ./writers.ts) with its format's writer (./formats/index.ts). A format of one file per sample
 * writes straight to the final names (a crash leaves at most the files of an unfinished chunk,
 * which a rerun writes again); a chunked format writes its file under a temporary name, then
 * renames it. Every byte is a pure function of the outputs: fixed zip and tar timestamps, the same
 * encoders as the server (src/encode), so the same arguments give the same files.
 *
 * Returns the sha256 of each sample's bytes, as its writer defines them.
 */
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatSpec, type ChunkJob } from './formats/index.js';

export type { ChunkJob } from './formats/index.js';

export type ChunkResult = { id: number; sha256: string[] } | { id: number; error: { message: string; code: string | null; file: string } };

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

/** Which file the error is about, for the message. */
class FileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: NodeJS.ErrnoException,
  ) {
    super(reason.message);
  }
}

export async function writeChunk(job: ChunkJob): Promise<ChunkResult> {
  try {
    const spec = formatSpec(job.format);
    const whole = spec.chunk !== null;
    const put = (file: string, bytes: Uint8Array) => {
      try {
        if (whole) writeWhole(join(job.out, file), bytes);
        else writeFileSync(join(job.out, file), bytes);
      } catch (err) {
        throw new FileError(file, err as NodeJS.ErrnoException);
      }
    };
    const writer = await spec.load();
    return { id: job.id, sha256: await writer.write(job, put) };
  } catch (err) {
    const file = err instanceof FileError ? err.file : job.files[0];
    const cause = err instanceof FileError ? err.reason : (err as NodeJS.ErrnoException);
    return { id: job.id, error: { message: cause.message, code: cause.code ?? null, file } };
  }
}
