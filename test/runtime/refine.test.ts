/**
 * Sampling refinement (src/runtime/refine, issue 35) on a closed-form model (./refine-fake.ts): each
 * method against an independent float64 reference of its definition, the purity that makes it
 * servable (a sample is the same in any request that contains it), the table's checks and errors,
 * and lazy sessions. The same on real exported models: test/runtime/refine-onnx.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { noiseNormals, sampleLatents } from '../../src/core/latent.js';
import { defaultLabels } from '../../src/core/labels.js';
import { REFINE_FLAGS, refineFromFlags } from '../../src/runtime/refine/flags.js';
import { REFINE_METHODS, REFINE_METHOD_NAMES, resolveRefine } from '../../src/runtime/refine/index.js';
import { REFERENCE_SAMPLES, REFERENCE_SEED } from '../../src/runtime/refine/graphs.js';
import { SCORE_GRID } from '../../src/runtime/refine/rank.js';
import { fakeD, fakeG, fakeGrad, fakeGenerator } from './refine-fake.js';

const rowsOf = (a: Float32Array, dim = 2) => Array.from({ length: a.length / dim }, (_, r) => Array.from(a.subarray(r * dim, (r + 1) * dim)));
const f32 = (x: number) => Math.fround(x);

/** float64 reference of rank: candidate 0 = z_i, j ≥ 1 = z_i + σ ε(seed, i, j); best score on the grid, ties to the lower j. */
function rankReference(seed: number, start: number, n: number, labels: Int32Array | null, k: number, sigma: number): number[][] {
  const z = rowsOf(sampleLatents({ seed, start, count: n, dim: 2 }));
  const eps = new Float32Array(2);
  return z.map((zi, r) => {
    const y = labels ? labels[r] : 0;
    let best = zi;
    let bestQ = Math.round(fakeD(fakeG(zi, y), y) / SCORE_GRID);
    for (let j = 1; j < k; j++) {
      noiseNormals('rank', seed, start + r, j, 2, eps);
      const c = [f32(zi[0] + f32(sigma * eps[0])), f32(zi[1] + f32(sigma * eps[1]))];
      const q = Math.round(fakeD(fakeG(c, y), y) / SCORE_GRID);
      if (q > bestQ) [best, bestQ] = [c, q];
    }
    return fakeG(best, y);
  });
}

test('none is the raw sample, bit for bit, and never opens the critic', async () => {
  const { generator, calls } = fakeGenerator();
  const raw = await generator.sample({ seed: 3, start: 2, n: 7 });
  const none = await generator.sample({ seed: 3, start: 2, n: 7, refine: { method: 'none' } });
  assert.deepEqual(Array.from(none.data), Array.from(raw.data));
  assert.deepEqual(none.refine, { method: 'none', params: {} });
  assert.deepEqual(calls.opened, []);
  assert.deepEqual(calls.generator, [7, 7]);
});

test('rank picks the best of k candidates near each latent, as its definition says', async () => {
  for (const conditional of [false, true]) {
    const { generator } = fakeGenerator({ conditional });
    const got = await generator.sample({ seed: 11, start: 5, n: 40, refine: { method: 'rank', k: 6, sigma: 0.3 } });
    const labels = conditional ? defaultLabels(11, 5, 40, 3) : null;
    if (conditional) assert.deepEqual(Array.from(got.labels!), Array.from(labels!), 'each candidate keeps its sample\'s class');
    const want = rankReference(11, 5, 40, labels, 6, 0.3);
    rowsOf(got.data).forEach((row, r) => row.forEach((v, d) => assert.ok(Math.abs(v - want[r][d]) < 1e-6, `conditional=${conditional} row ${r}: ${row} vs ${want[r]}`)));
    const raw = await generator.sample({ seed: 11, start: 5, n: 40 });
    assert.notDeepEqual(Array.from(got.data), Array.from(raw.data), 'rank moved some samples');
    assert.deepEqual(got.refine, { method: 'rank', params: { k: 6, sigma: 0.3 } });
  }
});

test('rank and the gradient methods are pure functions of (seed, index): the same sample in any request and split', async () => {
  const { generator } = fakeGenerator({ conditional: true });
  for (const refine of [{ method: 'rank', k: 5 }, { method: 'dot', steps: 7 }, { method: 'ddls', steps: 7, stepSize: 0.05 }]) {
    const n = 9;
    const base = await generator.sample({ seed: 4, start: 20, n, refine });
    const longer = await generator.sample({ seed: 4, start: 20, n: n + 5, refine });
    assert.deepEqual(Array.from(longer.data.subarray(0, 2 * n)), Array.from(base.data), `${refine.method}: n vs n + 5`);
    for (let i = 0; i < n; i++) {
      const one = await generator.sample({ seed: 4, start: 20 + i, n: 1, refine });
      assert.deepEqual(Array.from(one.data), Array.from(base.data.subarray(2 * i, 2 * i + 2)), `${refine.method}: sample ${20 + i} alone`);
    }
    const again = await generator.sample({ seed: 4, start: 20, n, refine });
    assert.deepEqual(Array.from(again.data), Array.from(base.data), `${refine.method}: repeatable`);
  }
});

