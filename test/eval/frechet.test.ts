import { test } from 'node:test';
import assert from 'node:assert/strict';
import { featureMoments, frechetDistance, frechetParts } from '../../src/eval/frechet.js';
import { sampleLatents } from '../../src/core/latent.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

const close = (a: number, b: number, tol: number) => assert.ok(Math.abs(a - b) <= tol, `${a} ≉ ${b} (tol ${tol})`);

/** Exact moments (no sampling) of a Gaussian with the given mean and covariance. */
function gaussian(mean: number[], cov: number[][]) {
  const d = mean.length;
  return { dim: d, mean: Float64Array.from(mean), cov: Float64Array.from(cov.flat()) };
}

const diag = (v: number[]) => v.map((x, i) => v.map((_, j) => (i === j ? x : 0)));

test('equal distributions → 0; shifted means → ‖Δμ‖²', () => {
  const c = [[2, 0.5, 0], [0.5, 1, 0.3], [0, 0.3, 0.7]];
  const a = gaussian([1, 2, 3], c);
  close(frechetDistance(a, a), 0, 1e-9);
  const b = gaussian([2, 0, 3], c);
  close(frechetDistance(a, b), 1 + 4, 1e-9);
  const p = frechetParts(a, b);
  close(p.meanTerm, 5, 1e-12);
  close(p.traceTerm, 0, 1e-9);
});

test('diagonal covariances: closed form Σ (√a − √b)²', () => {
  const va = [1, 4, 9, 0.25];
  const vb = [4, 1, 1, 0.01];
  const expected = va.reduce((s, x, i) => s + (Math.sqrt(x) - Math.sqrt(vb[i])) ** 2, 0) + 3 * 3;
  close(frechetDistance(gaussian([3, 0, 0, 0], diag(va)), gaussian([0, 0, 0, 0], diag(vb))), expected, 1e-9);
});

test('non-commuting covariances: matches tr(C1 + C2 − 2 (C1 C2)^½) computed by hand in 2-D', () => {
  // For 2×2 M with positive eigenvalues, tr √M = √(tr M + 2 √det M).
  const c1 = [[2, 1], [1, 2]];
  const c2 = [[1, 0], [0, 3]];
  const m = [[c1[0][0] * c2[0][0] + c1[0][1] * c2[1][0], c1[0][0] * c2[0][1] + c1[0][1] * c2[1][1]], [c1[1][0] * c2[0][0] + c1[1][1] * c2[1][0], c1[1][0] * c2[0][1] + c1[1][1] * c2[1][1]]];
  const tr = m[0][0] + m[1][1];
  const det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
  const expected = 4 + 4 - 2 * Math.sqrt(tr + 2 * Math.sqrt(det));
  close(frechetDistance(gaussian([0, 0], c1), gaussian([0, 0], c2)), expected, 1e-9);
  // Symmetric in its arguments.
  close(frechetDistance(gaussian([0, 0], c2), gaussian([0, 0], c1)), expected, 1e-9);
});

test('singular covariances (rank-deficient, as with dead ReLU features) stay finite and ≥ 0', () => {
  const a = gaussian([0, 0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]]);
  const b = gaussian([0, 0, 0], [[1, 0, 0], [0, 0, 0], [0, 0, 0]]);
  const d = frechetDistance(a, b);
  assert.ok(Number.isFinite(d) && d >= 0);
  close(frechetDistance(a, a), 0, 1e-7);
});

test('sample moments: mean and unbiased covariance of a tiny set, and FD of samples from N(μ, I) vs N(0, I)', () => {
  const m = featureMoments(new Float32Array([1, 2, 3, 6, 5, 10]), 3, 2);
  assert.deepEqual([...m.mean], [3, 6]);
  // x: 1,3,5 → var 4; y: 2,6,10 → var 16; cov 8.
  assert.deepEqual([...m.cov], [4, 8, 8, 16]);
  const n = 20000;
  const d = 4;
  const z1 = sampleLatents({ seed: 1, start: 0, count: n, dim: d });
  const z2 = sampleLatents({ seed: 2, start: 0, count: n, dim: d });
  for (let i = 0; i < n; i++) z2[i * d] += 2;
  const fd = frechetDistance(featureMoments(z1, n, d), featureMoments(z2, n, d));
  close(fd, 4, 0.1);
});

test('bad shapes are refused with the field named', () => {
  assert.throws(() => featureMoments(new Float32Array(5), 2, 2), (e) => e instanceof InvalidArgumentError && e.field === 'features.length');
  assert.throws(() => featureMoments(new Float32Array(2), 1, 2), (e) => e instanceof InvalidArgumentError && e.field === 'count');
  assert.throws(() => frechetDistance(gaussian([0], [[1]]), gaussian([0, 0], diag([1, 1]))), InvalidArgumentError);
});
