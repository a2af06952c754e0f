/**
 * `mkdir -p` that fails instead of hanging: Node 20's recursive `mkdir` loops forever, at full
 * CPU, when the file system answers ENOENT for a folder it cannot create (e.g. under `/proc`).
 * These create the missing folders one level at a time and throw the first error (ENOENT,
 * EACCES, EROFS; ENOTDIR when a file is in the way), as `mkdir -p` reports it.
 *
 * @example
 *   await makeFolder('runs/x/checkpoints');   // like mkdir(…, { recursive: true })
 */
import { mkdirSync, statSync, type Stats } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

type ErrnoError = NodeJS.ErrnoException;

function notFolder(file: string): ErrnoError {
  return Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${file}'`), { code: 'ENOTDIR', errno: -20, syscall: 'mkdir', path: file });
}

/** The folders to create, outermost first, after checking the nearest existing one is a folder. */
function missingFolders(dir: string): string[] {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    const st = statOrNull(at);
    if (st) {
      if (!st.isDirectory()) throw notFolder(at);
      break;
    }
    missing.push(at);
    const up = path.dirname(at);
    if (up === at) break;
    at = up;
  }
  return missing.reverse();
}

/** The entry at `p`, or null when there is none. */
function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch (err) {
    // ENOTDIR: a file is on the path above; the walk up finds it and names it.
    if ((err as ErrnoError).code === 'ENOENT' || (err as ErrnoError).code === 'ENOTDIR') return null;
    throw err;
  }
}

export function makeFolderSync(dir: string): void {
  for (const d of missingFolders(dir)) {
    try {
      mkdirSync(d);
    } catch (err) {
      if ((err as ErrnoError).code !== 'EEXIST') throw err;
    }
  }
}

export async function makeFolder(dir: string): Promise<void> {
  // The walk up stats a few folders synchronously; the folders are created asynchronously.
  for (const d of missingFolders(dir)) {
    await mkdir(d).catch((err: ErrnoError) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  // A folder made by another process between the walk and the mkdir is fine; a file is not.
  if (!(await stat(dir)).isDirectory()) throw notFolder(path.resolve(dir));
}