test('rank with k = 1, or with a critic that cannot tell candidates apart on the grid, keeps the raw sample', async () => {
  const { generator } = fakeGenerator();
  const raw = await generator.sample({ seed: 1, n: 10 });
  assert.deepEqual(Array.from((await generator.sample({ seed: 1, n: 10, refine: { method: 'rank', k: 1 } })).data), Array.from(raw.data));
  // σ so small that every candidate's score rounds to candidate 0's: ties go to j = 0.
  const tiny = await generator.sample({ seed: 1, n: 10, refine: { method: 'rank', k: 8, sigma: 1e-9 } });
  assert.deepEqual(Array.from(tiny.data), Array.from(raw.data));
});

/** K_eff as dot measures it: the largest |ΔD|/‖Δz‖ over the reference pairs (samples 2r, 2r + 1 of seed 0, class r mod 3). */
function keffReference(conditional: boolean): number {
  const z = rowsOf(sampleLatents({ seed: REFERENCE_SEED, start: 0, count: REFERENCE_SAMPLES, dim: 2 }));
  const y = (i: number) => (conditional ? (i >> 1) % 3 : 0);
  const s = z.map((r, i) => f32(fakeD(fakeG(r, y(i)), y(i))));
  let k = 0;
  for (let a = 0; a < z.length; a += 2) k = Math.max(k, Math.abs(s[a] - s[a + 1]) / Math.hypot(z[a][0] - z[a + 1][0], z[a][1] - z[a + 1][1]));
  return k;
}

test('dot follows its definition: steps of −η·((z − z0)/‖z − z0‖ − ∇D(G(z))/K_eff), and raises the critic score', async () => {
  for (const conditional of [false, true]) {
    const { generator } = fakeGenerator({ conditional });
    const steps = 15;
    const eta = 0.02;
    const got = await generator.sample({ seed: 2, n: 30, refine: { method: 'dot', steps, stepSize: eta } });
    const keff = keffReference(conditional);
    const labels = conditional ? defaultLabels(2, 0, 30, 3) : null;
    const z0 = rowsOf(sampleLatents({ seed: 2, start: 0, count: 30, dim: 2 }));
    let before = 0;
    let after = 0;
    z0.forEach((start, r) => {
      const y = labels ? labels[r] : 0;
      const z = [...start];
      for (let t = 0; t < steps; t++) {
        const g = fakeGrad(z, y);
        const norm = Math.hypot(z[0] - start[0], z[1] - start[1]);
        for (let d = 0; d < 2; d++) z[d] -= eta * ((norm > 0 ? (z[d] - start[d]) / norm : 0) - g[d] / keff);
      }
      const want = fakeG(z, y);
      const row = Array.from(got.data.subarray(2 * r, 2 * r + 2));
      row.forEach((v, d) => assert.ok(Math.abs(v - want[d]) < 1e-4, `conditional=${conditional} row ${r}: ${row} vs ${want}`));
      before += fakeD(fakeG(start, y), y);
      after += fakeD(row, y);
    });
    assert.ok(after > before, `the critic's mean score rose: ${before / 30} → ${after / 30}`);
  }
});

test('ddls follows its definition: Langevin steps on ‖z‖²/2 − D(G(z)) with the seeded noise ξ(seed, i, step)', async () => {
  const { generator } = fakeGenerator();
  const steps = 6;
  const eta = 0.05;
  const got = await generator.sample({ seed: 8, start: 3, n: 12, refine: { method: 'ddls', steps, stepSize: eta } });
  const z0 = rowsOf(sampleLatents({ seed: 8, start: 3, count: 12, dim: 2 }));
  const xi = new Float32Array(2);
  z0.forEach((start, r) => {
    const z = [...start];
    for (let t = 0; t < steps; t++) {
      const g = fakeGrad(z, 0);
      noiseNormals('langevin', 8, 3 + r, t, 2, xi);
      for (let d = 0; d < 2; d++) z[d] += -(eta / 2) * (z[d] - g[d]) + Math.sqrt(eta) * xi[d];
    }
    const want = fakeG(z, 0);
    const row = Array.from(got.data.subarray(2 * r, 2 * r + 2));
    row.forEach((v, d) => assert.ok(Math.abs(v - want[d]) < 1e-4, `row ${r}: ${row} vs ${want}`));
  });
});

test('uniform latents stay inside [−1, 1] under every method', async () => {
  const { generator } = fakeGenerator({ distribution: 'uniform' });
  for (const refine of [{ method: 'rank', k: 8, sigma: 2 }, { method: 'dot', steps: 50, stepSize: 0.5 }, { method: 'ddls', steps: 50, stepSize: 0.5 }]) {
    const rows = { seed: 1, indices: [0, 1, 2, 3, 4, 5, 6, 7], z: sampleLatents({ seed: 1, start: 0, count: 8, dim: 2, distribution: 'uniform' }), labels: null };
    const z = await generator.refineLatents(rows, refine);
    assert.ok(z.every((v) => v >= -1 && v <= 1), `${refine.method}: ${Array.from(z)}`);
  }
});

