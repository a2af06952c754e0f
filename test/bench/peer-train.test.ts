/**
 * The PyTorch peer (bench/peer-train.ts + bench/torch_wgan_gp.py): two steps on a tiny labelled
 * 16 px folder leave a model folder that the runtime opens (manifest schema, sha256, parity) and
 * that samples images of the folder's shape. Skipped, saying why, where PyTorch is not installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { torchMissing } from '../../bench/torch-peer.js';
import { openGenerator } from '../../src/runtime/node.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'bench', 'peer-train.ts');
const SIZE = 16;
const CLASSES = ['circle', 'square'];
const missing = torchMissing();
const skip = missing ? `PyTorch is missing: ${missing}` : false;

const root = mkdtempSync(join(tmpdir(), 'wganx-peer-'));
const data = join(root, 'data');
const out = join(root, 'runs', 'peer', 'tiny-peer');

/** A 20×20 RGB picture of class `cls` (a disc or a square of colour `k`), resized by the loader. */
async function picture(cls: number, k: number): Promise<Buffer> {
  const side = 20;
  const px = Buffer.alloc(side * side * 3, 255);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const inside = cls === 0 ? (x - 10) ** 2 + (y - 10) ** 2 < 36 + 4 * k : Math.abs(x - 10) < 5 + k && Math.abs(y - 10) < 5 + k;
      if (inside) px.set([40 * k, 200 - 40 * k, 120], (y * side + x) * 3);
    }
  }
  return sharp(px, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
}

before(async () => {
  if (skip) return;
  for (const [split, count] of [['train', 4], ['holdout', 1]] as const) {
    for (const [c, name] of CLASSES.entries()) {
      const dir = join(data, split, name);
      mkdirSync(dir, { recursive: true });
      for (let k = 0; k < count; k++) await sharp(await picture(c, k + (split === 'holdout' ? 3 : 0))).toFile(join(dir, `${k}.png`));
    }
  }
});
after(() => rmSync(root, { recursive: true, force: true }));

test('two PyTorch steps on a tiny folder give a model folder that opens and samples', { skip, timeout: 240_000 }, async () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, '--data', data, '--steps', '2', '--seed', '3', '--image-size', String(SIZE), '--hidden', '4',
    '--batch', '8', '--latent', '8', '--diffaugment', 'color,translation,cutout', '--threads', '1', '--log-every', '1', '--out', out], {
    cwd: ROOT, encoding: 'utf8', timeout: 220_000, env: { ...process.env, WGANX_CACHE_DIR: join(root, 'cache') },
  });
  assert.equal(r.status, 0, `bench:peer failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /step 2\/2 {2}W /, 'a progress line per step');
  assert.ok(existsSync(join(out, 'checkpoint.pt')), 'a checkpoint to resume from');
  const g = await openGenerator(out, { device: 'cpu', threads: 1 });
  try {
    const m = g.manifest;
    assert.equal(m.name, 'tiny-peer');
    assert.deepEqual(m.conditional, { numClasses: 2, labels: CLASSES });
    assert.deepEqual(m.inputs.map((i) => [i.name, i.dtype, i.shape]), [['z', 'float32', ['batch', 8]], ['label', 'int64', ['batch', 1]]]);
    assert.deepEqual(m.outputs[0].shape, ['batch', SIZE, SIZE, 3]);
    assert.match(m.training!.backend, /^pytorch \d/);
    assert.match(m.export.tool, /^torch\.onnx \d/);
    assert.equal(m.export.opset, 17);
    assert.equal(m.training!.steps, 2);
    assert.equal(m.training!.dataset, data);
    const hp = m.training!.hyperparameters;
    assert.deepEqual([hp.imageSize, hp.resize, hp.background, hp.gCond, hp.acWeight, hp.diffaugment], [SIZE, 'cover', 'white', 'concat', 1, 'color,translation,cutout']);
    assert.deepEqual(Object.keys(m.export.parity.maxAbsDiff).sort(), ['1', '64']);
    for (const d of Object.values(m.export.parity.maxAbsDiff)) assert.ok(d <= 1e-4, `parity ${d}`);
    const { data: samples, dims, labels } = await g.sample({ seed: 0, n: 5, cls: 1 });
    assert.deepEqual(dims, [5, SIZE, SIZE, 3]);
    assert.deepEqual([...labels!], [1, 1, 1, 1, 1]);
    assert.ok(samples.every((v) => v >= -1 && v <= 1), 'tanh outputs in [-1, 1]');
  } finally {
    await g.dispose();
  }
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; penalty: number; classLoss: number });
  assert.deepEqual(metrics.map((x) => x.step), [1, 2]);
  assert.ok(metrics.every((x) => Number.isFinite(x.penalty) && Number.isFinite(x.classLoss)));
});

test('--unconditional: the recipe without its conditioning flags (they would be refused) trains an unconditional peer', { skip, timeout: 240_000 }, async () => {
  const plain = join(root, 'runs', 'peer', 'tiny-plain');
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, '--data', data, '--unconditional', '--steps', '1', '--seed', '3', '--image-size', String(SIZE), '--hidden', '4',
    '--batch', '8', '--latent', '8', '--threads', '1', '--out', plain], {
    cwd: ROOT, encoding: 'utf8', timeout: 220_000, env: { ...process.env, WGANX_CACHE_DIR: join(root, 'cache') },
  });
  assert.equal(r.status, 0, `bench:peer --unconditional failed:\n${r.stdout}\n${r.stderr}`);
  const manifest = JSON.parse(readFileSync(join(plain, 'manifest.json'), 'utf8'));
  assert.equal(manifest.conditional, null);
  assert.deepEqual(manifest.inputs.map((i: { name: string }) => i.name), ['z']);
});
