/**
 * `wganx augment --refine` on models with their critic (test/runtime/refine-fixtures.ts): the files
 * are the runtime's refined samples, the same for any --batch and --shard; summary.json records the
 * refinement and a resume must match it (a data set written before --refine resumes as raw); a
 * model without a critic, and --remote, are refused before anything is written.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { augment, type AugmentOptions } from '../../src/augment/run.js';
import { openGenerator } from '../../src/runtime/node.js';
import { REFINE_METHODS } from '../../src/runtime/refine/index.js';
import { criticFixtures } from '../runtime/refine-fixtures.js';
import { files } from './helpers.js';

const quiet = { log: () => {}, progress: false } as const;
let fx: Awaited<ReturnType<typeof criticFixtures>>;
let tmp: string;
before(async () => {
  fx = await criticFixtures();
  tmp = mkdtempSync(join(tmpdir(), 'wganx-augment-refine-'));
});
after(() => {
  fx.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const run = (opts: Partial<AugmentOptions> & { out: string }) => augment({ model: fx.points, device: 'cpu', threads: 1, format: 'csv', count: 30, chunk: 8, seed: 2, ...opts }, quiet);
const summary = (out: string, name = 'summary.json') => JSON.parse(readFileSync(join(out, name), 'utf8'));
const dataFiles = (root: string) => new Map([...files(root)].filter(([f]) => !/^(manifest|summary)[.]/.test(f)));
/** The csv chunks' rows (x, y) in order. */
const csvPoints = (out: string) =>
  [...dataFiles(out).entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([, bytes]) => Buffer.from(bytes).toString('utf8').trim().split('\n').slice(1).map((l) => l.split(',')));

test('--refine rank: the runtime\'s refined samples, the same files for any --batch or --shard, recorded in summary.json', async () => {
  const a = join(tmp, 'rank-a');
  const b = join(tmp, 'rank-b');
  const sharded = join(tmp, 'rank-sharded');
  await run({ out: a, batch: 64, refine: 'rank', refineK: 5 });
  await run({ out: b, batch: 3, refine: 'rank', refineK: 5 });
  for (const i of [0, 1]) await run({ out: sharded, batch: 7, refine: 'rank', refineK: 5, shard: `${i}/2` });
  assert.deepEqual(dataFiles(b), dataFiles(a));
  assert.deepEqual(dataFiles(sharded), dataFiles(a));
  assert.deepEqual(summary(a).identity.refine, { method: 'rank', k: 5, sigma: REFINE_METHODS.rank.params.sigma.default });
  // The runtime gives the same samples for the same request; the raw data set differs.
  const g = await openGenerator(fx.points, { threads: 1 });
  try {
    const want = await g.sample({ seed: 2, start: 0, n: 30, refine: { method: 'rank', k: 5 } });
    const rows = csvPoints(a);
    assert.equal(rows.length, 30);
    const at = (r: string[]) => r.slice(0, 2).map(Number); // x, y, then the index and seed
    rows.forEach((r, i) => at(r).forEach((v, d) => assert.ok(Math.abs(v - want.data[2 * i + d]) < 1e-6, `row ${i}: ${r} vs ${want.data.subarray(2 * i, 2 * i + 2)}`)));
  } finally {
    await g.dispose();
  }
  const raw = join(tmp, 'raw');
  await run({ out: raw });
  assert.notDeepEqual(dataFiles(raw), dataFiles(a));
  assert.equal(summary(raw).identity.refine, null);
});

test('--refine dot on a conditional image model: the same files for any --batch', async () => {
  const a = join(tmp, 'dot-a');
  const b = join(tmp, 'dot-b');
  const opts = { model: fx.digits, format: 'npz', perClass: 4, count: undefined, chunk: 5, refine: 'dot', refineSteps: 3 } as const;
  await run({ ...opts, out: a, batch: 12 });
  await run({ ...opts, out: b, batch: 5 });
  assert.deepEqual(dataFiles(b), dataFiles(a));
  assert.deepEqual(summary(a).identity.refine, { method: 'dot', steps: 3, stepSize: REFINE_METHODS.dot.params.stepSize.default });
});

test('a resume must match the refinement; a data set written before --refine existed resumes as raw', async () => {
  const out = join(tmp, 'resume');
  await run({ out, refine: 'rank' });
  await assert.rejects(run({ out }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--refine' && /"rank"/.test(e.message));
  await assert.rejects(run({ out, refine: 'rank', refineK: 3 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--refine');
  const again = await run({ out, refine: 'rank' });
  assert.equal(again.written, 0);
  // An older summary has no refine key: it is a raw data set.
  const old = join(tmp, 'old');
  await run({ out: old });
  const s = summary(old);
  delete s.identity.refine;
  writeFileSync(join(old, 'summary.json'), JSON.stringify(s));
  assert.equal((await run({ out: old })).written, 0);
  await assert.rejects(run({ out: old, refine: 'dot' }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--refine');
});

test('refused before anything is written: a model without a critic, --remote, a parameter of another method', async () => {
  const out = join(tmp, 'refused');
  await assert.rejects(run({ model: fx.bare, out, refine: 'rank' }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--refine' && /this model has no critic/.test(e.message));
  await assert.rejects(run({ out, refine: 'rank', remote: 'http://127.0.0.1:9' }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--refine' && /--remote/.test(e.message));
  await assert.rejects(run({ out, refine: 'dot', refineK: 4 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--refine-k');
  assert.equal(existsSync(out), false);
});
