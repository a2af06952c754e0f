/**
 * Evaluation of image-folder models: precision / recall / density / coverage on known sets, the
 * folder metrics with a fake generator (the real held-out images scored against themselves), and
 * `wganx eval --data` end to end on a tiny folder: the classifier trained once and then read from
 * the cache, a sheet per class, figures into the manifest, and clear refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { openImageFolder, tooFewHeldOut } from '../../src/data/image-folder.js';
import { prdc } from '../../src/eval/prdc.js';
import { folderClassifier } from '../../src/eval/folder-classifier.js';
import { folderMetrics } from '../../src/eval/folder.js';
import { evaluateModel, formatReport, manifestMetrics } from '../../src/eval/command.js';
import { train } from '../../src/train/run.js';
import { evaluateExport } from '../../src/train/command.js';
import { tempDir, tinyConfig } from '../train/helpers.js';

/** Run `fn` with wganx's cache (decoded images, folder classifiers) in `dir`. */
async function withCacheDir(dir: string, fn: () => Promise<void>): Promise<void> {
  process.env.WGANX_CACHE_DIR = dir;
  try {
    await fn();
  } finally {
    delete process.env.WGANX_CACHE_DIR;
  }
}

/** `n` points of dimension 2 on a jittered grid around (cx, cy). */
function cloud(n: number, cx: number, cy: number, spread = 1): Float64Array {
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    out[2 * i] = cx + spread * Math.sin(i * 12.9898);
    out[2 * i + 1] = cy + spread * Math.cos(i * 78.233);
  }
  return out;
}

test('precision/recall/density/coverage: the same set scores 1, a far set 0, a collapsed set keeps precision and loses recall', () => {
  const real = cloud(200, 0, 0);
  const same = prdc(real, 200, real, 200, 2, 5);
  assert.deepEqual([same.precision, same.recall, same.coverage], [1, 1, 1]);
  assert.ok(Math.abs(same.density - 1) < 0.3, `density ${same.density}`);
  const far = prdc(real, 200, cloud(200, 100, 100), 200, 2, 5);
  assert.deepEqual([far.precision, far.recall, far.density, far.coverage], [0, 0, 0, 0]);
  // Every sample at one real point: realistic (precision 1) but covering almost nothing.
  const collapsed = new Float64Array(400);
  for (let i = 0; i < 200; i++) [collapsed[2 * i], collapsed[2 * i + 1]] = [real[0], real[1]];
  const c = prdc(real, 200, collapsed, 200, 2, 5);
  assert.equal(c.precision, 1);
  assert.ok(c.recall < 0.1 && c.coverage < 0.1, `recall ${c.recall}, coverage ${c.coverage}`);
  assert.throws(() => prdc(real, 3, real, 200, 2, 5), /more than k = 5/);
});

