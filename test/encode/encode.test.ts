/** Response encoders: the size limits checked before a model runs match what the encoders can write. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { tileGrid, toUint8, upscale } from '../../src/core/image.js';
import { ANIMATION_FORMATS, checkImageSize, encodeAnimation, encodeEach, encodeGrid, gridImageSize, IMAGE_FORMATS, imageLimitProblem, MAX_RESPONSE_PIXELS } from '../../src/encode/encode.js';

test('gridImageSize is the size encodeGrid writes, for default and given columns and scales', async () => {
  for (const [count, columns, scale] of [[5, undefined, 1], [5, 2, 3], [7, 7, 2], [1, undefined, 4]] as const) {
    const png = await encodeGrid(new Float32Array(count * 6 * 4 * 1), [6, 4, 1], count, [-1, 1], { format: 'png', scale, columns });
    const meta = await sharp(png).metadata();
    assert.deepEqual(gridImageSize([6, 4, 1], count, scale, columns), { width: meta.width, height: meta.height }, `count ${count} columns ${columns} scale ${scale}`);
  }
});

test('the WebP, JPEG and GIF side limits are libvips’ own: one pixel more fails in sharp and is refused here', async () => {
  const encode = (format: 'webp' | 'jpeg' | 'gif', width: number) => sharp(Buffer.alloc(width), { raw: { width, height: 1, channels: 1 } }).toFormat(format).toBuffer();
  for (const [format, side] of [['webp', 16383], ['jpeg', 65500], ['gif', 65535]] as const) {
    assert.equal(imageLimitProblem({ width: side, height: 1, count: 1, format }), null);
    await encode(format, side);
    assert.match(imageLimitProblem({ width: side + 1, height: 1, count: 1, format })!, new RegExp(`${format} images have at most ${side} px a side`));
    await assert.rejects(encode(format, side + 1));
  }
  assert.equal(imageLimitProblem({ width: 4096, height: 4096, count: 1, format: 'png' }), null);
  assert.match(imageLimitProblem({ width: 64, height: 64, count: MAX_RESPONSE_PIXELS / 4096 + 1, format: 'png' })!, /at most 16,777,216 px/);
});

test('checkImageSize names scale with the largest that fits, else columns for a side too long, n for too many pixels', () => {
  const grid = (columns: number) => (s: number) => ({ ...gridImageSize([8, 8, 1], 2048, s, columns), count: 1, format: 'webp' as const });
  const fewer = (columns: number) => ({ side: { field: 'columns', value: columns }, pixels: { field: 'n', value: 2048 } });
  // 2048 digits in one column: 20,478 px tall at scale 1, too tall for WebP at any scale.
  assert.throws(() => checkImageSize('body', 4, grid(1), fewer(1)), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.field, 'body.columns');
    assert.equal(e.value, 1);
    assert.equal(e.allowed, 'a smaller value (this request gives an image of 8×20478 px even at scale 1; webp images have at most 16383 px a side)');
    return true;
  });
  // 2 columns: 10,238 px tall at scale 1, so scale 1 is the largest that fits.
  assert.throws(() => checkImageSize('query', 3, grid(2), fewer(2)), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.field, 'query.scale');
    assert.equal(e.value, 3);
    assert.match(e.allowed, /^at most 1 for this request \(scale 3 gives an image of 54×30714 px; webp images have at most 16383 px a side\)$/);
    return true;
  });
  assert.doesNotThrow(() => checkImageSize('body', 1, grid(2), fewer(2)));
  // 512 samples of 256 × 256 in 16 columns: 4,126 × 8,254 px, within WebP's sides but over the pixel cap: fewer samples help, fewer columns do not.
  const big = (s: number) => ({ ...gridImageSize([256, 256, 3], 512, s, 16), count: 1, format: 'webp' as const });
  assert.throws(() => checkImageSize('body', 1, big, { side: { field: 'columns', value: 16 }, pixels: { field: 'n', value: 512 } }), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.field, 'body.n');
    assert.equal(e.allowed, 'a smaller value (this request gives an image of 4126×8254 px even at scale 1; a response holds at most 16,777,216 px of images)');
    return true;
  });
});

test('per-sample PNGs decode to the exact pixels: every channel count, deflated inline (small) and on the thread pool (over 16 KB)', async () => {
  // [height, width, channels, scale]: 1×1 (the smallest zlib window), a digit, 100×100 RGB (30 KB raw), 64×64 RGBA at scale 2.
  for (const [h, w, c, scale] of [[1, 1, 1, 1], [28, 28, 1, 1], [5, 3, 2, 3], [100, 100, 3, 1], [64, 64, 4, 2]] as const) {
    const count = 2;
    const data = Float32Array.from({ length: count * h * w * c }, (_, i) => Math.sin(i * 0.7) * 1.1); // some values outside [-1, 1]
    const pngs = await encodeEach(data, [h, w, c], count, [-1, 1], { format: 'png', scale });
    const pixels = toUint8(data, [-1, 1]);
    for (let k = 0; k < count; k++) {
      assert.equal((await sharp(pngs[k]).metadata()).channels, c);
      // sharp hands grey out as sRGB: grey → (g, g, g), grey+alpha → (g, g, g, a); keep g (and a).
      const { data: rgb, info } = await sharp(pngs[k]).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height], [w * scale, h * scale], `${h}×${w}×${c} scale ${scale}`);
      const keep = c === 1 ? [0] : c === 2 ? [0, 3] : [...Array(c).keys()];
      const got = Uint8Array.from({ length: info.width * info.height * c }, (_, i) => rgb[Math.floor(i / c) * info.channels + keep[i % c]]);
      const tile = pixels.subarray(k * h * w * c, (k + 1) * h * w * c);
      const expected = new Uint8Array(h * w * c * scale * scale);
      for (let y = 0; y < h * scale; y++)
        for (let x = 0; x < w * scale; x++)
          for (let ch = 0; ch < c; ch++) expected[(y * w * scale + x) * c + ch] = tile[(Math.floor(y / scale) * w + Math.floor(x / scale)) * c + ch];
      assert.deepEqual(got, expected, `${h}×${w}×${c} scale ${scale}, sample ${k}`);
    }
  }
});

/** Decoded image → `channels` values per pixel (sharp hands grey out as sRGB: keep g of (g, g, g)). */
async function decodePixels(bytes: Buffer, channels: number, pages = false): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(bytes, pages ? { pages: -1 } : {}).raw().toBuffer({ resolveWithObject: true });
  const keep = channels === 1 ? [0] : [...Array(channels).keys()];
  const n = info.width * info.height;
  return { data: Uint8Array.from({ length: n * channels }, (_, i) => data[Math.floor(i / channels) * info.channels + keep[i % channels]]), width: info.width, height: info.height };
}

