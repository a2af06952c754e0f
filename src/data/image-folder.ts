/**
 * A folder of PNG / JPEG / WebP images as a training set and a held-out set: decoded with sharp
 * (grey, RGB or RGBA; transparency composited onto a background colour), resized to size × size
 * (`cover`: scale to cover, centre crop; `pad`: scale to fit, pad with the background), grey or
 * RGB, stored as uint8 and handed out in [-1, 1].
 *
 * Classes (`conditional`): each immediate sub-folder of the training root is one class (sorted by
 * name). Held-out split, never seen by training and used by `wganx eval --data`:
 * - `holdoutDir`, or a `holdout/` sub-folder: those images (with class sub-folders of the same
 *   names); the training root is then `train/` when there is one, else the folder minus `holdout/`;
 * - else a fraction chosen by each file's content hash (sha256 < fraction · 2³²): the same files
 *   on every run, whatever else the folder holds.
 * Files that are not images, images that do not decode, and (with `conditional`) files beside the
 * class folders are skipped and reported on one line
 * (`strict`: refused). Decoded pixels are cached on disk (./image-cache.ts), keyed by the files'
 * content and the decoding flags.
 *
 * @example
 *   const { train, holdout } = await openImageFolder('data/emoji', { size: 32, channels: 'auto', conditional: true });
 *   train.shape // [32, 32, 3]
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { createProgress } from '../io/progress.js';
import { describeHoldout, InMemoryDataset, type Dataset, type HoldoutInfo } from './dataset.js';
import { imageCacheDir, readImageCache, writeImageCache } from './image-cache.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'] as const;
/** How messages name the readable kinds. */
export const IMAGE_KINDS = 'PNG, JPEG or WebP';
export const RESIZE_MODES = ['cover', 'pad'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];
/** Default fraction of a folder held out (by content hash) when it has no holdout folder. */
export const DEFAULT_HOLDOUT = 0.1;
export const HOLDOUT_FOLDER = 'holdout';
export const TRAIN_FOLDER = 'train';
/** Held-out images a model's quality measurement needs (src/eval: a Fréchet distance needs two). */
export const EVAL_MIN_HELDOUT = 2;

/** Too few held out to measure a model: "1 image held out by content hash (--holdout 0.1); …", or null when enough are. */
export function tooFewHeldOut(h: HoldoutInfo): string | null {
  if (h.count >= EVAL_MIN_HELDOUT) return null;
  const fix = h.source === 'folder' ? `add images to ${h.folder}` : 'train with a larger --holdout, or add a holdout/ folder';
  return `${describeHoldout(h)}; measuring a model needs at least ${EVAL_MIN_HELDOUT} (${fix})`;
}
/** Names of skipped files shown on the skip line. */
const SKIPPED_SHOWN = 3;

export interface ImageFolderOptions {
  /** Images are resized to size × size. */
  size: number;
  /** 1 (grey), 3 (RGB) or auto: 1 when every image is grey (R = G = B, however it is stored), else 3. */
  channels: 'auto' | 1 | 3;
  conditional: boolean;
  /** `cover` (default): scale to cover and centre-crop; `pad`: scale to fit and pad with the background. */
  resize?: ResizeMode;
  /** Colour that transparency is composited onto and padding is filled with (default white). */
  background?: string;
  /** Fraction held out by content hash when there is no holdout folder (default 0.1; 0: none). */
  holdout?: number;
  /** An explicit held-out folder (default: `<dir>/holdout` when it exists). */
  holdoutDir?: string | null;
  /** Refuse (instead of skipping) files that are not images or do not decode. */
  strict?: boolean;
  /** Where decoded pixels are cached (default: ./image-cache.ts `imageCacheDir()`; null: no cache). */
  cacheDir?: string | null;
  /** Status lines (skipped files, cache use); default: none. */
  log?: (line: string) => void;
  /** Show decoding progress (default true). */
  progress?: boolean;
  /** The flag that named the folder, for messages (default `--dataset`; `wganx eval` says `--data`). */
  flag?: string;
}