/** A folder of two colour classes (red-ish and blue-ish squares with a bar), 16 px, with holdout/. */
async function tinyFolder(dir: string, perClass = 12): Promise<void> {
  for (const [split, n] of [['train', perClass], ['holdout', 4]] as const) {
    for (const cls of ['blue', 'red']) {
      mkdirSync(join(dir, split, cls), { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = Buffer.alloc(16 * 16 * 3);
        for (let p = 0; p < 256; p++) {
          const bar = p % 16 === (i * 3 + (split === 'holdout' ? 1 : 0)) % 16;
          const v = cls === 'red' ? [200 + (i % 5) * 10, 30, bar ? 200 : 40] : [30, bar ? 200 : 40 + (i % 5) * 10, 220];
          px.set(v, p * 3);
        }
        await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(join(dir, split, cls, `${i}.png`));
      }
    }
  }
}

test('folder metrics of a generator that returns real held-out images: FD near 0 below the reference, full accuracy, classes follow the data', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await tinyFolder(dir);
    const folder = await openImageFolder(dir, { size: 16, channels: 'auto', conditional: true, cacheDir: join(dir, '.c'), progress: false });
    // Settings not given (undefined) keep their defaults: here the seed, below the epochs.
    const lines: string[] = [];
    const classifier = await folderClassifier(folder, { settings: { epochs: 3, seed: undefined }, cacheDir: join(dir, '.classifiers'), log: (l) => lines.push(l) });
    assert.ok(lines.some((l) => /, 3 epochs,/.test(l)), lines.join('\n'));
    const defaults = await folderClassifier(folder, { settings: { epochs: undefined }, cacheDir: null, log: (l) => lines.push(l) });
    await defaults.close();
    assert.ok(lines.some((l) => /, 12 epochs,/.test(l)), lines.join('\n'));
    try {
      const held = folder.holdout!.all();
      const pixels = 16 * 16 * 3;
      // The "generator": the held-out image of the asked class, in turn.
      const source = {
        numClasses: 2,
        generate: async (start: number, count: number, labels: Int32Array | null) => {
          const out = new Float32Array(count * pixels);
          for (let i = 0; i < count; i++) {
            const candidates = [...held.labels!.keys()].filter((j) => held.labels![j] === labels![i]);
            const j = candidates[(start + i) % candidates.length];
            out.set(held.x.subarray(j * pixels, (j + 1) * pixels), i * pixels);
          }
          return out;
        },
      };
      const m = await folderMetrics(source, classifier, folder, { samples: 40 });
      assert.equal(m.samples, 40);
      assert.deepEqual(m.classes, ['blue', 'red']);
      assert.deepEqual(m.perClassSamples, [20, 20], 'balanced data: balanced classes asked for');
      // Each held-out image is "generated" 5 times for its own class: the accuracies are the same.
      assert.equal(m.accuracy, m.heldoutAccuracy);
      assert.ok(m.frechetDistance < m.frechetReference, `FD ${m.frechetDistance} vs reference ${m.frechetReference}`);
      assert.equal(m.referenceSamples, 24);
      assert.equal(m.heldoutSamples, 8);
      assert.ok(m.prdc.precision > 0 && m.prdc.coverage >= 0);
    } finally {
      await classifier.close();
    }
  } finally {
    cleanup();
  }
});

