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
  /** Mixture centres and their σ (point data sets made of modes), for plots; absent otherwise. */
  readonly modes?: { readonly centres: readonly (readonly [number, number])[]; readonly sigma: number };
  /** `count` examples drawn with `rng`. */
  sample(rng: CounterRng, count: number): Batch;
  /** Only the labels of `count` examples drawn like {@link sample} (for the generator's labels). */
  sampleLabels(rng: CounterRng, count: number): Int32Array | null;
}

/** Number of float values in one example. */
export function exampleSize(ds: Pick<Dataset, 'shape'>): number {
  return ds.shape.reduce((a, b) => a * b, 1);
}

/** A data set held in memory: `count` examples of `shape` in `data`, optional labels. */
export class InMemoryDataset implements Dataset {
  readonly kind = 'image' as const;
  readonly range = [-1, 1] as const;
  readonly size: number;
  private readonly stride: number;

  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    private readonly data: Float32Array,
    private readonly classOf: Int32Array | null,
    readonly labels: readonly string[] | null,
    readonly description: string,
  ) {
    this.stride = exampleSize(this);
    this.size = data.length / this.stride;
  }

  sample(rng: CounterRng, count: number): Batch {
    const idx = rng.int(count, this.size);
    const x = new Float32Array(count * this.stride);
    for (let i = 0; i < count; i++) x.set(this.data.subarray(idx[i] * this.stride, (idx[i] + 1) * this.stride), i * this.stride);
    return { x, labels: this.classOf ? Int32Array.from(idx, (j) => this.classOf![j]) : null };
  }

  sampleLabels(rng: CounterRng, count: number): Int32Array | null {
    if (!this.classOf) return null;
    const idx = rng.int(count, this.size);
    return Int32Array.from(idx, (j) => this.classOf![j]);
  }
}
