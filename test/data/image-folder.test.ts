/**
 * Image folders as users have them: transparent PNGs, grey PNGs, WebP, JPEG, stray files, a
 * corrupt image, empty class folders; the held-out split (a folder, or a content-hash fraction
 * that does not move), the pad resize, and the on-disk cache of decoded pixels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { openImageFolder, parseBackground, type ImageFolderOptions } from '../../src/data/index.js';
import { imageCacheDir } from '../../src/data/image-cache.js';
import { CounterRng } from '../../src/core/random.js';
import { tempDir } from '../train/helpers.js';

type Rgba = [number, number, number, number];

/** A w×h image of one colour (alpha 255 = opaque), written in the format of the extension. */
async function solid(file: string, colour: Rgba, w = 12, h = 12): Promise<void> {
  const px = Buffer.alloc(w * h * 4);
  for (let i = 0; i < px.length; i += 4) px.set(colour, i);
  await sharp(px, { raw: { width: w, height: h, channels: 4 } }).toFile(file);
}

async function greyPng(file: string, level: number): Promise<void> {
  await sharp(Buffer.alloc(100, level), { raw: { width: 10, height: 10, channels: 1 } }).png().toFile(file);
}

function opts(cacheDir: string | null, extra: Partial<ImageFolderOptions> = {}): ImageFolderOptions {
  return { size: 8, channels: 'auto', conditional: true, holdout: 0, cacheDir, progress: false, ...extra };
}

/** The first pixel of each example, as [-1, 1] values per channel. */
function firstPixels(x: Float32Array, n: number, channels: number, size = 8): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from(x.subarray(i * size * size * channels, i * size * size * channels + channels)));
}

test('RGBA is composited onto --background, grey PNGs become grey RGB, WebP and JPEG read; stray files are skipped and named', async () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    await solid(join(dir, 'a', 'clear.png'), [255, 0, 0, 0]); // fully transparent red
    await solid(join(dir, 'a', 'half.webp'), [0, 0, 255, 128]); // half-transparent blue
    await greyPng(join(dir, 'b', 'grey.png'), 51);
    await solid(join(dir, 'b', 'green.jpg'), [0, 200, 0, 255]);
    writeFileSync(join(dir, 'b', 'notes.txt'), 'not an image');
    writeFileSync(join(dir, 'b', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nbroken'));
    writeFileSync(join(dir, 'b', '.DS_Store'), 'ignored');
    await solid(join(dir, 'stray.png'), [9, 9, 9, 255]); // beside the class folders: no class
    const lines: string[] = [];
    const f = await openImageFolder(dir, opts(null, { log: (l) => lines.push(l) }));
    assert.deepEqual(f.train.labels, ['a', 'b']);
    assert.deepEqual(f.train.shape, [8, 8, 3]);
    assert.equal(f.train.size, 4);
    assert.deepEqual(f.skipped.sort(), [join('b', 'broken.png'), join('b', 'notes.txt'), 'stray.png']);
    assert.equal(lines.filter((l) => l.includes('skipped 3 files')).length, 1, lines.join('\n'));
    assert.match(lines.join('\n'), /\(1 not PNG, JPEG or WebP, 1 beside the class folders, 1 unreadable\)/);
    const { x } = f.train.all();
    const [clear, half, green, grey] = firstPixels(x, 4, 3); // order: a/clear, a/half, b/green, b/grey
    assert.deepEqual(clear, [1, 1, 1], 'transparent → white background');
    // 50 % blue over white: (0.5·0 + 0.5·255, same, 0.5·255 + 0.5·255) ≈ (128, 128, 255).
    assert.ok(Math.abs(half[0] - 0) < 0.03 && Math.abs(half[1] - 0) < 0.03 && half[2] > 0.97, `half ${half}`);
    assert.ok(green[1] > 0.5 && green[0] < -0.9, `green ${green}`);
    assert.ok(grey.every((v) => Math.abs(v - (-1 + (51 / 255) * 2)) < 1e-6), `grey ${grey}`);

    const black = await openImageFolder(dir, opts(null, { background: '#000' }));
    assert.deepEqual(firstPixels(black.train.all().x, 1, 3)[0], [-1, -1, -1]);

    await assert.rejects(openImageFolder(dir, opts(null, { strict: true })), (e: unknown) => e instanceof InvalidArgumentError && /--dataset/.test(e.message) && /notes\.txt|broken\.png/.test(e.message));
    rmSync(join(dir, 'b', 'notes.txt'));
    await assert.rejects(openImageFolder(dir, opts(null, { strict: true })), (e: unknown) => e instanceof InvalidArgumentError && /--dataset: "stray\.png" .*files inside the class folders only with --strict and --conditional \(1 beside them\)/.test(e.message));
  } finally {
    cleanup();
  }
});

