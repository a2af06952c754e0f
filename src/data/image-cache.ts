/**
 * The on-disk cache of decoded image folders: one file per (files' content, decoding flags) key,
 * so that a second run or a `--resume` reads pixels instead of decoding every image again.
 *
 * File layout (`<key>.rgb`): a uint32 count n, then n bytes (1: decoded, 0: unreadable), then
 * size·size·3 bytes for each decoded image in order. Written atomically; a file of the wrong
 * length is ignored (decoded again).
 *
 * @example
 *   const dir = imageCacheDir();             // $WGANX_CACHE_DIR or ~/.cache/wganx, + /images
 *   const px = await readImageCache(dir, key, files.length, 32);   // null on a miss
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';

/** Where decoded images are cached: `$WGANX_CACHE_DIR`, else `$XDG_CACHE_HOME/wganx`, else `~/.cache/wganx`; `/images` below it. */
export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.WGANX_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'wganx');
  return path.join(root, 'images');
}

function cacheFile(dir: string, key: string): string {
  return path.join(dir, `${key}.rgb`);
}

export async function readImageCache(dir: string, key: string, count: number, size: number): Promise<(Uint8Array | null)[] | null> {
  const buf = await readFile(cacheFile(dir, key)).catch(() => null);
  if (!buf || buf.length < 4 + count || buf.readUInt32LE(0) !== count) return null;
  const flags = buf.subarray(4, 4 + count);
  const stride = size * size * 3;
  const decoded = flags.reduce((n, f) => n + (f ? 1 : 0), 0);
  if (buf.length !== 4 + count + decoded * stride) return null;
  let at = 4 + count;
  return Array.from(flags, (f) => {
    if (!f) return null;
    const px = new Uint8Array(buf.buffer, buf.byteOffset + at, stride);
    at += stride;
    return px;
  });
}

export async function writeImageCache(dir: string, key: string, images: readonly (Uint8Array | null)[], size: number): Promise<void> {
  const stride = size * size * 3;
  const decoded = images.filter((p) => p !== null).length;
  const buf = Buffer.alloc(4 + images.length + decoded * stride);
  buf.writeUInt32LE(images.length, 0);
  let at = 4 + images.length;
  images.forEach((px, i) => {
    if (!px) return;
    buf[4 + i] = 1;
    buf.set(px, at);
    at += stride;
  });
  await writeFileAtomic(cacheFile(dir, key), buf);
}
