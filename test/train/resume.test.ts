/**
 * A run killed with SIGKILL and resumed with --resume ends in exactly the same state as an
 * uninterrupted run with the same seed: identical metrics (every loss, every step) and a
 * byte-identical final checkpoint (weights, optimiser moments, the --ema weight average,
 * random-stream counters). cpu backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { checkResumeConfig } from '../../src/train/checkpoint.js';
import { RESUME_LOCKED_FIELDS, TRAIN_FLAGS } from '../../src/train/config.js';
import { SAME_RUN_FLAGS } from '../../src/export/overwrite.js';
import { train } from '../../src/train/run.js';
import { CLI, ROOT, tempDir, tinyConfig } from './helpers.js';

const STEPS = 40;

function args(out: string): string[] {
  return [
    ...CLI, 'train', '--dataset', 'ring8', '--algo', 'wgan-gp', '--steps', String(STEPS), '--batch', '32', '--hidden', '16', '--layers', '2',
    '--latent', '2', '--seed', '3', '--backend', 'cpu', '--checkpoint-every', '5', '--sample-every', '0', '--no-export', '--ema', '0.9', '--out', out,
  ];
}

/** metrics.jsonl without the wall-clock field. */
function metrics(out: string): string[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { seconds: _s, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return JSON.stringify(rest);
  });
}

function finalState(out: string): { tensors: Buffer; state: Record<string, unknown> } {
  const dir = join(out, 'checkpoints', `step-${String(STEPS).padStart(9, '0')}`);
  // Wall-clock fields differ between runs: elapsed time, and the log's length (it holds `seconds`).
  const { elapsedSeconds: _e, metricsBytes: _m, ...state } = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
  return { tensors: readFileSync(join(dir, 'tensors.bin')), state };
}