test('--background accepts names and hex colours, and names the flag otherwise', () => {
  assert.deepEqual(parseBackground('white'), { r: 255, g: 255, b: 255 });
  assert.deepEqual(parseBackground('#0f8'), { r: 0, g: 255, b: 136 });
  assert.deepEqual(parseBackground('102030'), { r: 16, g: 32, b: 48 });
  assert.throws(() => parseBackground('mauve'), /--background.*mauve.*#rrggbb/);
});

test('--resize pad keeps the whole picture and pads with the background; cover crops the centre', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // A 16×8 picture: left half black, right half white.
    const px = Buffer.alloc(16 * 8 * 3);
    for (let y = 0; y < 8; y++) for (let xx = 8; xx < 16; xx++) px.fill(255, (y * 16 + xx) * 3, (y * 16 + xx) * 3 + 3);
    await sharp(px, { raw: { width: 16, height: 8, channels: 3 } }).png().toFile(join(dir, 'wide.png'));
    const cover = (await openImageFolder(dir, opts(null, { conditional: false, channels: 1 }))).train;
    const pad = (await openImageFolder(dir, opts(null, { conditional: false, channels: 1, resize: 'pad', background: 'grey' }))).train;
    const c = cover.all().x;
    const p = pad.all().x;
    // cover: the centre 8×8 of the 16×8 → left half black, right half white, no grey.
    assert.ok(c[4 * 8 + 0] < -0.9 && c[4 * 8 + 7] > 0.9);
    // pad: scaled to 8×4 in the middle rows; the top and bottom rows are the grey background.
    assert.ok(Math.abs(p[0] - (-1 + (128 / 255) * 2)) < 0.02, `top-left ${p[0]}`);
    assert.ok(p[4 * 8 + 0] < -0.9 && p[4 * 8 + 7] > 0.9);
  } finally {
    cleanup();
  }
});

test('an empty class folder, a folder of no images and an unknown held-out class are one clear error each', async () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    await solid(join(dir, 'a', '1.png'), [1, 2, 3, 255]);
    await assert.rejects(openImageFolder(dir, opts(null)), (e: unknown) => e instanceof InvalidArgumentError && /--dataset/.test(e.message) && /[/\\]b\b/.test(e.message) && /holds none/.test(e.message));
    const none = join(dir, 'holdout', 'none');
    mkdirSync(none, { recursive: true });
    writeFileSync(join(none, 'readme.txt'), 'x');
    await assert.rejects(openImageFolder(none, opts(null, { conditional: false })), /--dataset.*PNG, JPEG or WebP/);
    await solid(join(dir, 'b', '2.png'), [3, 2, 1, 255]);
    mkdirSync(join(dir, 'holdout', 'c'));
    await solid(join(dir, 'holdout', 'c', '3.png'), [9, 9, 9, 255]);
    await assert.rejects(openImageFolder(dir, opts(null)), /--holdout-dir.*named like a training class: a, b/);
  } finally {
    cleanup();
  }
});