export interface ImageFolder {
  train: InMemoryDataset;
  /** The held-out images, or null when nothing is held out. */
  holdout: InMemoryDataset | null;
  split: HoldoutInfo;
  /** Files skipped (not images, not decodable, or beside the class folders with --conditional), relative to the folder. */
  skipped: string[];
  /** sha256 of the files' content, their split and the decoding flags: what anything derived from the data (the eval classifier) is keyed by. */
  key: string;
}

/** sRGB colour from a name or `#rgb` / `#rrggbb`. */
export function parseBackground(value: string): { r: number; g: number; b: number } {
  const named: Record<string, string> = { white: '#ffffff', black: '#000000', grey: '#808080', gray: '#808080' };
  const hex = (named[value.toLowerCase()] ?? value).replace(/^#/, '');
  const full = /^[0-9a-f]{3}$/i.test(hex) ? [...hex].map((h) => h + h).join('') : hex;
  if (!/^[0-9a-f]{6}$/i.test(full)) throw new InvalidArgumentError('--background', value, 'white, black, grey or a colour #rgb / #rrggbb');
  const n = parseInt(full, 16);
  return { r: n >> 16, g: (n >> 8) & 255, b: n & 255 };
}

interface Listing {
  images: string[];
  others: string[];
}

async function listFiles(dir: string, exclude: ReadonlySet<string> = new Set()): Promise<Listing> {
  const out: Listing = { images: [], others: [] };
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.') || exclude.has(entry.name)) continue; // .DS_Store, editors' files, caches
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = await listFiles(p);
      out.images.push(...sub.images);
      out.others.push(...sub.others);
    } else if (entry.isFile()) {
      ((IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(entry.name).toLowerCase()) ? out.images : out.others).push(p);
    }
  }
  return out;
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

/** Largest difference between R, G and B for a pixel to count as grey (JPEG chroma noise). */
const GREY_TOLERANCE = 3;

function isGrey(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i];
    if (Math.abs(r - rgb[i + 1]) > GREY_TOLERANCE || Math.abs(r - rgb[i + 2]) > GREY_TOLERANCE) return false;
  }
  return true;
}

/** ITU-R BT.601 luma, the grey level sharp's greyscale() uses. */
function toGrey(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2]);
  return out;
}

interface Decoding {
  size: number;
  resize: ResizeMode;
  background: { r: number; g: number; b: number };
}

/** size×size RGB of one encoded image, transparency composited onto the background; null if it does not decode. */
async function decodeRgb(bytes: Buffer, d: Decoding): Promise<Uint8Array | null> {
  const { default: sharp } = await import('sharp'); // loaded on first use: reading the flag table stays light
  try {
    const { data, info } = await sharp(bytes)
      .flatten({ background: d.background })
      .resize(d.size, d.size, { fit: d.resize === 'pad' ? 'contain' : 'cover', position: 'centre', background: d.background })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== d.size * d.size * 3) return null;
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch {
    return null;
  }
}

interface FileEntry {
  /** Path relative to the opened folder (for messages). */
  rel: string;
  abs: string;
  /** Class index (conditional) or 0. */
  cls: number;
  heldOut: boolean;
}

/** Class sub-folders of `root` (conditional), each with its images. */
async function classFolders(root: string, flag: string, exclude: ReadonlySet<string>): Promise<string[]> {
  const subdirs = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.') && !exclude.has(e.name)).map((e) => e.name).sort();
  if (subdirs.length < 2) throw new InvalidArgumentError(flag, root, 'for --conditional, a folder with one sub-folder of images per class (at least 2)');
  return subdirs;
}

/** Run `fn` over `items` with at most `limit` in flight, keeping the order of results. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Is a file of content hash `digest` held out at `fraction`? The first 32 bits as a uniform draw. */
export function heldOutByHash(digest: Buffer, fraction: number): boolean {
  return digest.readUInt32BE(0) < fraction * 2 ** 32;
}

