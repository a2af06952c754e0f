/**
 * Tensor ⇄ image conversion, independent of any image library.
 *
 * Generators output NHWC float32 values in a known range (usually [-1, 1] from tanh). These helpers
 * turn them into 8-bit pixels and tile several samples into one grid, so that the server, the
 * trainer's sample grids and the browser page all draw samples the same way. Encoding to PNG/WebP
 * happens elsewhere (sharp in Node, canvas in browsers).
 *
 * @example
 *   const pixels = toUint8(outputs, [-1, 1]);             // Uint8Array, same length
 *   const grid = tileGrid(pixels, { count: 64, height: 28, width: 28, channels: 1 });
 *   // grid.data is (8·28+7·pad) × (8·28+7·pad) grey pixels, grid.columns === 8
 */
import { InvalidArgumentError } from './errors.js';

/** Map floats in `range` linearly to 0…255, rounding and clamping (NaN → 0). */
export function toUint8(values: ArrayLike<number>, range: readonly [number, number] = [-1, 1]): Uint8Array {
  const [lo, hi] = range;
  if (!(hi > lo)) throw new InvalidArgumentError('range', range, '[low, high] with high > low');
  const scale = 255 / (hi - lo);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Math.round((values[i] - lo) * scale);
    out[i] = v > 255 ? 255 : v > 0 ? v : 0;
  }
  return out;
}

/** Inverse of {@link toUint8}: 0…255 back to floats in `range`. */
export function fromUint8(pixels: ArrayLike<number>, range: readonly [number, number] = [-1, 1]): Float32Array {
  const [lo, hi] = range;
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = lo + (pixels[i] / 255) * (hi - lo);
  return out;
}

export interface GridOptions {
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Columns; default ⌈√count⌉. */
  columns?: number;
  /** Pixels between tiles. */
  padding?: number;
  /** Value of the padding pixels. */
  background?: number;
}

export interface RasterImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
  columns: number;
  rows: number;
}

/**
 * Columns, rows and pixel size of the grid {@link tileGrid} draws, without drawing it (servers
 * check a grid's size before they compute its samples).
 */
export function gridLayout(opts: Omit<GridOptions, 'channels' | 'background'>): { columns: number; rows: number; width: number; height: number } {
  const { count, height, width } = opts;
  const columns = Math.max(1, Math.min(count, opts.columns ?? Math.ceil(Math.sqrt(count))));
  const rows = Math.max(1, Math.ceil(count / columns));
  const pad = opts.padding ?? 2;
  return { columns, rows, width: columns * width + (columns - 1) * pad, height: rows * height + (rows - 1) * pad };
}

/** Tile `count` HWC images (concatenated in `pixels`) into one image, row by row. */
export function tileGrid(pixels: Uint8Array, opts: GridOptions): RasterImage {
  const { count, height, width, channels } = opts;
  const tile = height * width * channels;
  if (pixels.length !== count * tile) {
    throw new InvalidArgumentError('pixels.length', pixels.length, `count·height·width·channels = ${count * tile}`);
  }
  const { columns, rows, width: outW, height: outH } = gridLayout(opts);
  const pad = opts.padding ?? 2;
  const data = new Uint8Array(outW * outH * channels).fill(opts.background ?? 0);
  for (let k = 0; k < count; k++) {
    const x0 = (k % columns) * (width + pad);
    const y0 = Math.floor(k / columns) * (height + pad);
    for (let y = 0; y < height; y++) {
      const src = k * tile + y * width * channels;
      const dst = ((y0 + y) * outW + x0) * channels;
      data.set(pixels.subarray(src, src + width * channels), dst);
    }
  }
  return { data, width: outW, height: outH, channels, columns, rows };
}

/** Nearest-neighbour upscale by an integer factor (for tiny 28×28 digits in a browser or a PNG). */
export function upscale(img: RasterImage, factor: number): RasterImage {
  if (!Number.isInteger(factor) || factor < 1 || factor > 16) throw new InvalidArgumentError('scale', factor, 'an integer from 1 to 16');
  if (factor === 1) return img;
  const { width, height, channels } = img;
  const w = width * factor;
  const h = height * factor;
  const data = new Uint8Array(w * h * channels);
  const row = w * channels;
  for (let sy = 0; sy < height; sy++) {
    // Widen source row sy once, then copy it to the other factor − 1 output rows.
    const first = sy * factor * row;
    for (let x = 0; x < width; x++) {
      const s = (sy * width + x) * channels;
      for (let k = 0; k < factor; k++) {
        const d = first + (x * factor + k) * channels;
        for (let c = 0; c < channels; c++) data[d + c] = img.data[s + c];
      }
    }
    for (let k = 1; k < factor; k++) data.copyWithin(first + k * row, first, first + row);
  }
  return { ...img, data, width: w, height: h };
}

/** Generator outputs (`count` NHWC images in `range`) as the grid the server's PNGs show: 8-bit, 2-pixel padding, upscaled. */
export function gridImage(data: ArrayLike<number>, rowShape: readonly number[], count: number, range: readonly [number, number], opts: { columns?: number; scale?: number } = {}): RasterImage {
  const [height, width, channels] = rowShape;
  return upscale(tileGrid(toUint8(data, range), { count, height, width, channels, columns: opts.columns }), opts.scale ?? 1);
}

/** Grey, grey+alpha, RGB or RGBA pixels → RGBA (for a canvas's ImageData). */
export function toRgba(img: Pick<RasterImage, 'data' | 'width' | 'height' | 'channels'>): Uint8ClampedArray {
  const n = img.width * img.height;
  const out = new Uint8ClampedArray(n * 4);
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    const s = i * c;
    const d = i * 4;
    if (c === 1 || c === 2) out[d] = out[d + 1] = out[d + 2] = img.data[s];
    else for (let k = 0; k < 3; k++) out[d + k] = img.data[s + k];
    out[d + 3] = c === 2 ? img.data[s + 1] : c === 4 ? img.data[s + 3] : 255;
  }
  return out;
}