test('held-out split: a holdout/ folder (with train/) is used as given; otherwise a content-hash fraction that does not move', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const split of ['train', 'holdout']) {
      for (const cls of ['x', 'y']) {
        mkdirSync(join(dir, split, cls), { recursive: true });
        for (let i = 0; i < (split === 'train' ? 3 : 1); i++) await solid(join(dir, split, cls, `${i}.png`), [i * 40, cls === 'x' ? 0 : 255, 0, 255]);
      }
    }
    const f = await openImageFolder(dir, opts(null));
    assert.deepEqual(f.train.labels, ['x', 'y']);
    assert.equal(f.train.size, 6);
    assert.equal(f.holdout!.size, 2);
    assert.deepEqual(f.split, { source: 'folder', folder: join(dir, 'holdout'), count: 2 });
    assert.equal(f.train.holdout?.source, 'folder');

    // Hash split of a flat folder of 40 distinct images: about a quarter held out, the same ones every time,
    // and adding files does not move the earlier files between splits.
    const flat = join(dir, 'flat');
    mkdirSync(flat);
    for (let i = 0; i < 40; i++) await solid(join(flat, `${String(i).padStart(2, '0')}.png`), [i * 6, 255 - i * 6, i, 255]);
    const heldOut = async () => {
      const g = await openImageFolder(flat, opts(null, { conditional: false, holdout: 0.25 }));
      const all = g.holdout!.all().x;
      return { g, keys: new Set(firstPixels(all, g.holdout!.size, 3).map((p) => p.join(','))) };
    };
    const first = await heldOut();
    assert.ok(first.g.holdout!.size >= 3 && first.g.holdout!.size <= 20, `held out ${first.g.holdout!.size} of 40`);
    assert.equal(first.g.train.size + first.g.holdout!.size, 40);
    assert.deepEqual(first.g.split, { source: 'hash', fraction: 0.25, count: first.g.holdout!.size });
    for (let i = 40; i < 50; i++) await solid(join(flat, `${i}.png`), [i * 5, 0, 255 - i, 255]);
    const second = await heldOut();
    for (const k of first.keys) assert.ok(second.keys.has(k), 'a held-out image stays held out when files are added');
    assert.equal(second.g.train.size + second.g.holdout!.size, 50);
  } finally {
    cleanup();
  }
});

test('decoded pixels are cached by content and flags: a second open reads the cache, a changed file or flag decodes again', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const data = join(dir, 'data');
    const cache = join(dir, 'cache');
    mkdirSync(data);
    await solid(join(data, 'a.png'), [10, 20, 30, 255]);
    await solid(join(data, 'b.png'), [200, 100, 0, 255]);
    const lines: string[] = [];
    const open = (extra: Partial<ImageFolderOptions> = {}) => openImageFolder(data, opts(cache, { conditional: false, log: (l) => lines.push(l), ...extra }));
    const a = await open();
    assert.equal(readdirSync(cache).length, 1);
    assert.ok(!lines.some((l) => l.includes('from the cache')));
    const b = await open();
    assert.ok(lines.some((l) => l.includes('2 decoded images from the cache')), lines.join('\n'));
    const all = (d: typeof a) => Array.from(d.train.all().x);
    assert.deepEqual(all(b), all(a));
    const rng = () => new CounterRng(5, 1);
    assert.deepEqual(Array.from(b.train.sample(rng(), 7).x), Array.from(a.train.sample(rng(), 7).x));
    await open({ size: 16 });
    assert.equal(readdirSync(cache).length, 2, 'another size is another cache entry');
    await solid(join(data, 'b.png'), [201, 100, 0, 255]);
    lines.length = 0;
    await open();
    assert.ok(!lines.some((l) => l.includes('from the cache')), 'a changed file decodes again');
    assert.equal(readdirSync(cache).length, 3);
  } finally {
    cleanup();
  }
});

test('the cache folder follows WGANX_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
  assert.equal(imageCacheDir({ WGANX_CACHE_DIR: '/c' }), join('/c', 'images'));
  assert.equal(imageCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'wganx', 'images'));
  assert.match(imageCacheDir({}), /\.cache[/\\]wganx[/\\]images$/);
});
