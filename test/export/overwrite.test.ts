/** A model folder holding a different model is not replaced without force; stale files of an earlier export go. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkModelFolder, exportModel, ModelFolderTaken, sameTrainingRun } from '../../src/export/index.js';
import type { TrainingProvenance } from '../../src/core/manifest.js';
import { saveLayersModel } from '../../src/tfjs/model-files.js';

await tf.setBackend('cpu');
const root = mkdtempSync(join(tmpdir(), 'wganx-overwrite-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A tiny point generator; `seed` picks its weights. */
function tiny(seed: number): tf.LayersModel {
  return tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 4, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }), tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) })] });
}

const training = (command: string): TrainingProvenance => ({ algorithm: 'wgan-gp', dataset: 'ring8', steps: 10, hyperparameters: {}, command, backend: 'cpu', durationSeconds: 1, metrics: {} });
const files = (dir: string) => ({ onnx: readFileSync(join(dir, 'generator.onnx')), manifest: readFileSync(join(dir, 'manifest.json'), 'utf8') });

test('exportModel refuses a folder holding a different model, writes nothing, and replaces it with force', async () => {
  const dir = join(root, 'models', 'ring');
  await exportModel(tiny(1), dir, { name: 'ring', kind: 'points', training: training('wganx train --dataset ring8 --out runs/ring') });
  const before = files(dir);
  await assert.rejects(exportModel(tiny(7), dir, { name: 'ring', kind: 'points', training: training('wganx train --dataset ring8 --out runs/ring --lr 1e-3') }), (e: unknown) => {
    assert.ok(e instanceof ModelFolderTaken);
    assert.match(
      e.message,
      /^.*models\/ring already holds a different model \("ring" version 1, sha256 [0-9a-f]{12}…, trained by `wganx train --dataset ring8 --out runs\/ring`\); nothing was written\. Pass --force to replace it, or write to another folder$/,
    );
    return true;
  });
  assert.deepEqual(files(dir), before, 'the folder is untouched');
  // A checkpoint's export records its own command: named as what exported the model.
  const fromCheckpoint = join(root, 'models', 'from-checkpoint');
  await exportModel(tiny(11), fromCheckpoint, { name: 'from-checkpoint', kind: 'points', training: training('wganx export --checkpoint runs/ring --out models/ring') });
  await assert.rejects(exportModel(tiny(12), fromCheckpoint, { name: 'from-checkpoint', kind: 'points' }), /, exported by `wganx export --checkpoint runs\/ring --out models\/ring`\); nothing was written/);
  // A model without training provenance, other weights: refused too.
  await assert.rejects(exportModel(tiny(7), dir, { name: 'ring', kind: 'points' }), ModelFolderTaken);
  const forced = await exportModel(tiny(7), dir, { name: 'ring', kind: 'points', force: true });
  assert.equal(files(dir).manifest, `${JSON.stringify(forced.manifest, null, 2)}\n`);
  assert.notDeepEqual(files(dir).onnx, before.onnx);
});

