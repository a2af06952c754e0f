/**
 * The 2-D toy distributions of the mode-collapse literature, sampled afresh from the run's seeded stream.
 *
 * - ring8: 8 Gaussians, means (cos 2πk/8, sin 2πk/8), σ = 0.01
 * - grid25: 25 Gaussians, means {−4, −2, 0, 2, 4}², σ = 0.05
 * - swissroll: the classic roll, scaled to about [−1, 1]² (qualitative only)
 *
 * @example
 *   const ring = toyDataset('ring8');
 *   const { x } = ring.sample(rng, 256); // Float32Array(512), (x, y) pairs
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { CounterRng } from '../core/random.js';
import type { Batch, Dataset } from './dataset.js';

export const TOY_DATASETS = ['ring8', 'grid25', 'swissroll'] as const;
export type ToyDatasetName = (typeof TOY_DATASETS)[number];

export function isToyDataset(name: string): name is ToyDatasetName {
  return (TOY_DATASETS as readonly string[]).includes(name);
}

export interface ToySpec {
  /** Mixture means as (x, y) pairs; empty for the swiss roll. */
  means: Array<[number, number]>;
  /** Standard deviation of each mixture component. */
  sigma: number;
  range: readonly [number, number];
}

const RING_MODES = 8;
const RING_SIGMA = 0.01;
const GRID_SIDE = [-4, -2, 0, 2, 4];
const GRID_SIGMA = 0.05;
/** Swiss roll: t ∈ [1.5π, 4.5π], (t cos t, t sin t) / SWISS_SCALE, plus noise. */
const SWISS_SCALE = 15;
const SWISS_NOISE = 0.25;

export const TOY_SPECS: Readonly<Record<ToyDatasetName, ToySpec>> = {
  ring8: {
    means: Array.from({ length: RING_MODES }, (_, k) => [Math.cos((2 * Math.PI * k) / RING_MODES), Math.sin((2 * Math.PI * k) / RING_MODES)] as [number, number]),
    sigma: RING_SIGMA,
    range: [-1.1, 1.1],
  },
  grid25: {
    means: GRID_SIDE.flatMap((x) => GRID_SIDE.map((y) => [x, y] as [number, number])),
    sigma: GRID_SIGMA,
    range: [-4.5, 4.5],
  },
  swissroll: { means: [], sigma: SWISS_NOISE / SWISS_SCALE, range: [-1.1, 1.1] },
};

class ToyDataset implements Dataset {
  readonly kind = 'points' as const;
  readonly shape = [2] as const;
  readonly labels = null;
  readonly size = null;
  readonly range: readonly [number, number];
  readonly description: string;
  readonly modes?: { readonly centres: readonly (readonly [number, number])[]; readonly sigma: number };
  private readonly spec: ToySpec;

  constructor(readonly name: ToyDatasetName) {
    this.spec = TOY_SPECS[name];
    this.range = this.spec.range;
    if (this.spec.means.length > 0) this.modes = { centres: this.spec.means, sigma: this.spec.sigma };
    this.description =
      name === 'swissroll'
        ? 'swiss roll (2-D, fresh samples each batch)'
        : `${this.spec.means.length} Gaussians, σ = ${this.spec.sigma} (2-D, fresh samples each batch)`;
  }

  sample(rng: CounterRng, count: number): Batch {
    const noise = rng.normal(count * 2);
    const x = new Float32Array(count * 2);
    if (this.name === 'swissroll') {
      const u = rng.uniform(count);
      for (let i = 0; i < count; i++) {
        const t = 1.5 * Math.PI * (1 + 2 * u[i]);
        x[2 * i] = (t * Math.cos(t)) / SWISS_SCALE + this.spec.sigma * noise[2 * i];
        x[2 * i + 1] = (t * Math.sin(t)) / SWISS_SCALE + this.spec.sigma * noise[2 * i + 1];
      }
    } else {
      const mode = rng.int(count, this.spec.means.length);
      for (let i = 0; i < count; i++) {
        const [mx, my] = this.spec.means[mode[i]];
        x[2 * i] = mx + this.spec.sigma * noise[2 * i];
        x[2 * i + 1] = my + this.spec.sigma * noise[2 * i + 1];
      }
    }
    return { x, labels: null };
  }

  sampleLabels(): null {
    return null;
  }
}

export function toyDataset(name: ToyDatasetName): Dataset {
  if (!(name in TOY_SPECS)) throw new InvalidArgumentError('dataset', name, Object.keys(TOY_SPECS).join(', '));
  return new ToyDataset(name);
}
