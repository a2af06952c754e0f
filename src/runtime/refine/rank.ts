/**
 * `rank`: sample `i` is the best, by critic score, of `k` candidates near its own latent `z_i`:
 * candidate 0 is `z_i` itself, candidate `j ≥ 1` is `z_i + σ·ε(seed, i, j)` with `ε` standard
 * normal noise from the counter-based `rank` stream (src/core/latent.ts `noiseNormals`), and every
 * candidate keeps sample i's class. Best-of-k among *unrelated* latents (Azadi et al. 2019's
 * selection) trades diversity for quality — the critic prefers some modes — while small moves of
 * each latent keep its mode (issue 35's ring measurements).
 *
 * Scores are compared after rounding to {@link SCORE_GRID}, ties to the lower `j`, so float noise
 * between backends and batch sizes (a last bit) does not flip a choice: the same request gives the
 * same choice on the server, in the browser and in a data set. Cost: k generator + critic passes
 * per sample (candidates are scored in batches of at most {@link RANK_ROWS} rows).
 */
import { noiseNormals } from '../../core/latent.js';
import { clampToPrior, type RefineMethod } from './method.js';

/** Scores are compared on this grid (the critic's scores are O(1) to O(100)). */
export const SCORE_GRID = 1e-4;
/** Candidate rows per critic run: bounds the memory of a large request (the choice does not depend on it). */
export const RANK_ROWS = 4096;

/** A score on the comparison grid; a non-finite score ranks below every finite one. */
export function gridScore(score: number): number {
  return Number.isFinite(score) ? Math.round(score / SCORE_GRID) : -Infinity;
}

export const rank: RefineMethod = {
  help: "best of k candidates by critic score: the sample's own latent and k−1 small perturbations of it (same class)",
  params: {
    k: { flag: '--refine-k', arg: '<k>', help: "rank: candidates per sample, the sample's own latent included", int: true, default: 8, min: 1, max: 64 },
    sigma: { flag: '--refine-sigma', arg: '<σ>', help: 'rank: scale of the perturbations (latent units; larger moves more samples but lets the critic shift them between modes)', int: false, default: 0.02, min: 0, max: 10, exclusiveMin: true },
  },
  graph: 'critic',
  passes: (p) => p.k,
  async run(rows, p, critic) {
    const { dim, distribution } = critic;
    const { k, sigma } = p;
    const n = rows.indices.length;
    const out = rows.z.slice();
    if (k === 1) return out;
    const eps = new Float32Array(dim);
    const per = Math.max(1, Math.floor(RANK_ROWS / k));
    for (let s0 = 0; s0 < n; s0 += per) {
      const m = Math.min(per, n - s0);
      const cand = new Float32Array(m * k * dim);
      const labels = rows.labels ? new Int32Array(m * k) : null;
      for (let s = 0; s < m; s++) {
        const zi = rows.z.subarray((s0 + s) * dim, (s0 + s + 1) * dim);
        for (let j = 0; j < k; j++) {
          const at = (s * k + j) * dim;
          cand.set(zi, at);
          if (labels) labels[s * k + j] = rows.labels![s0 + s];
          if (j === 0) continue;
          noiseNormals('rank', rows.seed, rows.indices[s0 + s], j, dim, eps);
          for (let d = 0; d < dim; d++) cand[at + d] += sigma * eps[d];
        }
      }
      // Candidate 0 is z_i itself, exactly: only the perturbed ones are kept inside the prior.
      for (let s = 0; s < m; s++) clampToPrior(cand.subarray((s * k + 1) * dim, (s + 1) * k * dim), distribution);
      const scores = await critic.score(cand, labels);
      for (let s = 0; s < m; s++) {
        let best = 0;
        let bestScore = gridScore(scores[s * k]);
        for (let j = 1; j < k; j++) {
          const q = gridScore(scores[s * k + j]);
          if (q > bestScore) {
            best = j;
            bestScore = q;
          }
        }
        if (best > 0) out.set(cand.subarray((s * k + best) * dim, (s * k + best + 1) * dim), (s0 + s) * dim);
      }
    }
    return out;
  },
};