test('wganx eval --data: a DCGAN of a tiny folder is measured with the folder\'s classifier (cached), a sheet per class, figures into the manifest', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'data');
    await tinyFolder(data);
    const models = join(dir, 'models');
    const config = tinyConfig(join(dir, 'run'), { dataset: data, conditional: true, arch: 'dcgan', imageSize: 16, hidden: 2, latent: 4, batch: 4, steps: 2, export: true, modelsDir: models, name: 'tiny' });
    await train(config, { progress: false, log: () => {} });
    const lines: string[] = [];
    const cacheDir = join(dir, 'cache');
    await withCacheDir(cacheDir, async () => {
      const opts = { modelDir: join(models, 'tiny'), samples: 30, figuresDir: join(dir, 'fig'), classifier: { epochs: 1 }, log: (l: string) => lines.push(l) };
      const report = await evaluateModel(opts);
      assert.equal(report.dataset, 'folder');
      const f = report.folder!;
      assert.equal(f.data, data, 'the folder the manifest names');
      assert.ok(f.accuracy !== null && f.accuracy >= 0 && f.accuracy <= 1);
      assert.ok(f.frechetDistance > 0 && f.frechetReference >= 0);
      for (const k of ['precision', 'recall', 'density', 'coverage'] as const) assert.ok(Number.isFinite(f.prdc[k]));
      assert.deepEqual(readdirSync(join(dir, 'fig')).sort(), ['samples-blue.png', 'samples-red.png', 'samples.png']);
      const sheet = await sharp(join(dir, 'fig', 'samples.png')).metadata();
      assert.equal(sheet.channels, 3);
      assert.ok(lines.some((l) => /training the folder's classifier/.test(l)));
      assert.match(formatReport(report), /precision \/ recall/);
      const metrics = manifestMetrics(report);
      assert.ok('recall' in metrics && 'frechetReference' in metrics && 'classifierAccuracy' in metrics);

      lines.length = 0;
      const again = await evaluateModel(opts);
      assert.ok(lines.some((l) => /classifier from the cache/.test(l)), lines.join('\n'));
      assert.equal(again.folder!.frechetDistance, f.frechetDistance, 'the same classifier and samples give the same distance');
      assert.ok(existsSync(join(cacheDir, 'classifiers')));

      // A folder with other classes is refused, naming --data and the model's classes.
      const other = join(dir, 'other');
      for (const cls of ['a', 'b', 'c']) {
        mkdirSync(join(other, cls), { recursive: true });
        await sharp(Buffer.alloc(16 * 16 * 3, 9), { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(join(other, cls, '0.png'));
      }
      await assert.rejects(evaluateModel({ ...opts, dataDir: other }), /--data.*classes are the model's: blue, red/);
      // Without --data, the folder the manifest names; gone, it says so.
      const manifestPath = join(models, 'tiny', 'manifest.json');
      const saved = readFileSync(manifestPath, 'utf8');
      const m = JSON.parse(saved);
      writeFileSync(manifestPath, JSON.stringify({ ...m, training: { ...m.training, dataset: join(dir, 'moved-away') } }));
      await assert.rejects(evaluateModel({ ...opts, dataDir: undefined }), /--data: .*moved-away.*without --data, the folder tiny was trained on \(its manifest's training.dataset\), which is not here; give --data <folder>/);
      writeFileSync(manifestPath, saved);
      // A folder that is not there, or holds no images: the flag named is the one eval takes.
      await assert.rejects(evaluateModel({ ...opts, dataDir: join(dir, 'missing') }), (err: Error) => /^--data: .*missing.*an existing folder of PNG, JPEG or WebP images/.test(err.message) && !/--dataset/.test(err.message));
      const empty = join(dir, 'empty');
      mkdirSync(join(empty, 'blue'), { recursive: true });
      mkdirSync(join(empty, 'red'), { recursive: true });
      await assert.rejects(evaluateModel({ ...opts, dataDir: empty }), /: --data: .*blue.*a class folder holding PNG, JPEG or WebP images \(it holds none\)/);
    });
  } finally {
    cleanup();
  }
});

test('wganx eval augment --data: CAS and low-data arms sized from the folder\'s smallest class, tested on its held-out images', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'data');
    await tinyFolder(data, 8);
    const models = join(dir, 'models');
    await train(tinyConfig(join(dir, 'run'), { dataset: data, conditional: true, arch: 'dcgan', imageSize: 16, hidden: 2, latent: 4, batch: 4, steps: 1, export: true, modelsDir: models, name: 'tiny' }), { progress: false, log: () => {} });
    const { evaluateAugmentation, formatAugmentReport } = await import('../../src/eval/augment-eval.js');
    const lines: string[] = [];
    const r = await evaluateAugmentation({ modelDir: join(models, 'tiny'), steps: 10, log: (l) => lines.push(l) });
    assert.equal(r.data, data);
    assert.equal(r.testDigits, 8, 'the held-out images are the test set');
    // Smallest class: 8 training images → CAS at 2 and 8, low data at 1 and 4 real per class.
    assert.deepEqual(r.cas.map((c) => c.perClass), [2, 8]);
    assert.deepEqual(r.lowData.map((l) => l.realPerClass), [1, 4]);
    assert.equal(r.arms.length, 8);
    for (const a of r.arms) assert.ok(a.accuracy >= 0 && a.accuracy <= 1);
    assert.match(formatAugmentReport(r), /classifier architecture.*8 held-out images/);
    assert.equal(lines.filter((l) => l.startsWith('eval augment: [')).length, 8);
  } finally {
    cleanup();
  }
});

test('an unconditional model of a flat folder: measured, with one sheet of its first 100 samples', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'flat');
    mkdirSync(data, { recursive: true });
    for (let i = 0; i < 30; i++) {
      const px = Buffer.alloc(16 * 16 * 3);
      for (let p = 0; p < 256; p++) px.set([(i * 37 + p) % 256, (i * 11) % 256, 200], p * 3);
      await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(join(data, `${i}.png`));
    }
    const models = join(dir, 'models');
    const config = tinyConfig(join(dir, 'run'), { dataset: data, arch: 'dcgan', imageSize: 16, hidden: 2, latent: 4, batch: 4, steps: 2, holdout: 0.3, export: true, modelsDir: models, name: 'flat' });
    await train(config, { progress: false, log: () => {} });
    await withCacheDir(join(dir, 'cache'), async () => {
      const report = await evaluateModel({ modelDir: join(models, 'flat'), samples: 110, figuresDir: join(dir, 'fig'), classifier: { epochs: 1 }, log: () => {} });
      assert.equal(report.folder!.accuracy, null, 'no classes, no accuracy');
      assert.ok(Number.isFinite(report.folder!.frechetDistance));
      assert.deepEqual(readdirSync(join(dir, 'fig')), ['samples.png']);
      const sheet = await sharp(join(dir, 'fig', 'samples.png')).metadata();
      // 10 columns × 10 rows of 16 px images with 2 px gaps, upscaled ×4.
      assert.deepEqual([sheet.width, sheet.height], [4 * (10 * 16 + 9 * 2), 4 * (10 * 16 + 9 * 2)]);
    });
  } finally {
    cleanup();
  }
});

