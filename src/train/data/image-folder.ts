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
import { InvalidArgumentError } from '../../core/errors.js';
import { fromUint8 } from '../../core/image.js';
import { InMemoryDataset, type Dataset } from './dataset.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

export interface ImageFolderOptions {
  /** Images are resized (cover + centre crop) to size × size. */
  size: number;
  /** 1 (grey), 3 (RGB) or auto: 1 when every image is grey, else 3. */
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

async function decode(file: string, size: number, channels: 1 | 3): Promise<Uint8Array> {
  try {
    let img = sharp(file).resize(size, size, { fit: 'cover' }).removeAlpha();
    img = channels === 1 ? img.greyscale() : img.toColourspace('srgb');
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`decoded ${info.channels} channels, expected ${channels}`);
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (err) {
    throw new InvalidArgumentError('--dataset', file, `a readable PNG or JPEG image (${(err as Error).message})`);
  }
}

/** Whether every image is grey (one channel, or a palette/RGB image with equal channels is not checked). */
async function allGrey(files: readonly string[]): Promise<boolean> {
  for (const f of files) {
    const meta = await sharp(f).metadata();
    if ((meta.channels ?? 3) > 2) return false;
  }
  return true;
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
  const channels = opts.channels === 'auto' ? ((await allGrey(files)) ? 1 : 3) : opts.channels;
  const stride = opts.size * opts.size * channels;
  const data = new Float32Array(files.length * stride);
  for (let i = 0; i < files.length; i++) data.set(fromUint8(await decode(files[i], opts.size, channels), [-1, 1]), i * stride);
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
