/**
 * `wganx eval --refine` on a point model with its critic (test/runtime/refine-fixtures.ts): the same
 * samples measured raw and refined, the refined figures being those of the runtime's refined
 * samples, with samples/s for both; the CLI's table and JSON; refusals as one line on stderr; and
 * `wganx eval augment --refine`'s generated images are what `wganx augment --refine` writes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { augment } from '../../src/augment/run.js';
import { generatedImages } from '../../src/eval/augment-eval.js';
import { evaluateModel, formatReport } from '../../src/eval/command.js';
import { toyMetrics } from '../../src/eval/toy.js';
import { openGenerator } from '../../src/runtime/node.js';
import { REFINE_METHODS, resolveRefine } from '../../src/runtime/refine/index.js';
import { criticFixtures } from '../runtime/refine-fixtures.js';

const repo = join(import.meta.dirname, '..', '..');
let fx: Awaited<ReturnType<typeof criticFixtures>>;
before(async () => {
  fx = await criticFixtures();
});
after(() => fx.cleanup());

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'src', 'cli.ts'), 'eval', ...args], { encoding: 'utf8', cwd: repo });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

test('the refined pass measures the runtime\'s refined samples, next to the raw ones, with samples/s for both', async () => {
  const report = await evaluateModel({ modelDir: fx.points, samples: 300, figuresDir: null, refine: { method: 'rank', k: 4 } });
  const g = await openGenerator(fx.points, { threads: 1 });
  try {
    const raw = await g.sample({ seed: 0, n: 300 });
    const refined = await g.sample({ seed: 0, n: 300, refine: { method: 'rank', k: 4 } });
    assert.deepEqual(report.toy, toyMetrics(raw.data, 'ring8'));
    assert.deepEqual(report.refined!.toy, toyMetrics(refined.data, 'ring8'));
  } finally {
    await g.dispose();
  }
  assert.deepEqual(report.refined!.refine, { method: 'rank', params: { k: 4, sigma: REFINE_METHODS.rank.params.sigma.default } });
  assert.ok(report.samplesPerSecond > 0 && report.refined!.samplesPerSecond > 0);
  const table = formatReport(report);
  assert.match(table, new RegExp(`refined\\s+rank k=4 sigma=${REFINE_METHODS.rank.params.sigma.default}`));
  assert.match(table, /cost\s+[\d.]+ samples\/s vs \d+ raw/);
  // Without --refine: no refined pass.
  assert.equal((await evaluateModel({ modelDir: fx.points, samples: 50, figuresDir: null })).refined, null);
});

test('wganx eval --refine dot --json; refusals are one line naming the flag or field', () => {
  const ok = cli('--model', fx.points, '--samples', '100', '--refine', 'dot', '--refine-steps', '3', '--json', '--no-figures');
  assert.equal(ok.code, 0, ok.stderr);
  const report = JSON.parse(ok.stdout);
  assert.deepEqual(report.refined.refine, { method: 'dot', params: { steps: 3, stepSize: REFINE_METHODS.dot.params.stepSize.default } });
  assert.equal(report.refined.toy.modes, 8);
  const bare = cli('--model', fx.bare, '--refine', 'rank', '--no-figures');
  assert.equal(bare.code, 1);
  assert.match(bare.stderr, /^wganx: refine\.method: "rank" is not allowed; expected none for model bare: this model has no critic/);
  assert.equal(bare.stderr.split('\n').length, 1);
  const other = cli('--model', fx.points, '--refine', 'dot', '--refine-k', '4', '--no-figures');
  assert.equal(other.code, 1);
  assert.match(other.stderr, /^wganx: --refine-k: 4 is not allowed; expected only with --refine rank/);
  const unknown = cli('--model', fx.points, '--refine', 'best');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--refine/);
});

test('eval augment --refine trains on exactly the images wganx augment --per-class --refine writes', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'wganx-eval-refine-'));
  try {
    const out = join(tmp, 'set');
    await augment({ model: fx.digits, perClass: 4, format: 'npz', seed: 5, out, device: 'cpu', refine: 'dot', refineSteps: 3 }, { log: () => {}, progress: false });
    const npy = unzipSync(readFileSync(join(out, 'part-000000.npz')))['images.npy'];
    const fromFiles = npy.subarray(10 + (npy[8] | (npy[9] << 8)));
    const { bytes } = await generatedImages(fx.digits, 5, 4, 1, resolveRefine({ method: 'dot', steps: 3 }), () => {});
    assert.deepEqual(Buffer.from(bytes), Buffer.from(fromFiles));
    const raw = await generatedImages(fx.digits, 5, 4, 1, resolveRefine(undefined), () => {});
    assert.notDeepEqual(Buffer.from(raw.bytes), Buffer.from(fromFiles));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