export async function openImageFolder(dir: string, opts: ImageFolderOptions): Promise<ImageFolder> {
  const log = opts.log ?? (() => {});
  const flag = opts.flag ?? '--dataset';
  const decoding: Decoding = { size: opts.size, resize: opts.resize ?? 'cover', background: parseBackground(opts.background ?? 'white') };
  const fraction = opts.holdout ?? DEFAULT_HOLDOUT;
  if (!(fraction >= 0 && fraction < 1)) throw new InvalidArgumentError('--holdout', fraction, 'a fraction in [0, 1)');
  if (!(await isDir(dir))) throw new InvalidArgumentError(flag, dir, `an existing folder of ${IMAGE_KINDS} images`);

  // Where training and held-out images come from.
  let trainRoot = dir;
  let holdoutRoot: string | null = opts.holdoutDir ?? null;
  const exclude = new Set<string>();
  if (holdoutRoot !== null) {
    if (!(await isDir(holdoutRoot))) throw new InvalidArgumentError('--holdout-dir', holdoutRoot, 'an existing folder of held-out images');
  } else if (await isDir(path.join(dir, HOLDOUT_FOLDER))) {
    holdoutRoot = path.join(dir, HOLDOUT_FOLDER);
    if (await isDir(path.join(dir, TRAIN_FOLDER))) trainRoot = path.join(dir, TRAIN_FOLDER);
    else exclude.add(HOLDOUT_FOLDER);
  }

  const entries: FileEntry[] = [];
  const others: string[] = [];
  let labels: string[] | null = null;
  const rel = (p: string) => path.relative(dir, p) || p;
  /** Files beside the class folders (--conditional): no class, so not read. */
  const outside: string[] = [];
  const looseFiles = async (root: string) =>
    (await readdir(root, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => rel(path.join(root, e.name))).sort();
  const add = (listing: Listing, cls: number, heldOut: boolean) => {
    for (const abs of listing.images) entries.push({ rel: rel(abs), abs, cls, heldOut });
    others.push(...listing.others.map(rel));
  };
  if (opts.conditional) {
    labels = await classFolders(trainRoot, flag, exclude);
    outside.push(...(await looseFiles(trainRoot)));
    for (const [k, name] of labels.entries()) {
      const listing = await listFiles(path.join(trainRoot, name));
      if (listing.images.length === 0) throw new InvalidArgumentError(flag, path.join(trainRoot, name), `a class folder holding ${IMAGE_KINDS} images (it holds none)`);
      add(listing, k, false);
    }
    if (holdoutRoot !== null) {
      outside.push(...(await looseFiles(holdoutRoot)));
      for (const name of (await readdir(holdoutRoot, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name)) {
        const k = labels.indexOf(name);
        if (k < 0) throw new InvalidArgumentError('--holdout-dir', path.join(holdoutRoot, name), `a held-out class folder named like a training class: ${labels.join(', ')}`);
        add(await listFiles(path.join(holdoutRoot, name)), k, true);
      }
    }
  } else {
    add(await listFiles(trainRoot, exclude), 0, false);
    if (holdoutRoot !== null) add(await listFiles(holdoutRoot), 0, true);
  }
  if (!entries.some((e) => !e.heldOut)) throw new InvalidArgumentError(flag, trainRoot, `a folder holding ${IMAGE_KINDS} images`);
  if (opts.strict && others.length > 0) throw new InvalidArgumentError(flag, others[0], `only ${IMAGE_KINDS} images with --strict (${others.length} other file${others.length === 1 ? '' : 's'})`);
  if (opts.strict && outside.length > 0) throw new InvalidArgumentError(flag, outside[0], `files inside the class folders only with --strict and --conditional (${outside.length} beside them)`);

  // Content hashes: the split (without a holdout folder) and the cache key.
  const bytes = await mapLimited(entries, 16, (e) => readFile(e.abs));
  const digests = bytes.map((b) => createHash('sha256').update(b).digest());
  if (holdoutRoot === null && fraction > 0) entries.forEach((e, i) => (e.heldOut = heldOutByHash(digests[i], fraction)));

  const key = createHash('sha256')
    .update(JSON.stringify({ v: 1, size: decoding.size, resize: decoding.resize, background: decoding.background }))
    .update(Buffer.concat(digests))
    .digest('hex');
  const cacheDir = opts.cacheDir === undefined ? imageCacheDir() : opts.cacheDir;
  let rgb: (Uint8Array | null)[] | null = cacheDir ? await readImageCache(cacheDir, key, entries.length, decoding.size) : null;
  if (rgb) {
    log(`data: ${entries.length} decoded images from the cache (${cacheDir})`);
  } else {
    const progress = opts.progress === false ? null : createProgress({ label: 'decode', unit: 'images', total: entries.length });
    let done = 0;
    rgb = await mapLimited(bytes, Math.max(2, availableParallelism()), async (b) => {
      const px = await decodeRgb(b, decoding);
      progress?.update(++done);
      return px;
    });
    progress?.stop();
    if (cacheDir) await writeImageCache(cacheDir, key, rgb, decoding.size).catch((err: Error) => log(`data: could not write the decoded images to the cache ${cacheDir} (${err.message})`));
  }

  const unreadable = entries.filter((_, i) => rgb![i] === null).map((e) => e.rel);
  if (opts.strict && unreadable.length > 0) throw new InvalidArgumentError(flag, unreadable[0], `a readable ${IMAGE_KINDS} image (--strict)`);
  const skipped = [...others, ...outside, ...unreadable];
  if (skipped.length > 0) {
    const shown = skipped.slice(0, SKIPPED_SHOWN).join(', ');
    const beside = outside.length > 0 ? `, ${outside.length} beside the class folders` : '';
    log(`data: skipped ${skipped.length} file${skipped.length === 1 ? '' : 's'} (${others.length} not ${IMAGE_KINDS}${beside}, ${unreadable.length} unreadable): ${shown}${skipped.length > SKIPPED_SHOWN ? ', …' : ''} (--strict refuses them)`);
  }
  const kept = entries.map((e, i) => ({ e, px: rgb![i] })).filter((k): k is { e: FileEntry; px: Uint8Array } => k.px !== null);
  if (labels) {
    const empty = labels.filter((_, k) => !kept.some((x) => x.e.cls === k && !x.e.heldOut));
    if (empty.length > 0) throw new InvalidArgumentError(flag, path.join(trainRoot, empty[0]), 'a class folder with at least one readable training image');
  }
  if (!kept.some((k) => !k.e.heldOut)) throw new InvalidArgumentError(flag, trainRoot, 'a folder with at least one readable training image');

  const channels = opts.channels === 'auto' ? (kept.every((k) => isGrey(k.px)) ? 1 : 3) : opts.channels;
  const split: HoldoutInfo = holdoutRoot !== null
    ? { source: 'folder', folder: holdoutRoot, count: kept.filter((k) => k.e.heldOut).length }
    : { source: 'hash', fraction, count: kept.filter((k) => k.e.heldOut).length };
  const build = (heldOut: boolean): InMemoryDataset | null => {
    const part = kept.filter((k) => k.e.heldOut === heldOut);
    if (part.length === 0) return null;
    const stride = opts.size * opts.size * channels;
    const pixels = new Uint8Array(part.length * stride);
    part.forEach((k, i) => pixels.set(channels === 1 ? toGrey(k.px) : k.px, i * stride));
    const what = labels ? `${labels.length} classes (${labels.join(', ')})` : 'unlabelled';
    const splitText = heldOut ? 'held-out split' : `training split; ${split.count} held out ${split.source === 'folder' ? `in ${split.folder}` : `by content hash (${fraction})`}`;
    return new InMemoryDataset(
      dir,
      [opts.size, opts.size, channels],
      pixels,
      labels ? Int32Array.from(part, (k) => k.e.cls) : null,
      labels,
      `image folder ${dir}, ${splitText}: ${part.length} images, ${opts.size}×${opts.size}×${channels} (${decoding.resize}), ${what}`,
      split,
    );
  };
  const splitKey = createHash('sha256').update(key).update(JSON.stringify({ channels, labels, heldOut: kept.map((k) => (k.e.heldOut ? 1 : 0)).join(''), cls: kept.map((k) => k.e.cls) })).digest('hex');
  return { train: build(false)!, holdout: build(true), split, skipped, key: splitKey };
}

/** The training split of an image folder. */
export async function loadImageFolder(dir: string, opts: ImageFolderOptions): Promise<Dataset> {
  return (await openImageFolder(dir, opts)).train;
}