test('critic sessions open once, on first need, and close with the generator; large requests run in bounded batches', async () => {
  const { generator, calls } = fakeGenerator();
  await generator.sample({ seed: 0, n: 3000, refine: { method: 'rank', k: 4 } });
  assert.deepEqual(calls.opened, ['critic']);
  assert.ok(Math.max(...calls.critic) <= 4096 && calls.critic.reduce((a, b) => a + b, 0) === 12000, `critic runs ${calls.critic}`);
  await generator.sample({ seed: 0, n: 600, refine: { method: 'dot', steps: 2 } });
  await generator.sample({ seed: 0, n: 5, refine: { method: 'dot', steps: 2 } });
  assert.deepEqual(calls.opened, ['critic', 'refine']);
  assert.ok(Math.max(...calls.refine) <= 256, `refine runs ${calls.refine}`);
  await generator.dispose();
  assert.deepEqual(calls.released.sort(), ['critic', 'refine']);
});

test('the table: every row has its pieces, and every parameter a flag in REFINE_FLAGS with the same bounds', () => {
  assert.deepEqual(REFINE_FLAGS.refine.choices, REFINE_METHOD_NAMES);
  const flags = Object.values(REFINE_FLAGS) as { flag: string; min?: number; max?: number }[];
  for (const [name, row] of Object.entries(REFINE_METHODS)) {
    assert.ok(row.help.length > 10, name);
    assert.ok(REFINE_FLAGS.refine.help.includes(`${name}: ${row.help}`), `${name} in --refine's help`);
    assert.equal(row.graph === null, name === 'none');
    for (const [key, p] of Object.entries(row.params)) {
      const spec = flags.find((f) => f.flag === p.flag);
      assert.ok(spec, `${name}.${key}: ${p.flag} is in REFINE_FLAGS`);
      assert.deepEqual([spec.min, spec.max], [p.min, p.max], `${name}.${key}: bounds`);
      assert.ok(p.default >= p.min && p.default <= p.max, `${name}.${key}: default in bounds`);
      assert.ok(row.passes(resolveRefine({ method: name }).params) >= 1);
    }
  }
});

test('bad requests name the field, the value and what is allowed', async () => {
  const bad = (fn: () => unknown, field: string, allowed: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof InvalidArgumentError && e.field === field && allowed.test(e.allowed), `${field}`);
  bad(() => resolveRefine({ method: 'best' }), 'refine.method', /one of none, rank, dot, ddls/);
  bad(() => resolveRefine({ method: 'rank', k: 0 }), 'refine.k', /an integer in \[1, 64\]/);
  bad(() => resolveRefine({ method: 'rank', k: 2.5 }), 'refine.k', /integer/);
  bad(() => resolveRefine({ method: 'dot', stepSize: 0 }), 'refine.stepSize', /\(0, /);
  bad(() => resolveRefine({ method: 'dot', k: 4 }), 'refine.k', /only steps, stepSize for method dot/);
  bad(() => resolveRefine({ method: 'none', steps: 4 }), 'refine.steps', /no parameters/);
  bad(() => resolveRefine({ method: 'rank', k: '4' }), 'refine.k', /integer/);
  bad(() => resolveRefine(null as never), 'refine', /an object/);
  // A model without a critic: none works, every other method is refused by name.
  const { generator } = fakeGenerator({ critic: false });
  assert.equal((await generator.sample({ seed: 0, n: 2, refine: { method: 'none' } })).data.length, 4);
  assert.deepEqual(generator.refineMethods, ['none']);
  await assert.rejects(generator.sample({ seed: 0, n: 2, refine: { method: 'rank' } }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'refine.method' && /this model has no critic/.test(e.message));
  // A critic without the gradient graph: rank only.
  const noGrad = fakeGenerator({ refine: false }).generator;
  assert.deepEqual(noGrad.refineMethods, ['none', 'rank']);
  await assert.rejects(noGrad.sample({ seed: 0, n: 2, refine: { method: 'dot' } }), /refine\.method: "dot" is not allowed; expected none, rank for model fake: its folder has no refine\.onnx/);
  // The request is checked before anything runs.
  await assert.rejects(generator.sample({ seed: -1, n: 2, refine: { method: 'none' } }), /seed/);
});

test('flags: --refine and its parameters become a request; a parameter of another method is refused', () => {
  assert.deepEqual(refineFromFlags({ refine: 'none' }), { method: 'none', params: {} });
  assert.deepEqual(refineFromFlags({ refine: 'rank', refineK: 4 }), { method: 'rank', params: { k: 4, sigma: REFINE_METHODS.rank.params.sigma.default } });
  assert.deepEqual(refineFromFlags({ refine: 'dot', refineSteps: 5, refineStepSize: 0.1 }), { method: 'dot', params: { steps: 5, stepSize: 0.1 } });
  assert.throws(() => refineFromFlags({ refine: 'dot', refineK: 4 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--refine-k' && /only with --refine rank/.test(e.allowed));
  assert.throws(() => refineFromFlags({ refine: 'none', refineSteps: 4 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--refine-steps');
});
