import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toyMetrics, toyMixture, reverseKlFromCounts, HIGH_QUALITY_SIGMAS } from '../../src/eval/toy.js';
import { sampleLatents } from '../../src/core/latent.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} ≉ ${b}`);

/** Points at given offsets from given modes: [mode index, dx, dy][]. */
function pointsAt(dataset: 'ring8' | 'grid25', spec: [number, number, number][]): Float32Array {
  const { means } = toyMixture(dataset);
  const out = new Float32Array(spec.length * 2);
  spec.forEach(([m, dx, dy], i) => {
    out[2 * i] = means[2 * m] + dx;
    out[2 * i + 1] = means[2 * m + 1] + dy;
  });
  return out;
}

test('mixtures: ring8 on the unit circle with σ 0.01, grid25 on {−4,…,4}² with σ 0.05', () => {
  const ring = toyMixture('ring8');
  assert.equal(ring.means.length / 2, 8);
  assert.equal(ring.sigma, 0.01);
  for (let k = 0; k < 8; k++) close(Math.hypot(ring.means[2 * k], ring.means[2 * k + 1]), 1, 1e-12);
  close(ring.means[2], Math.SQRT1_2, 1e-12);
  const grid = toyMixture('grid25');
  assert.equal(grid.means.length / 2, 25);
  assert.equal(grid.sigma, 0.05);
  assert.deepEqual([...new Set(grid.means)].sort((a, b) => a - b), [-4, -2, 0, 2, 4]);
  assert.throws(() => toyMixture('swissroll'), InvalidArgumentError);
});

test('one point exactly on every ring mode: 8/8 covered, 100% high quality, KL 0', () => {
  const m = toyMetrics(pointsAt('ring8', [0, 1, 2, 3, 4, 5, 6, 7].map((k) => [k, 0, 0])), 'ring8');
  assert.equal(m.modesCovered, 8);
  assert.equal(m.highQualityPercent, 100);
  close(m.reverseKl!, 0);
  close(m.reverseKlHighQuality!, 0);
  assert.equal(m.invalid, 0);
});

test('total collapse onto one grid mode: 1/25 covered, KL = log 25', () => {
  const m = toyMetrics(pointsAt('grid25', Array.from({ length: 100 }, () => [12, 0.01, -0.02] as [number, number, number])), 'grid25');
  assert.equal(m.modesCovered, 1);
  assert.equal(m.highQualityPercent, 100);
  close(m.reverseKl!, Math.log(25));
  assert.equal(m.perMode[12].nearest, 100);
  assert.equal(m.perMode[12].x, 0);
  assert.equal(m.perMode[12].y, 0);
});

test('the 3σ threshold: a point at 2.9σ counts, one at 3.1σ does not, yet both set q', () => {
  const s = toyMixture('ring8').sigma * HIGH_QUALITY_SIGMAS;
  // Mode 0 gets a good point, mode 2 only a poor one: 1 mode covered, 50% high quality.
  const pts = pointsAt('ring8', [
    [0, 0.9667 * s, 0],
    [2, 0, 1.0333 * s],
  ]);
  const m = toyMetrics(pts, 'ring8');
  assert.equal(m.modesCovered, 1);
  assert.equal(m.highQualityPercent, 50);
  // q = (1/2, 0, 1/2, 0, …) over all points → Σ q log(8q) = log 4.
  close(m.reverseKl!, Math.log(4));
  // Over high-quality points only: all mass on mode 0 → log 8.
  close(m.reverseKlHighQuality!, Math.log(8));
  assert.equal(m.perMode[2].nearest, 1);
  assert.equal(m.perMode[2].highQuality, 0);
});

test('a hand-computed unbalanced case: 3 points on mode 0, 1 on mode 1 of the ring', () => {
  const m = toyMetrics(pointsAt('ring8', [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0]]), 'ring8');
  const expected = 0.75 * Math.log(8 * 0.75) + 0.25 * Math.log(8 * 0.25);
  close(m.reverseKl!, expected);
  assert.equal(m.modesCovered, 2);
});

test('points far from every mode: nothing covered, 0% high quality, high-quality KL null', () => {
  const pts = new Float32Array([0, 0, 0.1, -0.1, 10, 10]);
  const m = toyMetrics(pts, 'ring8');
  assert.equal(m.modesCovered, 0);
  assert.equal(m.highQualityPercent, 0);
  assert.equal(m.reverseKlHighQuality, null);
  assert.ok(m.reverseKl! > 0);
});

test('NaN points are counted as invalid, never high quality, and left out of q', () => {
  const pts = pointsAt('ring8', [[0, 0, 0], [1, 0, 0]]);
  const withNaN = new Float32Array([...pts, NaN, 0, Infinity, 1]);
  const m = toyMetrics(withNaN, 'ring8');
  assert.equal(m.samples, 4);
  assert.equal(m.invalid, 2);
  assert.equal(m.highQualityPercent, 50);
  close(m.reverseKl!, Math.log(4));
  assert.equal(toyMetrics(new Float32Array([NaN, NaN]), 'ring8').reverseKl, null);
});

test('2,500 samples of the true ring and grid: all modes, ≈98.9% high quality (Rayleigh 1 − e^−4.5), KL ≈ 0', () => {
  for (const name of ['ring8', 'grid25'] as const) {
    const { means, sigma } = toyMixture(name);
    const k = means.length / 2;
    const n = 2500;
    const z = sampleLatents({ seed: 3, start: 0, count: n, dim: 2 });
    const pts = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const m = i % k;
      pts[2 * i] = means[2 * m] + sigma * z[2 * i];
      pts[2 * i + 1] = means[2 * m + 1] + sigma * z[2 * i + 1];
    }
    const r = toyMetrics(pts, name);
    assert.equal(r.modesCovered, k);
    // Binomial(2500, 0.989): sd ≈ 0.21 percentage points.
    assert.ok(Math.abs(r.highQualityPercent - 100 * (1 - Math.exp(-4.5))) < 1, `${name}: ${r.highQualityPercent}`);
    assert.ok(r.reverseKl! < 1e-3, `${name}: KL ${r.reverseKl}`);
  }
});

test('reverseKlFromCounts: 0·log 0 = 0, empty → null, bad inputs refused', () => {
  close(reverseKlFromCounts([5, 0, 0, 0])!, Math.log(4));
  close(reverseKlFromCounts([1, 1, 1, 1])!, 0);
  assert.equal(reverseKlFromCounts([0, 0]), null);
  assert.throws(() => toyMetrics(new Float32Array(3), 'ring8'), InvalidArgumentError);
  assert.throws(() => toyMetrics(new Float32Array(0), 'ring8'), InvalidArgumentError);
});
