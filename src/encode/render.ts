/**
 * A response's view of a batch of generator outputs, decided in one place for image and point
 * models alike: the `.npy` tensor, the `.npz` archive, one picture (an image model's grid, a point
 * model's scatter plot), an animation (image models), or each sample on its own (an image model's
 * base64 images, a point model's coordinates). {@link checkSampleView} refuses, before a model
 * runs, a view whose images would be too large; {@link renderSamples} encodes the outputs, on the
 * encoding threads when the job is large (./encode-pool.ts). The server's sample routes (samples,
 * samples.png, interpolate) all go through here.
 *
 * @example
 *   const batch = { kind: 'image', data, rowShape: [28, 28, 1], n: 16, range: [-1, 1], labels: null } as const;
 *   checkSampleView('body', batch, { as: 'picture', format: 'png', scale: 2 }, { count: { field: 'n', value: 16 } });
 *   const r = await renderSamples(batch, { as: 'picture', format: 'png', scale: 2 });
 *   // r: { as: 'bytes', contentType: 'image/png', bytes: <Buffer …> }
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { ScatterOptions } from '../core/plot.js';
import { checkImageSize, CONTENT_TYPES, encodeAnimation, encodeNpz, npyParts, encodeScatter, gridImageSize, type AnimationFormat, type ImageFormat, type ImagePlan, type SizeField } from './encode.js';
import { encodeEachBase64, encodeGridImage } from './encode-pool.js';

/** The outputs of one request: `n` rows of `rowShape` ([h, w, c] images or [dim] points) in `range`. */
export interface SampleBatch {
  kind: 'image' | 'points';
  /** Row-major, n × rowSize floats. */
  data: Float32Array;
  rowShape: readonly number[];
  n: number;
  range: readonly [number, number];
  /** The class of each row (conditional models: the scatter plot's colours, the npz's labels), or null. */
  labels: Int32Array | null;
  /** A point model's mode centres, drawn on its scatter plot. */
  modes?: ScatterOptions['modes'];
}

/** What a response shows of a {@link SampleBatch}. */
export type SampleView =
  /** The float32 outputs as a NumPy `.npy` tensor [n, …rowShape]. */
  | { as: 'npy' }
  /** A NumPy `.npz` archive: `images` (or `points`), `labels` (int64, conditional models) and `indices` (int64, from `start`). */
  | { as: 'npz'; start: number }
  /** One picture: an image model's grid (`columns`, default ⌈√n⌉), a point model's scatter plot. */
  | { as: 'picture'; format: ImageFormat; scale: number; columns?: number }
  /** The rows as the frames of a looping animation (image models only). */
  | { as: 'animation'; format: AnimationFormat; scale: number; delayMs: number }
  /** Each sample on its own: an image model's images in `format` (base64), a point model's coordinates. */
  | { as: 'each'; format: ImageFormat; scale: number };

/** One sample of an `each` view. */
export type SampleItem = { image: string } | { point: number[] };

/**
 * One body: a file, a picture or an animation, in `parts` written one after the other (a `.npy`
 * is its header and then the outputs' own memory: nothing is copied before the socket).
 */
export type RenderedBytes = { as: 'bytes'; contentType: string; parts: readonly Buffer[] };
/** Each sample on its own (`encoding`: the images' format, null for points), for a JSON body. */
export type RenderedEach = { as: 'each'; encoding: ImageFormat | null; items: SampleItem[] };
export type RenderedSamples = RenderedBytes | RenderedEach;

/**
 * Refuses a view that cannot be rendered (an animation of points) or whose images would be too
 * large to encode, before a model runs; errors name `<where>.<field>` (see checkImageSize in
 * ./encode.ts): `fields.count` is the field that sets n, `fields.columns` the grid's columns when
 * the request gave them.
 */
export function checkSampleView(where: string, batch: Pick<SampleBatch, 'kind' | 'rowShape' | 'n'>, view: SampleView, fields: { count: SizeField; columns?: SizeField }): void {
  if (batch.kind === 'points') {
    // Only the interpolate route offers animations (png and json besides).
    if (view.as === 'animation') throw new InvalidArgumentError(`${where}.format`, view.format, 'png or json for a point model (animations need an image model)');
    return; // a scatter plot's size depends on the scale alone, and points are numbers
  }
  if (view.as === 'npy' || view.as === 'npz') return;
  const { rowShape, n } = batch;
  const [h, w] = rowShape;
  const plan =
    view.as === 'picture'
      ? (s: number): ImagePlan => ({ ...gridImageSize(rowShape, n, s, view.columns), count: 1, format: view.format })
      : (s: number): ImagePlan => ({ width: w * s, height: h * s, count: n, format: view.format });
  const side = view.as === 'picture' ? (fields.columns ?? fields.count) : fields.count;
  checkImageSize(where, view.scale, plan, { side, pixels: fields.count });
}

/** Encodes `batch` as `view` shows it; large image jobs go to the encoding threads. */
export function renderSamples(batch: SampleBatch, view: Exclude<SampleView, { as: 'each' }>): Promise<RenderedBytes>;
export function renderSamples(batch: SampleBatch, view: SampleView): Promise<RenderedSamples>;
export async function renderSamples(batch: SampleBatch, view: SampleView): Promise<RenderedSamples> {
  const { kind, data, rowShape, n, range, labels } = batch;
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  const bytes = (format: keyof typeof CONTENT_TYPES, ...parts: Buffer[]): RenderedSamples => ({ as: 'bytes', contentType: CONTENT_TYPES[format], parts });
  switch (view.as) {
    case 'npy':
      return bytes('npy', ...npyParts(data, [n, ...rowShape]));
    case 'npz':
      // For Python: the samples with their classes and latent indices, as augment's npz files hold them.
      return bytes(
        'npz',
        encodeNpz({
          [kind === 'image' ? 'images' : 'points']: { data, shape: [n, ...rowShape] },
          ...(labels ? { labels: { data: BigInt64Array.from(labels, (c) => BigInt(c)), shape: [n] } } : {}),
          indices: { data: BigInt64Array.from({ length: n }, (_, k) => BigInt(view.start + k)), shape: [n] },
        }),
      );
    case 'picture':
      return bytes(
        view.format,
        kind === 'image'
          ? await encodeGridImage(data, rowShape, n, range, { format: view.format, scale: view.scale, columns: view.columns })
          : await encodeScatter(data, rowSize, n, range, labels, { format: view.format, scale: view.scale, modes: batch.modes }),
      );
    case 'animation':
      if (kind !== 'image') throw new InvalidArgumentError('format', view.format, 'png or json for a point model (animations need an image model)');
      return bytes(view.format, await encodeAnimation(data, rowShape, n, range, { format: view.format, scale: view.scale, delayMs: view.delayMs }));
    case 'each': {
      if (kind === 'points') return { as: 'each', encoding: null, items: Array.from({ length: n }, (_, k) => ({ point: Array.from(data.subarray(k * rowSize, (k + 1) * rowSize)) })) };
      const images = await encodeEachBase64(data, rowShape, n, range, { format: view.format, scale: view.scale });
      return { as: 'each', encoding: view.format, items: images.map((image) => ({ image })) };
    }
  }
}