test('SIGKILL + --resume ends in the same state as an uninterrupted run (cpu: identical losses)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const straight = join(dir, 'straight');
    const r = spawnSync(process.execPath, args(straight), { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);

    const killed = join(dir, 'killed');
    const child = spawn(process.execPath, args(killed), { cwd: ROOT, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const ckDir = join(killed, 'checkpoints');
    // Kill as soon as a checkpoint past step 10 exists: mid-run, between checkpoints.
    for (;;) {
      const steps = existsSync(ckDir) ? readdirSync(ckDir).filter((e) => /^step-\d+$/.test(e)).map((e) => Number(e.slice(5))) : [];
      if (steps.some((s) => s >= 10)) break;
      if (child.exitCode !== null) assert.fail('the run ended before it could be killed');
      await sleep(5);
    }
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const partial = metrics(killed);
    assert.ok(partial.length < STEPS, `killed after ${partial.length} steps`);

    const resumed = spawnSync(process.execPath, [...args(killed), '--resume'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming from .*step-0+\d+ \(step \d+\)/);

    assert.deepEqual(metrics(killed), metrics(straight));
    const a = finalState(straight);
    const b = finalState(killed);
    assert.deepEqual(b.state, a.state);
    assert.ok(b.tensors.equals(a.tensors), 'final weights and optimiser state are byte-identical');

    // Without --resume, a run folder that holds checkpoints is refused.
    const again = spawnSync(process.execPath, args(killed), { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /--out: .* is not allowed; expected a folder without checkpoints .*pass --resume/);
    // Resuming with a flag that changes the nets is refused, naming the flag.
    const changed = spawnSync(process.execPath, [...args(killed), '--resume', '--hidden', '32'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(changed.status, 1);
    assert.match(changed.stderr, /--hidden: 32 is not allowed; expected 16, the value the checkpoint/);
  } finally {
    cleanup();
  }
});

test('a checkpoint written before an option existed resumes with that option at its old behaviour, and only then', () => {
  const config = tinyConfig('runs/x', { dataset: 'mnist', conditional: true });
  const saved: Record<string, unknown> = {};
  for (const k of RESUME_LOCKED_FIELDS) saved[k] = config[k];
  delete saved.acWeight;
  delete saved.acWeightG;
  delete saved.gNorm;
  delete saved.ema;
  assert.doesNotThrow(() => checkResumeConfig(config, saved, 'ck'));
  const withHead = tinyConfig('runs/x', { dataset: 'mnist', conditional: true, acWeight: 1 });
  assert.throws(() => checkResumeConfig(withHead, saved, 'ck'), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--ac-weight' && /^0, the value the checkpoint in ck/.test(e.allowed));
  const averaged = tinyConfig('runs/x', { dataset: 'mnist', conditional: true, ema: 0.999 });
  assert.throws(() => checkResumeConfig(averaged, saved, 'ck'), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--ema');
  saved.hidden = 999;
  assert.throws(() => checkResumeConfig(config, saved, 'ck'), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--hidden');
});

test('a checkpoint that saved a flag its run does not read (taken before such flags were refused) still resumes', () => {
  const gan = tinyConfig('runs/x', { algo: 'gan' });
  const saved: Record<string, unknown> = {};
  for (const k of RESUME_LOCKED_FIELDS) saved[k] = gan[k];
  saved.lambda = 5; // `--algo gan --lambda 5`: ignored then, refused now
  saved.imageSize = 32; // `--image-size 32` on ring8
  saved.gCond = 'concat'; // `--g-cond concat` without --conditional
  assert.doesNotThrow(() => checkResumeConfig(gan, saved, 'ck'));
  saved.lr = 1; // a field the run reads still has to match
  assert.throws(() => checkResumeConfig(gan, saved, 'ck'), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--lr');
});

test('train() stops when its signal is aborted: the current step ends, a checkpoint is written, and --resume continues', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let reads = 0;
    // Aborted once the loop has asked 4 times (steps 1–3 ran): the library polls, it installs no handler.
    const signal = {
      get aborted() {
        return ++reads > 3;
      },
    };
    const config = tinyConfig(join(dir, 'run'), { steps: 10 });
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const stopped = await train(config, { progress: false, log: () => {}, signal });
    assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
    assert.equal(stopped.interrupted, true);
    assert.equal(stopped.stepsDone, 3);
    assert.ok(existsSync(join(config.out, 'checkpoints', 'step-000000003', 'state.json')));
    // --resume with fewer --steps than the checkpoint has done is refused, naming both numbers.
    await assert.rejects(train({ ...config, resume: true, steps: 2 }, { progress: false, log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.field, '--steps');
      assert.equal(e.value, 2);
      assert.match(e.allowed, /^at least 3, the step of the checkpoint step-000000003/);
      return true;
    });
    const resumed = await train({ ...config, resume: true }, { progress: false, log: () => {} });
    assert.deepEqual([resumed.interrupted, resumed.stepsDone], [false, 10]);
  } finally {
    cleanup();
  }
});

test('wganx train: SIGTERM stops after the current step with a checkpoint and exit code 143', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'run');
    const child = spawn(process.execPath, [...CLI, 'train', '--dataset', 'ring8', '--steps', '100000', '--batch', '8', '--hidden', '8', '--layers', '2', '--latent', '2', '--backend', 'cpu', '--checkpoint-every', '0', '--sample-every', '0', '--no-export', '--out', out], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!existsSync(join(out, 'metrics.jsonl')) || readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').length < 3) await sleep(50);
    child.kill('SIGTERM');
    assert.equal(await exited, 143, stderr);
    assert.match(stderr, /SIGTERM: stopping after this step/);
    assert.match(stderr, /interrupted at step \d+; checkpoint written/);
    assert.equal(readdirSync(join(out, 'checkpoints')).length, 1);
  } finally {
    cleanup();
  }
});

test('--out naming a file is refused naming --out', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'hostname');
    writeFileSync(file, 'not a folder');
    await assert.rejects(train(tinyConfig(file), { progress: false, log: () => {} }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--out' && /it names a file/.test(e.allowed));
    await assert.rejects(train(tinyConfig(join(file, 'run')), { progress: false, log: () => {} }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--out' && /can be created \(ENOTDIR\)/.test(e.allowed));
  } finally {
    cleanup();
  }
});

test('a finished, exported run continued with --resume and more --steps exports over its own model without --force', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const modelsDir = join(dir, 'models');
    const command = (steps: number, extra = '') => `wganx train --dataset ring8 --steps ${steps} --out ${join(dir, 'grow')}${extra}`;
    const first = tinyConfig(join(dir, 'grow'), { steps: 3, export: true, modelsDir, command: command(3) });
    assert.equal((await train(first, { progress: false, log: () => {} })).exportDir, join(modelsDir, 'grow'));
    const more = { ...first, steps: 5, resume: true, command: command(5, ' --resume --threads 1') };
    const resumed = await train(more, { progress: false, log: () => {} });
    assert.deepEqual([resumed.stepsDone, resumed.exportDir], [5, join(modelsDir, 'grow')]);
    const manifest = JSON.parse(readFileSync(join(modelsDir, 'grow', 'manifest.json'), 'utf8')) as { training: { steps: number } };
    assert.equal(manifest.training.steps, 5);
  } finally {
    cleanup();
  }
});

test('the flags a continued run may change (SAME_RUN_FLAGS) are the train flags outside RESUME_LOCKED_FIELDS, less those naming the run and --strict', () => {
  // --out, --name and --models-dir name the run and its export; --strict decides which files it may read.
  const kept = new Set(['out', 'name', 'modelsDir', 'strict']);
  const free = Object.entries(TRAIN_FLAGS).filter(([k]) => !(RESUME_LOCKED_FIELDS as readonly string[]).includes(k) && !kept.has(k));
  const expected = free.flatMap(([, f]) => (f.type === 'boolean' ? (f.default === true ? [f.flag, `--no-${f.flag.slice(2)}`] : [f.flag]) : [])).sort();
  assert.deepEqual([...SAME_RUN_FLAGS.switches].sort(), expected);
  assert.deepEqual([...SAME_RUN_FLAGS.valued].sort(), free.filter(([, f]) => f.type !== 'boolean').map(([, f]) => f.flag).sort());
});
