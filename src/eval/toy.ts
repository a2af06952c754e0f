/**
 * Mode-collapse metrics for the 2-D toy mixtures of the mode-collapse literature (VEEGAN / PacGAN protocol; docs/training.md).
 *
 * - ring8: 8 Gaussians, means (cos 2πk/8, sin 2πk/8), σ = 0.01;
 * - grid25: 25 Gaussians, means {−4,−2,0,2,4}², σ = 0.05.
 *
 * For each generated point: its nearest mean k and the distance d to it.
 * - *high quality*: d ≤ 3σ;
 * - mode k *covered*: at least one high-quality point has k as its nearest mean;
 * - *reverse KL* `Σₖ qₖ log(K·qₖ)` = KL(q ‖ uniform), in nats, where **qₖ is the share of all
 *   (finite) points whose nearest mean is k** — the generator's mass on mode k's Voronoi cell.
 *   Why all points and not only the high-quality ones: q is then a probability distribution of the
 *   generator itself (the Voronoi cells partition the plane), defined for every generator, and the
 *   KL measures only how the mass is spread over the modes, while "% high quality" measures how
 *   tight it is — the two stay separate. Counting only high-quality points would make q undefined
 *   when none is high quality and let a few stray points decide the KL of a blurry generator.
 *   The high-quality-only variant is reported too (`reverseKlHighQuality`, null without any high-
 *   quality point) for comparison with papers that filter first.
 * - qₖ = 0 contributes 0 (the limit of q log q as q → 0), so KL ∈ [0, log K]: 0 for perfectly
 *   balanced modes, log K when all mass sits on one mode.
 *
 * Even the true distribution is only ≈ 98.9% high quality: in 2-D the distance of a Gaussian
 * point to its mean is Rayleigh-distributed and P(d ≤ 3σ) = 1 − e^{−4.5}.
 *
 * @example
 *   const m = toyMetrics(points, 'ring8'); // points: Float32Array [n, 2] in data coordinates
 *   m.modesCovered, m.highQualityPercent, m.reverseKl
 */
import { InvalidArgumentError } from '../core/errors.js';
import { TOY_DATASETS, TOY_SPECS, type ToyDatasetName } from '../data/toy.js';

/** The toy data sets with modes to count: the rows of src/data's table that have means (the swiss roll has none). */
export const MODE_DATASETS: readonly ToyDatasetName[] = TOY_DATASETS.filter((name) => TOY_SPECS[name].means.length > 0);
/** A toy data set by name; {@link toyMixture} refuses one without modes. */
export type ToyDataset = ToyDatasetName;

/** Quality threshold, in standard deviations of a mode. */
export const HIGH_QUALITY_SIGMAS = 3;
/** Number of samples the protocol draws. */
export const TOY_EVAL_SAMPLES = 2500;

export interface ToyMixture {
  name: ToyDataset;
  /** Mode means, row-major [K, 2]. */
  means: Float64Array;
  /** Standard deviation of every mode (isotropic). */
  sigma: number;
}

/** The mixture behind a toy data set name (the same means and σ the training data is drawn from). */
export function toyMixture(name: string): ToyMixture {
  if (!(MODE_DATASETS as readonly string[]).includes(name)) throw new InvalidArgumentError('dataset', name, `one of ${MODE_DATASETS.join(', ')}`);
  const spec = TOY_SPECS[name as ToyDataset];
  return { name: name as ToyDataset, means: Float64Array.from(spec.means.flat()), sigma: spec.sigma };
}

export interface ModeStats {
  /** Mean of the mode. */
  x: number;
  y: number;
  /** Points whose nearest mean is this one. */
  nearest: number;
  /** High-quality points among them. */
  highQuality: number;
}

export interface ToyMetrics {
  dataset: ToyDataset;
  samples: number;
  /** Points with a NaN or infinite coordinate: never high quality, left out of q. */
  invalid: number;
  modes: number;
  modesCovered: number;
  /** 100 · high-quality points / all points (invalid ones included in the denominator). */
  highQualityPercent: number;
  /** KL(q ‖ uniform) over the nearest-mode shares of all finite points, nats; null if none is finite. */
  reverseKl: number | null;
  /** The same over high-quality points only; null when there is none. */
  reverseKlHighQuality: number | null;
  perMode: ModeStats[];
}

/** Σ qₖ log(K qₖ) for counts c (q = c / Σc), with 0·log 0 = 0; null when Σc = 0. */
export function reverseKlFromCounts(counts: ArrayLike<number>): number | null {
  const k = counts.length;
  let total = 0;
  for (let i = 0; i < k; i++) total += counts[i];
  if (total === 0) return null;
  let kl = 0;
  for (let i = 0; i < k; i++) {
    if (counts[i] === 0) continue;
    const q = counts[i] / total;
    kl += q * Math.log(k * q);
  }
  // Round-off can leave a perfectly balanced histogram at −1e-17.
  return Math.max(0, kl);
}

/** Metrics of `points` ([n, 2] row-major, data coordinates) against a toy mixture. */
export function toyMetrics(points: ArrayLike<number>, dataset: ToyDataset | ToyMixture): ToyMetrics {
  const mix = typeof dataset === 'string' ? toyMixture(dataset) : dataset;
  if (points.length % 2 !== 0) throw new InvalidArgumentError('points.length', points.length, 'an even number ([n, 2] coordinates)');
  const n = points.length / 2;
  if (n === 0) throw new InvalidArgumentError('points', 'no points', 'at least one point');
  const k = mix.means.length / 2;
  const radius = HIGH_QUALITY_SIGMAS * mix.sigma;
  const nearest = new Float64Array(k);
  const highQuality = new Float64Array(k);
  let invalid = 0;
  let hqTotal = 0;
  for (let i = 0; i < n; i++) {
    const x = points[2 * i];
    const y = points[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      invalid++;
      continue;
    }
    let best = 0;
    let bestD2 = Infinity;
    for (let m = 0; m < k; m++) {
      const d2 = (x - mix.means[2 * m]) ** 2 + (y - mix.means[2 * m + 1]) ** 2;
      if (d2 < bestD2) {
        bestD2 = d2;
        best = m;
      }
    }
    nearest[best]++;
    if (Math.sqrt(bestD2) <= radius) {
      highQuality[best]++;
      hqTotal++;
    }
  }
  const perMode: ModeStats[] = [];
  let covered = 0;
  for (let m = 0; m < k; m++) {
    if (highQuality[m] > 0) covered++;
    perMode.push({ x: mix.means[2 * m], y: mix.means[2 * m + 1], nearest: nearest[m], highQuality: highQuality[m] });
  }
  return {
    dataset: mix.name,
    samples: n,
    invalid,
    modes: k,
    modesCovered: covered,
    highQualityPercent: (100 * hqTotal) / n,
    reverseKl: reverseKlFromCounts(nearest),
    reverseKlHighQuality: reverseKlFromCounts(highQuality),
    perMode,
  };
}
