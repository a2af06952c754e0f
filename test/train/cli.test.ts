/**
 * `wganx train` as a user runs it: bad flags are refused before anything runs, with the flag, the
 * value and the allowed range on one line of stderr; and per-algorithm defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { ALGORITHM_DEFAULTS, resolveTrainConfig } from '../../src/train/config.js';
import { CLI, ROOT } from './helpers.js';

function run(args: string[]) {
  return spawnSync(process.execPath, [...CLI, 'train', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
}

test('usage errors name the flag, the value and the allowed range (exit 2)', () => {
  const cases: Array<[string[], RegExp[]]> = [
    [['--batch', '0'], [/--batch/, /"0"/, /\[2, 65536\]/]],
    [['--steps', '1.5'], [/--steps/, /"1\.5"/, /integer in \[1, /]],
    [['--lr', '-1'], [/--lr/, /"-1"/, /number in/]],
    [['--beta1', '1'], [/--beta1/, /"1"/, /\[0, 1\)/]],
    [['--algo', 'wgan-xx'], [/--algo/, /wgan-xx/, /wgan-gp, wgan, gan/]],
    [['--backend', 'tpu'], [/--backend/, /tpu/, /auto, tensorflow, webgpu, wasm, cpu/]],
    [['--critic-activation', 'sigmoid'], [/--critic-activation/, /sigmoid/, /leaky_relu, relu, tanh/]],
  ];
  for (const [flags, patterns] of cases) {
    const r = run(['--dataset', 'ring8', '--out', 'runs/never', ...flags]);
    assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
    const first = r.stderr.split('\n')[0];
    for (const p of patterns) assert.match(first, p, `${flags.join(' ')} → ${first}`);
  }
});

test('bad combinations are refused with one line naming the flag (exit 1)', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--dataset', 'nowhere/at/all'], /--dataset: "nowhere\/at\/all" is not allowed; expected ring8, grid25, swissroll, mnist or an existing folder/],
    [['--dataset', 'ring8', '--conditional'], /--conditional: true is not allowed; expected only with a labelled data set/],
    [['--dataset', 'ring8', '--arch', 'dcgan'], /--arch: "dcgan" is not allowed; expected mlp for the 2-D point data set ring8/],
    [['--dataset', 'mnist', '--image-size', '32'], /--image-size: 32 is not allowed; expected 28 for mnist/],
    [['--dataset', 'mnist', '--ac-weight', '1'], /--ac-weight: 1 is not allowed; expected 0 without --conditional/],
    [['--dataset', 'mnist', '--conditional', '--ac-weight-g', '0.5'], /--ac-weight-g: 0\.5 is not allowed; expected 0 unless --ac-weight > 0/],
    [['--dataset', 'ring8', '--out', 'runs/UPPER case'], /--name \(from the last segment of --out\): "upper case" is not allowed/],
    // Flags the run would not read are refused, not ignored.
    [['--dataset', 'ring8', '--image-size', '32'], /--image-size: 32 is not allowed; expected nothing for the 2-D point data set ring8 \(image data sets only\)/],
    [['--dataset', 'mnist', '--data-scale', '10'], /--data-scale: 10 is not allowed; expected 1 for mnist \(it scales 2-D point data sets only\)/],
    [['--dataset', 'mnist', '--resize', 'pad'], /--resize: "pad" is not allowed; expected nothing for mnist \(image folders only\)/],
    [['--dataset', 'ring8', '--algo', 'gan', '--lambda', '5'], /--lambda: 5 is not allowed; expected nothing for --algo gan/],
    [['--dataset', 'ring8', '--clip', '0.1'], /--clip: 0\.1 is not allowed; expected nothing for --algo wgan-gp/],
    [['--dataset', 'mnist', '--arch', 'dcgan', '--layers', '4'], /--layers: 4 is not allowed; expected nothing for --arch dcgan \(its depth follows --image-size\)/],
    [['--dataset', 'mnist', '--arch', 'dcgan', '--g-norm', 'batch'], /--g-norm: "batch" is not allowed; expected nothing for --arch dcgan \(its generator has batch norm after every layer but the last\)/],
    [['--dataset', 'mnist', '--g-cond', 'concat'], /--g-cond: "concat" is not allowed; expected nothing without --conditional/],
    [['--dataset', 'mnist', '--d-cond', 'concat'], /--d-cond: "concat" is not allowed; expected nothing without --conditional/],
    [['--dataset', 'mnist', '--conditional', '--arch', 'resnet', '--g-cond', 'concat'], /--g-cond: "concat" is not allowed; expected nothing for --arch resnet \(its generator takes the label by conditional batch norm\)/],
    [['--dataset', 'ring8', '--algo', 'wgan', '--beta1', '0.5'], /--beta1: 0\.5 is not allowed; expected 0 for --algo wgan \(its rmsprop has no momentum; --beta2 is its decay α\)/],
  ];
  for (const [flags, pattern] of cases) {
    const args = flags.includes('--out') ? flags : [...flags, '--out', 'runs/never'];
    const r = run(args);
    assert.equal(r.status, 1, `${flags.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }
});

test('--holdout beside a held-out folder is refused; the same flags at their defaults, or given where they apply, are not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wganx-flags-'));
  try {
    mkdirSync(join(dir, 'holdout'));
    assert.throws(() => resolveTrainConfig({ dataset: dir, holdout: 0.2, out: 'runs/x' }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--holdout' && /nothing beside a held-out folder \(.*holdout is held out as it is\)/.test(e.allowed));
    assert.throws(() => resolveTrainConfig({ dataset: dir, holdout: 0.2, holdoutDir: join(dir, 'holdout'), out: 'runs/x' }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--holdout');
    assert.equal(resolveTrainConfig({ dataset: dir, holdoutDir: join(dir, 'holdout'), resize: 'pad', strict: true, out: 'runs/x' }).resize, 'pad');
    assert.equal(resolveTrainConfig({ dataset: 'ring8', algo: 'wgan', clip: 0.02, dataScale: 10, strict: false, out: 'runs/x' }).clip, 0.02);
    assert.equal(resolveTrainConfig({ dataset: 'mnist', imageSize: 28, dataScale: 1, layers: 2, out: 'runs/x' }).layers, 2);
    assert.equal(resolveTrainConfig({ dataset: 'ring8', algo: 'wgan', beta1: 0, out: 'runs/x' }).beta1, 0);
    assert.equal(resolveTrainConfig({ dataset: 'mnist', conditional: true, arch: 'dcgan', gCond: 'concat', dCond: 'concat', out: 'runs/x' }).gCond, 'concat');
    assert.equal(resolveTrainConfig({ dataset: 'mnist', conditional: true, arch: 'resnet', dCond: 'concat', out: 'runs/x' }).dCond, 'concat');
    assert.equal(resolveTrainConfig({ dataset: 'mnist', gNorm: 'batch', out: 'runs/x' }).gNorm, 'batch');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('per-algorithm defaults follow the WGAN and WGAN-GP papers', () => {
  const gp = resolveTrainConfig({ dataset: 'ring8', algo: 'wgan-gp', out: 'runs/x' });
  assert.deepEqual([gp.optimizer, gp.lr, gp.beta1, gp.beta2, gp.lambda, gp.nCritic], ['adam', 1e-4, 0, 0.9, 10, 5]);
  const clip = resolveTrainConfig({ dataset: 'ring8', algo: 'wgan', out: 'runs/x' });
  assert.deepEqual([clip.optimizer, clip.lr, clip.clip, clip.nCritic], ['rmsprop', 5e-5, 0.01, 5]);
  const gan = resolveTrainConfig({ dataset: 'ring8', algo: 'gan', out: 'runs/x' });
  assert.deepEqual([gan.optimizer, gan.lr, gan.beta1, gan.nCritic], ['adam', ALGORITHM_DEFAULTS.gan.lr, 0.5, 1]);
  // Explicit flags win over the defaults.
  assert.equal(resolveTrainConfig({ dataset: 'ring8', algo: 'wgan', lr: 1e-3, out: 'runs/x' }).lr, 1e-3);
  assert.throws(() => resolveTrainConfig({ dataset: 'ring8', batch: 1, out: 'runs/x' }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--batch' && /\[2, 65536\]/.test(e.allowed));
});

test('--help lists every flag of the issue with its help text', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  // Each default is said once: --strict's help names what happens without it, commander adds the default.
  assert.match(r.stdout.replace(/\s+/g, ' '), /--strict image folders: refuse [^()]* \(without it: skip and report them\) \(default: false\)/);
  for (const flag of ['--dataset', '--algo', '--arch', '--conditional', '--steps', '--batch', '--n-critic', '--warmup-critic', '--lambda', '--clip', '--lr', '--beta1', '--beta2', '--latent', '--seed', '--out', '--resume', '--backend', '--sample-every', '--checkpoint-every']) {
    assert.match(r.stdout, new RegExp(`${flag}\\b`), flag);
  }
});

test('wganx with no command prints the help on stderr and exits 2 (a usage error); --help exits 0', () => {
  const bare = spawnSync(process.execPath, CLI, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(bare.status, 2);
  assert.match(bare.stderr, /^Usage: wganx \[options\] \[command\]/);
  const help = spawnSync(process.execPath, [...CLI, '--help'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: wganx/);
});
