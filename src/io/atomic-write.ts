/**
 * Atomic file writes: write to a temporary name in the same folder, then rename over the target,
 * so that a reader (or a crash) never sees a half-written file.
 *
 * @example
 *   await writeFileAtomic('models/ring/manifest.json', JSON.stringify(manifest, null, 2));
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { makeFolder } from './make-folder.js';
import { dirname, basename, join } from 'node:path';

/** A temporary path beside `target` (same folder, so rename is atomic). */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await makeFolder(dirname(target));
  const tmp = tempPathFor(target);
  try {
    await writeFile(tmp, data);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
