import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toUint8, fromUint8, tileGrid, upscale } from '../../src/core/index.js';

test('toUint8 maps [-1, 1] to 0…255 with rounding and clamping; NaN becomes 0', () => {
  assert.deepEqual([...toUint8([-1, 0, 1, -2, 2, NaN, 0.5])], [0, 128, 255, 0, 255, 0, 191]);
  assert.deepEqual([...toUint8([0, 0.5, 1], [0, 1])], [0, 128, 255]);
  assert.throws(() => toUint8([0], [1, 1]), /range: \[1,1\] is not allowed; expected \[low, high\] with high > low/);
});

test('fromUint8 inverts toUint8 within one grey level', () => {
  const x = Float32Array.from({ length: 101 }, (_, i) => -1 + i / 50);
  const back = fromUint8(toUint8(x));
  back.forEach((v, i) => assert.ok(Math.abs(v - x[i]) <= 1 / 255 + 1e-6));
});

test('tileGrid places each tile row by row with padding', () => {
  // Three 2×2 single-channel tiles valued 1, 2, 3 in a 2-column grid with 1 pixel of padding.
  const pixels = Uint8Array.from([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
  const g = tileGrid(pixels, { count: 3, height: 2, width: 2, channels: 1, columns: 2, padding: 1, background: 9 });
  assert.equal(g.width, 5);
  assert.equal(g.height, 5);
  assert.equal(g.rows, 2);
  // prettier-ignore
  assert.deepEqual([...g.data], [
    1, 1, 9, 2, 2,
    1, 1, 9, 2, 2,
    9, 9, 9, 9, 9,
    3, 3, 9, 9, 9,
    3, 3, 9, 9, 9,
  ]);
  assert.throws(() => tileGrid(pixels, { count: 4, height: 2, width: 2, channels: 1 }), /pixels.length: 12 is not allowed; expected count·height·width·channels = 16/);
});

test('upscale repeats pixels (RGB too) and validates the factor', () => {
  const img = { data: Uint8Array.from([10, 20, 30, 40, 50, 60]), width: 2, height: 1, channels: 3, columns: 1, rows: 1 };
  const up = upscale(img, 2);
  assert.equal(up.width, 4);
  assert.equal(up.height, 2);
  assert.deepEqual([...up.data.subarray(0, 12)], [10, 20, 30, 10, 20, 30, 40, 50, 60, 40, 50, 60]);
  assert.deepEqual([...up.data.subarray(12)], [...up.data.subarray(0, 12)]);
  assert.throws(() => upscale(img, 0), /scale: 0 is not allowed; expected an integer from 1 to 16/);
});

test('upscale: output pixel (x, y) is input pixel (⌊x/f⌋, ⌊y/f⌋), for non-square images, 1–4 channels and factors 1–5', () => {
  for (const [width, height, channels] of [[3, 2, 1], [2, 5, 2], [4, 3, 3], [1, 1, 4]]) {
    const data = Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 37 + 11) % 256);
    for (let f = 1; f <= 5; f++) {
      const up = upscale({ data, width, height, channels, columns: 1, rows: 1 }, f);
      assert.deepEqual([up.width, up.height, up.data.length], [width * f, height * f, width * height * channels * f * f]);
      for (let y = 0; y < height * f; y++) {
        for (let x = 0; x < width * f; x++) {
          for (let c = 0; c < channels; c++) {
            const got = up.data[(y * width * f + x) * channels + c];
            const want = data[(Math.floor(y / f) * width + Math.floor(x / f)) * channels + c];
            if (got !== want) assert.fail(`${width}×${height}×${channels} at ×${f}: pixel (${x}, ${y}) channel ${c} is ${got}, expected ${want}`);
          }
        }
      }
    }
  }
});