/** Generator-like outputs whose pixels take a few levels only, so that GIF's palette holds every colour exactly. */
function fewLevels(length: number): Float32Array {
  const levels = [-1, -0.5, 0.2, 1];
  return Float32Array.from({ length }, (_, i) => levels[(Math.imul(i + 1, 2654435761) >>> 13) % levels.length]); // a hash of i: no two frames alike
}

test('every animated format decodes, frame by frame, to the PNG path’s pixels: grey and colour, scales 1 and 4', async () => {
  // Regression: sharp's resize().raw() of 1-channel input hands out 3 channels, which the animation
  // read as 1: grey walks at scale ≥ 2 were frames of stripes.
  const frames = 3;
  for (const [h, w, c] of [[7, 5, 1], [6, 4, 3]] as const) {
    const data = fewLevels(frames * h * w * c);
    for (const scale of [1, 4]) {
      const pngs = await encodeEach(data, [h, w, c], frames, [-1, 1], { format: 'png', scale });
      for (const format of ANIMATION_FORMATS) {
        const what = `${format} ${h}×${w}×${c} scale ${scale}`;
        const anim = await encodeAnimation(data, [h, w, c], frames, [-1, 1], { format, scale, delayMs: 100 });
        const meta = await sharp(anim, { pages: -1 }).metadata();
        assert.equal(meta.pages, frames, what);
        assert.deepEqual([meta.width, meta.pageHeight], [w * scale, h * scale], what);
        const all = await decodePixels(anim, c, true);
        const frameSize = w * scale * h * scale * c;
        for (let k = 0; k < frames; k++) {
          const png = await decodePixels(pngs[k], c);
          assert.deepEqual(all.data.subarray(k * frameSize, (k + 1) * frameSize), png.data, `${what}, frame ${k}`);
        }
      }
    }
  }
});

test('grids and per-sample images of every format at scale 4 show the scale-1 pixels upscaled: grey and colour', async () => {
  const count = 4;
  for (const [h, w, c] of [[7, 5, 1], [6, 4, 3]] as const) {
    const data = fewLevels(count * h * w * c);
    const pixels = toUint8(data, [-1, 1]);
    const tiles = tileGrid(pixels, { count, height: h, width: w, channels: c, padding: 2 });
    const grid4 = upscale(tiles, 4);
    for (const format of IMAGE_FORMATS) {
      // PNG must match exactly; JPEG and lossy WebP (chroma subsampling of one-pixel colour noise) on average within a few levels (misread channels are off by ~100).
      const tolerance = format === 'png' ? 0 : 10;
      const close = (got: Uint8Array, want: Uint8Array, what: string) => {
        assert.equal(got.length, want.length, what);
        let worst = 0;
        let sum = 0;
        for (let i = 0; i < got.length; i++) {
          const d = Math.abs(got[i] - want[i]);
          worst = Math.max(worst, d);
          sum += d;
        }
        if (tolerance === 0) assert.equal(worst, 0, what);
        else assert.ok(sum / got.length < tolerance, `${what}: mean error ${(sum / got.length).toFixed(1)}, worst ${worst}`);
      };
      const grid = await decodePixels(await encodeGrid(data, [h, w, c], count, [-1, 1], { format, scale: 4 }), c);
      assert.deepEqual([grid.width, grid.height], [grid4.width, grid4.height]);
      close(grid.data, grid4.data, `${format} grid ${h}×${w}×${c}`);
      const each = await encodeEach(data, [h, w, c], count, [-1, 1], { format, scale: 4 });
      for (let k = 0; k < count; k++) {
        const one = upscale({ data: pixels.subarray(k * h * w * c, (k + 1) * h * w * c), width: w, height: h, channels: c, columns: 1, rows: 1 }, 4);
        close((await decodePixels(each[k], c)).data, one.data, `${format} sample ${k} ${h}×${w}×${c}`);
      }
    }
  }
});
