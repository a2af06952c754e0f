/** `wganx eval --train-evaluator` refuses to replace an evaluator (the shipped one by default) without --force, before training. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkEvaluatorFolder, trainEvaluatorCommand } from '../../src/eval/evaluator-export.js';
import { ModelFolderTaken } from '../../src/export/index.js';

const repo = join(import.meta.dirname, '..', '..');
const root = mkdtempSync(join(tmpdir(), 'wganx-evaluator-'));
after(() => rmSync(root, { recursive: true, force: true }));
/** A copy of the shipped evaluator (the tests never write into models/). */
const held = join(root, 'mnist-evaluator');
cpSync(join(repo, 'models', 'mnist-evaluator'), held, { recursive: true });
const spec = readFileSync(join(held, 'evaluator.json'), 'utf8');

test('an evaluator folder is refused without force, naming what it holds; an empty or new folder and force pass', async () => {
  await assert.rejects(checkEvaluatorFolder(held), (e: unknown) => {
    assert.ok(e instanceof ModelFolderTaken);
    assert.match(e.message, /mnist-evaluator already holds an MNIST evaluator \(evaluator\.json: sha256 [0-9a-f]{12}…, held-out accuracy \d+\.\d\d %\), which every accuracy and Fréchet distance measured with it depends on; nothing was written\. Pass --force/);
    return true;
  });
  await checkEvaluatorFolder(held, { force: true });
  await checkEvaluatorFolder(join(root, 'new'));
  mkdirSync(join(root, 'empty'));
  await checkEvaluatorFolder(join(root, 'empty'));
});

test('trainEvaluatorCommand refuses before training: no epoch runs, the folder is untouched', async () => {
  const lines: string[] = [];
  await assert.rejects(trainEvaluatorCommand({ outDir: held, config: { epochs: 1 }, command: 'test', json: false, log: (l) => void lines.push(l), print: () => {} }), ModelFolderTaken);
  assert.deepEqual(lines, []);
  assert.equal(readFileSync(join(held, 'evaluator.json'), 'utf8'), spec);
});

test('wganx eval --train-evaluator --out <an evaluator> exits 1 with one line naming --force', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'src', 'cli.ts'), 'eval', '--train-evaluator', '--epochs', '1', '--out', held], { encoding: 'utf8', cwd: repo });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^wganx: .*mnist-evaluator already holds an MNIST evaluator .*Pass --force to replace it, or write to another folder$/);
  assert.equal(readFileSync(join(held, 'evaluator.json'), 'utf8'), spec);
});
