/**
 * Response encodings: image grids, per-sample images, scatter plots of point models, latent-walk
 * strips and animations (sharp: libvips runs in its own threads, off the event loop), NumPy
 * `.npy` tensors and `.npz` archives for Python clients, and JSON number arrays. Large per-sample encodings and JSON
 * arrays run on a worker thread (./encode-pool.ts).
 *
 * @example
 *   const png = await encodeGrid(data, [28, 28, 1], 16, [-1, 1], { format: 'png', scale: 2 });
 *   const npy = encodeNpy(data, [16, 28, 28, 1]);
 */
import { zipSync, type Zippable } from 'fflate';
import sharp from 'sharp';
import type { CreateRaw, Sharp } from 'sharp';
import { InvalidArgumentError } from '../core/errors.js';
import { gridLayout, tileGrid, toUint8, upscale } from '../core/image.js';
import { scatterPlot, scatterSide, type ScatterOptions } from '../core/plot.js';
import { encodeSmallPng } from './png.js';

export const IMAGE_FORMATS = ['png', 'webp', 'jpeg'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export const ANIMATION_FORMATS = ['gif', 'webp'] as const;
export type AnimationFormat = (typeof ANIMATION_FORMATS)[number];

export const CONTENT_TYPES = Object.freeze({
  png: 'image/png',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  json: 'application/json',
  npy: 'application/octet-stream',
  npz: 'application/zip',
} as const);

/** Pixels between grid tiles (and strip frames). */
const GRID_PADDING = 2;
/** Per-sample PNGs up to this many pixels use the small encoder (./png.ts) instead of sharp. */
const SMALL_PNG_PIXELS = 128 * 128;
/** JPEG/WebP quality: generated samples are small, keep them crisp. */
const QUALITY = 92;

/** Most pixels the images of one response may hold together (a 4096 × 4096 image's worth). */
export const MAX_RESPONSE_PIXELS = 4096 * 4096;
/** Longest side each encoder writes (libvips refuses larger WebP and JPEG images with a 500). */
const MAX_SIDE: Readonly<Record<ImageFormat | AnimationFormat, number>> = { png: MAX_RESPONSE_PIXELS, webp: 16383, jpeg: 65500, gif: 65535 };

/** The images a response will hold: `count` images (or animation frames) of `width × height` px. */
export interface ImagePlan {
  width: number;
  height: number;
  count: number;
  format: ImageFormat | AnimationFormat;
}

/** Size of the grid image {@link encodeGrid} writes for `count` samples of `rowShape` ([h, w, c]). */
export function gridImageSize(rowShape: readonly number[], count: number, scale: number, columns?: number): { width: number; height: number } {
  const grid = gridLayout({ count, height: rowShape[0], width: rowShape[1], columns, padding: GRID_PADDING });
  return { width: grid.width * scale, height: grid.height * scale };
}

/** Why the planned images cannot be encoded (too many pixels, or a side too long for the format), or null. */
export function imageLimitProblem(plan: ImagePlan): string | null {
  const side = MAX_SIDE[plan.format];
  if (Math.max(plan.width, plan.height) > side) return `${plan.format} images have at most ${side} px a side`;
  if (plan.width * plan.height * plan.count > MAX_RESPONSE_PIXELS) return `a response holds at most ${MAX_RESPONSE_PIXELS.toLocaleString('en-US')} px of images`;
  return null;
}

/** A request field that can make images smaller, for error messages. */
export interface SizeField {
  field: string;
  value: unknown;
}

/**
 * Refuses a request whose images would be too large to encode, before any model runs: names
 * `scale` with the largest one that fits; when even scale 1 is too large, names `fewer.side` (e.g.
 * `columns`) if a side is too long for the format, else `fewer.pixels` (e.g. `n`).
 */
export function checkImageSize(where: string, scale: number, plan: (scale: number) => ImagePlan, fewer: { side: SizeField; pixels: SizeField }): void {
  const wanted = plan(scale);
  const problem = imageLimitProblem(wanted);
  if (!problem) return;
  let fits = scale - 1;
  while (fits >= 1 && imageLimitProblem(plan(fits))) fits--;
  const what = (p: ImagePlan) => `${p.count > 1 ? `${p.count} images` : 'an image'} of ${p.width}×${p.height} px`;
  if (fits >= 1) throw new InvalidArgumentError(`${where}.scale`, scale, `at most ${fits} for this request (scale ${scale} gives ${what(wanted)}; ${problem})`);
  const smallest = plan(1);
  const other = Math.max(smallest.width, smallest.height) > MAX_SIDE[smallest.format] ? fewer.side : fewer.pixels;
  throw new InvalidArgumentError(`${where}.${other.field}`, other.value, `a smaller value (this request gives ${what(smallest)} even at scale 1; ${imageLimitProblem(smallest)})`);
}

type Channels = 1 | 2 | 3 | 4;

function checkChannels(c: number): Channels {
  if (c < 1 || c > 4) throw new InvalidArgumentError('output channels', c, '1 to 4');
  return c as Channels;
}

function encoder(img: Sharp, format: ImageFormat | AnimationFormat, animated = false): Sharp {
  switch (format) {
    case 'png':
      return img.png();
    case 'jpeg':
      return img.jpeg({ quality: QUALITY });
    case 'webp':
      return img.webp(animated ? { lossless: true, loop: 0 } : { quality: QUALITY });
    case 'gif':
      return img.gif({ loop: 0 });
  }
}

/** Raw 8-bit pixels → encoded image, upscaled (nearest neighbour) by `scale`. */
async function encodeRaw(pixels: Uint8Array, width: number, height: number, channels: number, format: ImageFormat, scale: number): Promise<Buffer> {
  let img = sharp(pixels, { raw: { width, height, channels: checkChannels(channels) } });
  if (scale > 1) img = img.resize(width * scale, height * scale, { kernel: 'nearest' });
  return encoder(img, format).toBuffer();
}

/** `count` NHWC images tiled in a grid (`columns` default ⌈√count⌉). */
export async function encodeGrid(
  data: Float32Array,
  rowShape: readonly number[],
  count: number,
  range: readonly [number, number],
  opts: { format: ImageFormat; scale: number; columns?: number },
): Promise<Buffer> {
  const [height, width, channels] = rowShape;
  const grid = tileGrid(toUint8(data, range), { count, height, width, channels, columns: opts.columns, padding: GRID_PADDING });
  return encodeRaw(grid.data, grid.width, grid.height, channels, opts.format, opts.scale);
}

/** Each of `count` NHWC images encoded on its own. */
export async function encodeEach(
  data: Float32Array,
  rowShape: readonly number[],
  count: number,
  range: readonly [number, number],
  opts: { format: ImageFormat; scale: number },
): Promise<Buffer[]> {
  const [height, width, channels] = rowShape;
  const pixels = toUint8(data, range);
  const tile = height * width * channels;
  const small = opts.format === 'png' && width * height * opts.scale * opts.scale <= SMALL_PNG_PIXELS;
  return Promise.all(
    Array.from({ length: count }, (_, k) => {
      const one = pixels.subarray(k * tile, (k + 1) * tile);
      if (!small) return encodeRaw(one, width, height, channels, opts.format, opts.scale);
      const img = upscale({ data: one, width, height, channels, columns: 1, rows: 1 }, opts.scale);
      return encodeSmallPng(img.data, img.width, img.height, channels);
    }),
  );
}

/**
 * Scatter plot of 2-D points (the first two coordinates of each row) with axes and the data set's
 * mode centres (src/core/plot.ts, the picture the browser draws too); conditional samples are
 * coloured by class.
 */
export async function encodeScatter(
  data: Float32Array,
  rowSize: number,
  count: number,
  range: readonly [number, number],
  labels: Int32Array | null,
  opts: { format: ImageFormat; scale: number; modes?: ScatterOptions['modes'] },
): Promise<Buffer> {
  const img = scatterPlot(data, rowSize, count, { range, labels, modes: opts.modes ?? null, side: scatterSide(opts.scale) });
  return encodeRaw(img.data, img.width, img.height, 3, opts.format, 1);
}

/** Frames of a latent walk as an animation (GIF or lossless animated WebP), looping forever. */
export async function encodeAnimation(
  data: Float32Array,
  rowShape: readonly number[],
  frames: number,
  range: readonly [number, number],
  opts: { format: AnimationFormat; scale: number; delayMs: number },
): Promise<Buffer> {
  const [height, width, channels] = rowShape;
  const c = checkChannels(channels);
  // Frames stacked vertically = one tall image whose pages are the frames. Upscaled here, not by
  // sharp: resize().raw() of 1-channel input hands out 3 channels (sRGB), which read as 1 channel
  // made grey walks at scale ≥ 2 frames of stripes. Nearest-neighbour scaling of the stack keeps
  // frame boundaries on multiples of height·scale.
  const stack = upscale({ data: toUint8(data, range), width, height: height * frames, channels: c, columns: 1, rows: frames }, opts.scale);
  const h = height * opts.scale;
  const img = sharp(stack.data, { raw: { width: stack.width, height: stack.height, channels: c, pageHeight: h } as CreateRaw });
  const out = opts.format === 'gif' ? img.gif({ loop: 0, delay: Array(frames).fill(opts.delayMs) }) : img.webp({ lossless: true, loop: 0, delay: Array(frames).fill(opts.delayMs) });
  return out.toBuffer();
}

/** `JSON.stringify(Array.from(data))` as ASCII bytes (the `data` of a KServe JSON tensor), in memory of its own (transferable). */
export function numberArrayJson(data: Float32Array): Buffer {
  const text = JSON.stringify(Array.from(data));
  const out = Buffer.allocUnsafeSlow(text.length);
  out.write(text, 'latin1');
  return out;
}

/** NumPy's name of each typed array's element type, little-endian. */
const NPY_DTYPES = { float32: '<f4', uint8: '|u1', int32: '<i4', int64: '<i8' } as const;

type NpyArray = Float32Array | Uint8Array | Int32Array | BigInt64Array;

/**
 * NumPy `.npy` bytes (version 1.0) of a float32, uint8, int32 or int64 array of `shape`, in two
 * parts: the header, then the array's own memory (a view, nothing copied: a server writes both to
 * the socket as they are; x86 and ARM are little-endian, as the header says).
 */
export function npyParts(data: NpyArray, shape: readonly number[]): [header: Buffer, body: Buffer] {
  const descr = data instanceof Float32Array ? NPY_DTYPES.float32 : data instanceof Uint8Array ? NPY_DTYPES.uint8 : data instanceof Int32Array ? NPY_DTYPES.int32 : NPY_DTYPES.int64;
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const head = Buffer.alloc(total);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  head.write(header, 10, 'latin1');
  return [head, Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
}

/** NumPy `.npy` bytes (version 1.0) of a float32, uint8, int32 or int64 array of `shape`, in one buffer. */
export function encodeNpy(data: NpyArray, shape: readonly number[]): Buffer {
  return Buffer.concat(npyParts(data, shape));
}

/** The time stamp of every `.npz` member: the same arrays give the same bytes. */
const NPZ_TIME = new Date(Date.UTC(2000, 0, 1));

/**
 * NumPy `.npz` bytes (what `numpy.savez` writes: a zip of `<name>.npy` members, stored, not
 * deflated): `numpy.load(io.BytesIO(bytes))["images"]`.
 */
export function encodeNpz(arrays: Record<string, { data: Float32Array | Uint8Array | Int32Array | BigInt64Array; shape: readonly number[] }>): Buffer {
  const members: Zippable = {};
  for (const [name, a] of Object.entries(arrays)) members[`${name}.npy`] = [encodeNpy(a.data, a.shape), { level: 0, mtime: NPZ_TIME }];
  const zip = zipSync(members, { level: 0, mtime: NPZ_TIME });
  return Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength);
}