test('too few held-out images: train says so up front and skips the measurement (exit 0); eval refuses before training its classifier', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'data');
    await tinyFolder(data);
    rmSync(join(data, 'holdout'), { recursive: true });
    const models = join(dir, 'models');
    const lines: string[] = [];
    // --holdout 0.05 of 24 images: at most one held out by content hash.
    const config = tinyConfig(join(dir, 'run'), { dataset: join(data, 'train'), conditional: true, arch: 'dcgan', imageSize: 16, hidden: 2, latent: 4, batch: 4, steps: 2, holdout: 0.05, export: true, modelsDir: models, name: 'few' });
    const result = await train(config, { progress: false, log: (l) => lines.push(l), evaluate: evaluateExport });
    const held = /data: (no image|1 image) held out by content hash \(--holdout 0\.05\); measuring a model needs at least 2 \(train with a larger --holdout, or add a holdout\/ folder\); the exported model will not be measured/;
    assert.ok(lines.some((l) => held.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^quality: not measured: (no image|1 image) held out/.test(l)), lines.join('\n'));
    assert.equal(result.evaluationError, null);
    assert.ok(result.exportDir);
    lines.length = 0;
    await withCacheDir(join(dir, 'cache'), async () => {
      const opts = { modelDir: join(models, 'few'), samples: 20, figuresDir: null, classifier: { epochs: 1 }, log: (l: string) => lines.push(l) };
      await assert.rejects(evaluateModel(opts), (err: Error) => /^--data: .*train" .*a folder with held-out images: (no image|1 image) held out by content hash \(--holdout 0\.05\); measuring a model needs at least 2/.test(err.message));
      assert.ok(!lines.some((l) => /classifier/.test(l)), `refused before the classifier: ${lines.join('\n')}`);
      // --samples the folder metrics cannot use: refused before the folder is read.
      lines.length = 0;
      await assert.rejects(evaluateModel({ ...opts, samples: 5 }), (err: Error) => /^--samples: 5 .*an integer in \[10, 1000000\]/.test(err.message));
      assert.deepEqual(lines, []);
      // A held-out folder with too few images: the advice is to fill it (--holdout does not apply there).
      assert.equal(tooFewHeldOut({ source: 'folder', folder: 'pics/holdout', count: 1 }), '1 image held out in pics/holdout; measuring a model needs at least 2 (add images to pics/holdout)');
      assert.equal(tooFewHeldOut({ source: 'hash', fraction: 0.1, count: 2 }), null);
    });
  } finally {
    cleanup();
  }
});
