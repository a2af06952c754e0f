/**
 * `wganx eval` as a user runs it: the built-in CLI on tiny exported point generators whose toy
 * metrics are known exactly, plus the error paths (exit code and one line on stderr).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportModel } from '../../src/export/index.js';
import { parseManifest } from '../../src/core/manifest.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { evaluateModel, updateManifestMetrics } from '../../src/eval/command.js';

await tf.setBackend('cpu');
const root = mkdtempSync(join(tmpdir(), 'wganx-eval-cli-'));
const repo = join(import.meta.dirname, '..', '..');
const cli = join(repo, 'src', 'cli.ts');

function provenance(dataset: string) {
  return { algorithm: 'wgan-gp', dataset, steps: 0, hyperparameters: {}, command: 'test', backend: 'cpu', durationSeconds: 0, metrics: {} };
}

/** A point generator that ignores z and always outputs `point` (Dense with a zero kernel). */
async function constantGenerator(name: string, point: [number, number], dataset: string | null): Promise<string> {
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
  m.layers[0].setWeights([tf.zeros([4, 2]), tf.tensor1d(point)]);
  const dir = join(root, name);
  await exportModel(m, dir, { name, kind: 'points', training: dataset === null ? null : provenance(dataset) });
  m.dispose();
  return dir;
}

function run(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'eval', ...args], { encoding: 'utf8', cwd: repo });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

let ring: string;
let grid: string;
before(async () => {
  ring = await constantGenerator('ring-collapsed', [Math.SQRT1_2, Math.SQRT1_2], 'ring8');
  grid = await constantGenerator('grid-between', [1, 1], 'grid25');
});
after(() => rmSync(root, { recursive: true, force: true }));

test('wganx eval --json on a ring generator collapsed onto mode 1: 1/8 modes, 100% high quality, KL = log 8', () => {
  const r = run('--model', ring, '--json', '--no-figures');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.dataset, 'ring8');
  assert.equal(report.samples, 2500);
  assert.equal(report.toy.modesCovered, 1);
  assert.equal(report.toy.perMode[1].highQuality, 2500);
  assert.equal(report.toy.highQualityPercent, 100);
  assert.ok(Math.abs(report.toy.reverseKl - Math.log(8)) < 1e-9);
  assert.deepEqual(report.figures, []);
});

test('a table by default, a PNG figure, and --update-manifest writes the metrics', () => {
  const figures = join(root, 'fig');
  const r = run('--model', grid, '--samples', '100', '--figures', figures, '--update-manifest');
  assert.equal(r.code, 0, r.stderr);
  // (1, 1) is equidistant from four grid modes and 1.41 from each: never high quality.
  assert.match(r.stdout, /modes covered\s+0 \/ 25/);
  assert.match(r.stdout, /high-quality samples\s+0\.0 %/);
  assert.deepEqual([...readFileSync(join(figures, 'samples.png')).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const manifest = parseManifest(JSON.parse(readFileSync(join(grid, 'manifest.json'), 'utf8')));
  assert.equal(manifest.training!.metrics.modesCovered, 0);
  assert.equal(manifest.training!.metrics.modes, 25);
  assert.equal(manifest.training!.metrics.highQualityPercent, 0);
  assert.equal(manifest.training!.metrics.evalSamples, 100);
});

test('usage errors exit 2; bad models exit 1 with one line naming the field, the value and what is allowed', async () => {
  const none = run();
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--model/);
  const badSamples = run('--model', ring, '--samples', '1');
  assert.equal(badSamples.code, 2);
  assert.match(badSamples.stderr, /--samples/);

  const missing = run('--model', join(root, 'nope'));
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.split('\n').length, 1);
  assert.match(missing.stderr, /^wganx: --model: ".*nope" is not allowed; expected a model folder holding manifest\.json, e\.g\. models\/<name>, where wganx train exports \(there is no such folder\)/);
  const noManifest = run('--model', root);
  assert.match(noManifest.stderr, /^wganx: --model: .* \(it holds no manifest\.json\)/);

  const swiss = await constantGenerator('swiss', [0, 0], 'swissroll');
  const r = run('--model', swiss, '--no-figures');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /manifest\.training\.dataset: "swissroll" is not allowed; expected one of ring8, grid25, mnist/);

  const untrained = await constantGenerator('untrained', [0, 0], null);
  await assert.rejects(evaluateModel({ modelDir: untrained, figuresDir: null }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'manifest.training');
  await assert.rejects(updateManifestMetrics(untrained, { x: 1 }), InvalidArgumentError);

  // A broken manifest is refused before anything runs.
  const broken = join(root, 'broken');
  rmSync(broken, { recursive: true, force: true });
  await constantGenerator('broken', [0, 0], 'ring8');
  const raw = JSON.parse(readFileSync(join(broken, 'manifest.json'), 'utf8'));
  raw.latent.dim = -1;
  writeFileSync(join(broken, 'manifest.json'), JSON.stringify(raw));
  const b = run('--model', broken, '--no-figures');
  assert.equal(b.code, 1);
  assert.match(b.stderr, /latent\.dim/);
});

test('the evaluator default is the shipped one inside the package, whatever the working directory (wganx as a dependency)', () => {
  const elsewhere = mkdtempSync(join(tmpdir(), 'wganx-eval-cwd-'));
  try {
    const tsx = join(repo, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
    const r = spawnSync(process.execPath, ['--import', tsx, cli, 'eval', '--model', join(repo, 'models', 'mnist-dcgan'), '--samples', '20', '--no-figures', '--json'], { encoding: 'utf8', cwd: elsewhere });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.mnist.evaluator.dir, join(repo, 'models', 'mnist-evaluator'));
    assert.equal(typeof report.mnist.frechetDistance, 'number');
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});
