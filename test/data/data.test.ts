/**
 * Training data sets: seeded toy mixtures, the MNIST training split, and image folders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { loadImageFolder, mnistTrainingSet, toyDataset, TOY_SPECS } from '../../src/data/index.js';
import { loadMnist } from '../../src/data/mnist.js';
import { CounterRng } from '../../src/core/random.js';
import { tempDir } from '../train/helpers.js';

test('toy mixtures: samples sit around the means with the documented σ, modes equally used, seeded', () => {
  for (const name of ['ring8', 'grid25'] as const) {
    const { means, sigma } = TOY_SPECS[name];
    const ds = toyDataset(name);
    const n = 20_000;
    const { x } = ds.sample(new CounterRng(3, 2), n);
    const counts = new Array(means.length).fill(0);
    let sq = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Infinity;
      means.forEach(([mx, my], k) => {
        const d = (x[2 * i] - mx) ** 2 + (x[2 * i + 1] - my) ** 2;
        if (d < bestD) [best, bestD] = [k, d];
      });
      counts[best]++;
      sq += bestD;
    }
    const estSigma = Math.sqrt(sq / (2 * n));
    assert.ok(Math.abs(estSigma / sigma - 1) < 0.03, `${name}: σ ≈ ${estSigma}`);
    for (const c of counts) assert.ok(Math.abs(c / n - 1 / means.length) < 0.25 / means.length, `${name}: ${counts}`);
    // Same seed, same samples.
    assert.deepEqual([...ds.sample(new CounterRng(3, 2), n).x.subarray(0, 10)], [...x.subarray(0, 10)]);
  }
  const ring = TOY_SPECS.ring8.means;
  assert.ok(ring.every(([a, b]) => Math.abs(Math.hypot(a, b) - 1) < 1e-12));
  assert.deepEqual([...new Set(TOY_SPECS.grid25.means.flat())].sort((a, b) => a - b), [-4, -2, 0, 2, 4]);
});

test('the MNIST training set is the 8,000-digit training split (held-out digits never appear)', () => {
  const ds = mnistTrainingSet();
  assert.equal(ds.size, 8000);
  assert.deepEqual(ds.shape, [28, 28, 1]);
  assert.deepEqual(ds.labels, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const train = loadMnist('train');
  const held = loadMnist('heldout');
  // Every sampled digit is a training digit, bit for bit.
  const key = (a: Float32Array) => Array.from(a.subarray(200, 600)).join(',');
  const trainKeys = new Set(Array.from({ length: train.count }, (_, i) => key(train.images.subarray(i * 784, (i + 1) * 784))));
  const heldKeys = new Set(Array.from({ length: held.count }, (_, i) => key(held.images.subarray(i * 784, (i + 1) * 784))));
  const { x, labels } = ds.sample(new CounterRng(1, 2), 300);
  for (let i = 0; i < 300; i++) {
    const k = key(x.subarray(i * 784, (i + 1) * 784));
    assert.ok(trainKeys.has(k));
    if (!trainKeys.has(k) || heldKeys.has(k)) assert.fail('a sampled digit is not (only) a training digit');
    assert.ok(labels![i] >= 0 && labels![i] < 10);
  }
});

async function writeImage(file: string, rgb: boolean, value: number): Promise<void> {
  const channels = rgb ? 3 : 1;
  const px = Buffer.alloc(12 * 10 * channels, value);
  if (rgb) for (let i = 0; i < px.length; i += 3) px[i] = 255 - value; // not grey
  await sharp(px, { raw: { width: 12, height: 10, channels } }).toFile(file);
}

test('image folders: decoded and resized with sharp, grey or RGB, labels from sub-folders', async () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'cats'));
    mkdirSync(join(dir, 'dogs'));
    await writeImage(join(dir, 'cats', 'a.png'), false, 0);
    await writeImage(join(dir, 'cats', 'b.jpg'), false, 255);
    await writeImage(join(dir, 'dogs', 'c.png'), false, 255);

    const grey = await loadImageFolder(dir, { size: 8, channels: 'auto', conditional: true });
    assert.deepEqual(grey.shape, [8, 8, 1]);
    assert.deepEqual(grey.labels, ['cats', 'dogs']);
    assert.equal(grey.size, 3);
    const { x, labels } = grey.sample(new CounterRng(0, 2), 50);
    for (let i = 0; i < 50; i++) {
      const v = x[i * 64];
      assert.ok(v === -1 || Math.abs(v - 1) < 0.02, `pixel ${v}`); // black → −1, white → 1 (JPEG ≈)
      if (labels![i] === 1) assert.ok(v > 0.9, 'the dog is white');
    }

    await writeImage(join(dir, 'dogs', 'colour.png'), true, 40);
    const rgb = await loadImageFolder(dir, { size: 8, channels: 'auto', conditional: false });
    assert.deepEqual(rgb.shape, [8, 8, 3]);
    assert.equal(rgb.labels, null);
    assert.equal(rgb.size, 4);
    const forcedGrey = await loadImageFolder(dir, { size: 16, channels: 1, conditional: false });
    assert.deepEqual(forcedGrey.shape, [16, 16, 1]);

    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await assert.rejects(loadImageFolder(empty, { size: 8, channels: 'auto', conditional: false }), InvalidArgumentError);
    await assert.rejects(loadImageFolder(join(dir, 'cats'), { size: 8, channels: 'auto', conditional: true }), /one sub-folder of images per class/);
  } finally {
    cleanup();
  }
});