test('the same model may be written again without force: the same weights, or the same training command (--resume, --force aside)', async () => {
  const dir = join(root, 'models', 'same');
  const model = tiny(3);
  await exportModel(model, dir, { name: 'same', kind: 'points' });
  await exportModel(model, dir, { name: 'same', kind: 'points', opset: 17 }); // re-export of the same weights
  const cmd = 'wganx train --dataset ring8 --out runs/same --steps 100';
  await exportModel(tiny(4), dir, { name: 'same', kind: 'points', training: training(cmd), force: true });
  const continued = tiny(5);
  await exportModel(continued, dir, { name: 'same', kind: 'points', training: training(`${cmd} --resume`) }); // the run, continued
  assert.equal(sameTrainingRun(cmd, `${cmd} --resume --force`), true);
  // A continued run may change its steps, backend, threads, cadences and end-of-run switches.
  assert.equal(sameTrainingRun(cmd, `${cmd.replace('100', '200')} --resume --threads 1 --backend=cpu --log-every 5 --no-eval`), true);
  assert.equal(sameTrainingRun(cmd, `${cmd} --lr 1e-3`), false);
  // A fresh run (no --resume) with other steps is another model.
  assert.equal(sameTrainingRun(cmd, cmd.replace('100', '10')), false);
  assert.equal(sameTrainingRun(cmd, cmd.replace('runs/same', 'runs/other')), false);
  assert.equal(sameTrainingRun(cmd, `${cmd} --name other`), false);
  // The same weights exported bare over the trained model would drop its provenance: refused, named.
  await assert.rejects(exportModel(continued, dir, { name: 'same', kind: 'points' }), (e: unknown) => {
    assert.ok(e instanceof ModelFolderTaken);
    assert.match(e.message, /already holds this model with its training provenance \("same" version \d+, .*trained by `wganx train --dataset ring8 --out runs\/same --steps 100 --resume`\), which an export without them would drop \(`wganx export --checkpoint <run folder>` keeps them\); nothing was written\. Pass --force/);
    return true;
  });
  await exportModel(continued, dir, { name: 'same', kind: 'points', training: training(cmd) }); // with it: the same run
  // Before training (no graph yet): the command alone decides.
  await checkModelFolder(dir, { training: { command: `${cmd} --resume` } });
  await assert.rejects(checkModelFolder(dir, { training: { command: 'wganx train --dataset grid25 --out runs/same' } }), ModelFolderTaken);
  await checkModelFolder(dir, { training: { command: 'wganx train --dataset grid25 --out runs/same' }, force: true });
  // No manifest.json: nothing to protect (new, empty, or not yet a folder).
  await checkModelFolder(join(root, 'models', 'new'), { training: null });
  mkdirSync(join(root, 'models', 'empty'), { recursive: true });
  await checkModelFolder(join(root, 'models', 'empty'), {});
  // A manifest.json that cannot be read is something else's folder: refused.
  mkdirSync(join(root, 'models', 'broken'), { recursive: true });
  writeFileSync(join(root, 'models', 'broken', 'manifest.json'), '{oops');
  await assert.rejects(checkModelFolder(join(root, 'models', 'broken'), {}), /holds a different model \(a manifest\.json that cannot be read: manifest\.json is not valid JSON/);
});

test('exporting the same model again writes the same bytes (its createdAt is kept): a server watching the folder sees no new version', async () => {
  const dir = join(root, 'models', 'again');
  const model = tiny(21);
  await exportModel(model, dir, { name: 'again', kind: 'points' });
  const first = files(dir);
  await new Promise((r) => setTimeout(r, 20)); // a later clock
  await exportModel(model, dir, { name: 'again', kind: 'points' });
  assert.deepEqual(files(dir), first);
  // Other weights (forced over it): a new export time.
  await exportModel(tiny(22), dir, { name: 'again', kind: 'points', force: true });
  assert.notEqual(JSON.parse(files(dir).manifest).export.createdAt, JSON.parse(first.manifest).export.createdAt);
});

test('re-exporting without fp16 removes the generator.fp16.onnx of an earlier export', async () => {
  const dir = join(root, 'models', 'half');
  const model = tiny(9);
  const first = await exportModel(model, dir, { name: 'half', kind: 'points', fp16: true });
  assert.ok(first.fp16Path && existsSync(first.fp16Path));
  const second = await exportModel(model, dir, { name: 'half', kind: 'points' });
  assert.equal(second.manifest.export.fp16, null);
  assert.equal(existsSync(join(dir, 'generator.fp16.onnx')), false, 'no stale float16 file beside a manifest that says fp16: null');
});

test('wganx export refuses to replace another model (exit 1, one line naming --force) and replaces it with --force', async () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8' });
  const a = join(root, 'tfjs', 'a');
  const b = join(root, 'tfjs', 'b');
  await saveLayersModel(tiny(11), a);
  await saveLayersModel(tiny(12), b);
  const out = join(root, 'cli', 'pts');
  assert.equal(cli(['export', '--model', a, '--out', out]).status, 0);
  assert.equal(cli(['export', '--model', a, '--out', out]).status, 0, 'the same model again');
  const before = files(out);
  const refused = cli(['export', '--model', b, '--out', out]);
  assert.equal(refused.status, 1, refused.stderr);
  assert.equal(refused.stderr.trim().split('\n').filter((l) => l.startsWith('wganx:')).length, 1, refused.stderr);
  assert.match(refused.stderr, /^wganx: .*cli\/pts already holds a different model \("pts" version 1, sha256 [0-9a-f]{12}…, exported without training provenance\); nothing was written\. Pass --force/m);
  assert.deepEqual(files(out), before, 'still the first model, untouched');
  const forced = cli(['export', '--model', b, '--out', out, '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.notDeepEqual(files(out).onnx, before.onnx);
});
