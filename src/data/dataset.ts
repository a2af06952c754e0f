/**
 * The one interface every training data set implements (toys, MNIST, image folders, test fakes).
 *
 * A data set hands out batches drawn with the run's seeded {@link CounterRng}, so that the batch
 * sequence is part of the checkpointed random state: toys draw fresh samples, finite sets draw
 * indices uniformly with replacement.
 */
import type { CounterRng } from '../core/random.js';

export interface Batch {
  /** Row-major `[batch, ...shape]` float32: points in data coordinates, images in [-1, 1]. */
  x: Float32Array;
  /** Class of each example, or null for an unlabelled data set. */
  labels: Int32Array | null;
}

export interface Dataset {
  /** What `--dataset` said (`ring8`, `mnist`, a folder path). */
  readonly name: string;
  readonly kind: 'points' | 'image';
  /** Shape of one example: `[2]` for points, `[height, width, channels]` for images. */
  readonly shape: readonly number[];
  /** Class names of a labelled data set, or null. */
  readonly labels: readonly string[] | null;
  /** Number of stored examples, or null for a distribution sampled afresh (toys). */
  readonly size: number | null;
  /** Range of the values: `[-1, 1]` for images, about the data extent for points. */
  readonly range: readonly [number, number];
  /** One-line description for the report and the manifest. */
  readonly description: string;
  /** How the held-out split of an image folder was chosen (recorded in the run and the manifest). */
  readonly holdout?: HoldoutInfo;
  /** Mixture centres and their σ (point data sets made of modes), for plots; absent otherwise. */
  readonly modes?: { readonly centres: readonly (readonly [number, number])[]; readonly sigma: number };
  /** `count` examples drawn with `rng`. */
  sample(rng: CounterRng, count: number): Batch;
  /** Only the labels of `count` examples drawn like {@link sample} (for the generator's labels). */
  sampleLabels(rng: CounterRng, count: number): Int32Array | null;
}

/** The held-out part of an image folder: a folder of its own, or a fraction chosen by content hash. */
export type HoldoutInfo =
  | { readonly source: 'folder'; readonly folder: string; readonly count: number }
  | { readonly source: 'hash'; readonly fraction: number; readonly count: number };

/** "1 image held out by content hash (--holdout 0.1)", "no image held out in data/x/holdout". */
export function describeHoldout(h: HoldoutInfo): string {
  const n = h.count === 0 ? 'no image' : h.count === 1 ? '1 image' : `${h.count} images`;
  return `${n} held out ${h.source === 'folder' ? `in ${h.folder}` : `by content hash (--holdout ${h.fraction})`}`;
}

/** Number of float values in one example. */
export function exampleSize(ds: Pick<Dataset, 'shape'>): number {
  return ds.shape.reduce((a, b) => a * b, 1);
}

/** uint8 pixel → [-1, 1], the values `fromUint8` (src/core/image.ts) gives, one table lookup each. */
const PIXEL_VALUES = Float32Array.from({ length: 256 }, (_, p) => -1 + (p / 255) * 2);

/**
 * A data set held in memory: `count` examples of `shape` in `data`, optional labels. Pixels are
 * float32 in [-1, 1], or uint8 (a quarter of the memory: 100,000 images of 64×64×3 take 1.2 GB)
 * mapped to [-1, 1] as batches are drawn.
 */
export class InMemoryDataset implements Dataset {
  readonly kind = 'image' as const;
  readonly range = [-1, 1] as const;
  readonly size: number;
  private readonly stride: number;

  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    private readonly data: Float32Array | Uint8Array,
    private readonly classOf: Int32Array | null,
    readonly labels: readonly string[] | null,
    readonly description: string,
    readonly holdout?: HoldoutInfo,
  ) {
    this.stride = exampleSize(this);
    this.size = data.length / this.stride;
  }

  /** Example `i` into `out` at `offset`, in [-1, 1]. */
  private copy(i: number, out: Float32Array, offset: number): void {
    const src = this.data.subarray(i * this.stride, (i + 1) * this.stride);
    if (src instanceof Float32Array) out.set(src, offset);
    else for (let j = 0; j < src.length; j++) out[offset + j] = PIXEL_VALUES[src[j]];
  }

  sample(rng: CounterRng, count: number): Batch {
    const idx = rng.int(count, this.size);
    const x = new Float32Array(count * this.stride);
    for (let i = 0; i < count; i++) this.copy(idx[i], x, i * this.stride);
    return { x, labels: this.classOf ? Int32Array.from(idx, (j) => this.classOf![j]) : null };
  }

  /** Every example in order (evaluation), and its labels. */
  all(): Batch {
    const x = new Float32Array(this.size * this.stride);
    for (let i = 0; i < this.size; i++) this.copy(i, x, i * this.stride);
    return { x, labels: this.classOf ? this.classOf.slice() : null };
  }

  sampleLabels(rng: CounterRng, count: number): Int32Array | null {
    if (!this.classOf) return null;
    const idx = rng.int(count, this.size);
    return Int32Array.from(idx, (j) => this.classOf![j]);
  }
}
