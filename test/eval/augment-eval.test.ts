/**
 * `wganx eval augment`: the generated digits are the data set `wganx augment` writes, every arm is
 * trained and scored, the report adds up, a rerun gives the same figures, and models it cannot score
 * are refused naming --model.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import { augment } from '../../src/augment/run.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { AUGMENT_PER_CLASS, CAS_PER_CLASS, evaluateAugmentation, formatAugmentReport, generatedDigits, LOW_DATA_PER_CLASS } from '../../src/eval/augment-eval.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODEL = join(ROOT, 'models', 'mnist-cgan');
const tmp = mkdtempSync(join(tmpdir(), 'wganx-eval-augment-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The uint8 array of a .npy member (C order, '|u1'). */
function npyBytes(npy: Uint8Array): Uint8Array {
  const headerLength = npy[8] | (npy[9] << 8);
  const header = Buffer.from(npy.subarray(10, 10 + headerLength)).toString('latin1');
  assert.match(header, /'descr': '\|u1'/);
  return npy.subarray(10 + headerLength);
}

test('the generated digits are exactly what wganx augment --per-class writes (same indices, classes and 8-bit pixels)', async () => {
  const out = join(tmp, 'set');
  await augment({ model: MODEL, perClass: 3, format: 'npz', seed: 5, out, device: 'cpu' }, { log: () => {}, progress: false });
  const zip = unzipSync(readFileSync(join(out, 'part-000000.npz')));
  const fromFiles = npyBytes(zip['images.npy']);
  const { digits, bytes } = await generatedDigits(MODEL, 5, 3);
  assert.equal(bytes.length, 30 * 784);
  assert.deepEqual(Buffer.from(bytes), Buffer.from(fromFiles));
  assert.deepEqual([...digits.labels], Array.from({ length: 30 }, (_, j) => j % 10));
  assert.ok(digits.images.every((v) => v >= -1 && v <= 1));
});

test('every arm is trained and scored on the held-out split, the comparisons add up, and a rerun gives the same figures', async () => {
  const lines: string[] = [];
  const a = await evaluateAugmentation({ modelDir: MODEL, seed: 1, steps: 10, log: (l) => lines.push(l) });
  const expected = [...CAS_PER_CLASS.flatMap((k) => [[k, 0], [0, k]]), ...LOW_DATA_PER_CLASS.flatMap((k) => [[k, 0], [k, AUGMENT_PER_CLASS]])];
  assert.deepEqual(a.arms.map((x) => [x.realPerClass, x.generatedPerClass]), expected);
  assert.equal(lines.length, expected.length);
  assert.equal(a.testDigits, 2000);
  for (const arm of a.arms) assert.ok(arm.accuracy > 0.1 && arm.accuracy <= 1, `${arm.accuracy} is better than chance after 10 steps`);
  // The comparisons are the arms' own accuracies.
  const acc = (real: number, gen: number) => a.arms.find((x) => x.realPerClass === real && x.generatedPerClass === gen)!.accuracy;
  assert.deepEqual(a.cas.map((c) => [c.perClass, c.real, c.generated]), CAS_PER_CLASS.map((k) => [k, acc(k, 0), acc(0, k)]));
  assert.deepEqual(a.lowData.map((l) => [l.realPerClass, l.real, l.augmented]), LOW_DATA_PER_CLASS.map((k) => [k, acc(k, 0), acc(k, AUGMENT_PER_CLASS)]));
  assert.match(formatAugmentReport(a), /CAS, 100 per class .* %/);
  const b = await evaluateAugmentation({ modelDir: MODEL, seed: 1, steps: 10 });
  assert.deepEqual(b.arms.map((x) => x.accuracy), a.arms.map((x) => x.accuracy));
});

test('models it cannot score are refused naming --model', async () => {
  await assert.rejects(evaluateAugmentation({ modelDir: join(ROOT, 'models', 'ring'), steps: 10 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--model' && /a conditional MNIST generator/.test(e.allowed));
  await assert.rejects(evaluateAugmentation({ modelDir: join(tmp, 'nope'), steps: 10 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--model');
  await assert.rejects(evaluateAugmentation({ modelDir: MODEL, steps: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--steps');
});
