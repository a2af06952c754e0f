/**
 * Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020) of a
 * generated feature set against a real one, from k-nearest-neighbour balls:
 *
 * - each real vector's ball reaches its k-th nearest other real vector (the real manifold);
 *   likewise each generated vector's ball (the generated manifold);
 * - precision: share of generated vectors inside some real ball (are samples realistic?);
 * - recall: share of real vectors inside some generated ball (is the data's variety produced?);
 * - density: real balls containing a generated vector, counted with multiplicity, per generated
 *   vector and per k (≈ 1 when the sets match; above 1 where samples crowd);
 * - coverage: share of real vectors whose own ball holds a generated vector (robust to outliers).
 *
 * Mode collapse lowers recall and coverage while precision can stay high. Euclidean distances,
 * float64; O(n²·d) time, O(n²) nothing: one row of distances at a time.
 *
 * @example
 *   const m = prdc(realFeatures, nReal, fakeFeatures, nFake, 128, 5);
 *   m.recall, m.coverage
 */
import { InvalidArgumentError } from '../core/errors.js';

/** Neighbours that define a ball (the papers' default is 3 or 5). */
export const PRDC_K = 5;

export interface Prdc {
  precision: number;
  recall: number;
  density: number;
  coverage: number;
  k: number;
  realCount: number;
  fakeCount: number;
}

function sqDist(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) {
    const t = a[i * dim + d] - b[j * dim + d];
    s += t * t;
  }
  return s;
}

/** Squared distance from each vector to its k-th nearest other vector of the same set. */
function kthRadii(x: ArrayLike<number>, n: number, dim: number, k: number): Float64Array {
  const out = new Float64Array(n);
  const best = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    best.fill(Infinity);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = sqDist(x, i, x, j, dim);
      if (d >= best[k - 1]) continue;
      let p = k - 1;
      while (p > 0 && best[p - 1] > d) {
        best[p] = best[p - 1];
        p--;
      }
      best[p] = d;
    }
    out[i] = best[k - 1];
  }
  return out;
}

export function prdc(real: ArrayLike<number>, realCount: number, fake: ArrayLike<number>, fakeCount: number, dim: number, k = PRDC_K): Prdc {
  if (realCount <= k || fakeCount <= k) throw new InvalidArgumentError('samples', Math.min(realCount, fakeCount), `more than k = ${k} real and generated vectors`);
  const realR = kthRadii(real, realCount, dim, k);
  const fakeR = kthRadii(fake, fakeCount, dim, k);
  let precise = 0;
  let dense = 0;
  const covered = new Uint8Array(realCount);
  const recalled = new Uint8Array(realCount);
  for (let f = 0; f < fakeCount; f++) {
    let inside = false;
    for (let r = 0; r < realCount; r++) {
      const d = sqDist(fake, f, real, r, dim);
      if (d <= realR[r]) {
        inside = true;
        dense++;
        covered[r] = 1;
      }
      if (d <= fakeR[f]) recalled[r] = 1;
    }
    if (inside) precise++;
  }
  const sum = (a: Uint8Array) => a.reduce((s, v) => s + v, 0);
  return {
    precision: precise / fakeCount,
    recall: sum(recalled) / realCount,
    density: dense / (k * fakeCount),
    coverage: sum(covered) / realCount,
    k,
    realCount,
    fakeCount,
  };
}
