/**
 * A folder of PNG/JPEG images as a training set: decoded and resized with sharp, grey or RGB,
 * values in [-1, 1]. With `conditional`, each immediate sub-folder is one class (labels sorted by
 * name); without it, every image under the folder is used and there are no labels.
 *
 * @example
 *   const ds = await loadImageFolder('data/faces', { size: 32, channels: 'auto', conditional: false });
 *   ds.shape // [32, 32, 3]
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError } from '../core/errors.js';
import { fromUint8 } from '../core/image.js';
import { InMemoryDataset, type Dataset } from './dataset.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

export interface ImageFolderOptions {
  /** Images are resized (cover + centre crop) to size × size. */
  size: number;
  /** 1 (grey), 3 (RGB) or auto: 1 when every image is grey (R = G = B, however it is stored), else 3. */
  channels: 'auto' | 1 | 3;
  conditional: boolean;
}

function isImage(name: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(name).toLowerCase());
}

async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listImages(p)));
    else if (entry.isFile() && isImage(entry.name)) out.push(p);
  }
  return out;
}

/** Largest difference between R, G and B for a pixel to count as grey (JPEG chroma noise). */
const GREY_TOLERANCE = 3;

/** Decode, resize (cover + centre crop) and return size×size RGB pixels. */
async function decodeRgb(file: string, size: number): Promise<Uint8Array> {
  try {
    const { data, info } = await sharp(file).resize(size, size, { fit: 'cover' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels, expected 3`);
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (err) {
    throw new InvalidArgumentError('--dataset', file, `a readable PNG or JPEG image (${(err as Error).message})`);
  }
}

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

export async function loadImageFolder(dir: string, opts: ImageFolderOptions): Promise<Dataset> {
  let files: string[];
  let classOf: number[] | null = null;
  let labels: string[] | null = null;
  if (opts.conditional) {
    const subdirs = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    if (subdirs.length < 2) throw new InvalidArgumentError('--dataset', dir, 'for --conditional, a folder with one sub-folder of images per class (at least 2)');
    files = [];
    classOf = [];
    labels = [];
    for (const sub of subdirs) {
      const imgs = await listImages(path.join(dir, sub));
      if (imgs.length === 0) continue;
      labels.push(sub);
      files.push(...imgs);
      classOf.push(...imgs.map(() => labels!.length - 1));
    }
    if (labels.length < 2) throw new InvalidArgumentError('--dataset', dir, 'for --conditional, at least 2 sub-folders holding images');
  } else {
    files = await listImages(dir);
  }
  if (files.length === 0) throw new InvalidArgumentError('--dataset', dir, `a folder holding ${IMAGE_EXTENSIONS.join('/')} images`);
  const rgb: Uint8Array[] = [];
  for (const f of files) rgb.push(await decodeRgb(f, opts.size));
  const channels = opts.channels === 'auto' ? (rgb.every(isGrey) ? 1 : 3) : opts.channels;
  const stride = opts.size * opts.size * channels;
  const data = new Float32Array(files.length * stride);
  rgb.forEach((px, i) => data.set(fromUint8(channels === 1 ? toGrey(px) : px, [-1, 1]), i * stride));
  const what = labels ? `${labels.length} classes (${labels.join(', ')})` : 'unlabelled';
  return new InMemoryDataset(
    dir,
    [opts.size, opts.size, channels],
    data,
    classOf ? Int32Array.from(classOf) : null,
    labels,
    `image folder ${dir}: ${files.length} images, ${opts.size}×${opts.size}×${channels}, ${what}`,
  );
}
