/** The scatter plot shared by samples.png and the browser page: axes, mode centres, coloured points. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PALETTE, scatterPlot } from '../../src/core/plot.js';

const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
const isWhite = (p: number[]) => p.every((v) => v === 255);

test('points land where their coordinates say, coloured by class; the frame, ticks, labels and mode rings are drawn', () => {
  const range = [-2, 2] as const;
  // Three points: the centre (class 0), the top-right quadrant (class 1), and one outside the range (skipped).
  const points = Float32Array.from([0, 0, 1, 1, 5, 5]);
  const img = scatterPlot(points, 2, 3, { range, labels: [0, 1, 2], modes: { centres: [[-1, -1]], sigma: 0.05 }, side: 400 });
  assert.deepEqual([img.width, img.height, img.channels], [400 + 56, 400 + 42, 3]);
  const at = (x: number, y: number) => [Math.round(44 + ((x + 2) / 4) * 399), Math.round(12 + ((2 - y) / 4) * 399)] as const;
  assert.deepEqual(pixel(img, ...at(0, 0)), [...PALETTE[0]]);
  assert.deepEqual(pixel(img, ...at(1, 1)), [...PALETTE[1]]);
  assert.ok(!img.data.some((_, i) => i % 3 === 0 && img.data[i] === PALETTE[2][0] && img.data[i + 1] === PALETTE[2][1] && img.data[i + 2] === PALETTE[2][2]), 'the point outside the range is not drawn');
  // The mode ring: radius max(4, 3σ in pixels) around (−1, −1), its centre marked, grey.
  const [mx, my] = at(-1, -1);
  const r = Math.max(4, (3 * 0.05 * 399) / 4);
  assert.deepEqual(pixel(img, mx, my), [185, 185, 185]);
  assert.deepEqual(pixel(img, Math.round(mx + r), my), [185, 185, 185]);
  assert.ok(isWhite(pixel(img, mx + 2, my + 2)), 'inside the ring is empty');
  // Frame lines, and tick labels in the left and bottom margins.
  assert.ok(!isWhite(pixel(img, 43, 200)) && !isWhite(pixel(img, 200, 12 + 400)));
  let ink = 0;
  for (let y = 0; y < img.height; y++) for (let x = 0; x < 40; x++) if (!isWhite(pixel(img, x, y))) ink++;
  assert.ok(ink > 100, `tick labels in the left margin (${ink} dark pixels)`);
});

test('unconditional points are dark; non-finite points are skipped; a plot of nothing is just the axes', () => {
  const img = scatterPlot(Float32Array.from([0.5, 0.5, NaN, 0, 0, Infinity]), 2, 3, { range: [0, 1] });
  const x = Math.round(44 + 0.5 * 511);
  const y = Math.round(12 + 0.5 * 511);
  assert.deepEqual(pixel(img, x, y), [20, 20, 20]);
  const empty = scatterPlot(new Float32Array(0), 2, 0, { range: [0, 1] });
  let dark = 0;
  for (let yy = 12; yy < 12 + 512; yy++) for (let xx = 44; xx < 44 + 512; xx++) if (!isWhite(pixel(empty, xx, yy))) dark++;
  assert.equal(dark, 0, 'the plot area is blank');
});

test('tick labels are smooth strokes (anti-aliased, not a blocky pixel font), about 11 px tall on a 512-pixel plot', () => {
  const img = scatterPlot(new Float32Array(0), 2, 0, { range: [-2, 2], side: 512 });
  // The bottom margin below the ticks holds only the x labels.
  const top = 12 + 512 + 7;
  const levels = new Set<number>();
  let first = Infinity;
  let last = -Infinity;
  for (let y = top; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const p = pixel(img, x, y);
      if (isWhite(p)) continue;
      assert.ok(p[0] === p[1] && p[1] === p[2], `grey ink at (${x}, ${y}): ${p}`);
      levels.add(p[0]);
      first = Math.min(first, y);
      last = Math.max(last, y);
    }
  }
  assert.ok(levels.size >= 8, `edge pixels between ink and paper (${levels.size} grey levels: ${[...levels].sort((a, b) => a - b).join(', ')})`);
  assert.ok(last - first + 1 >= 10 && last - first + 1 <= 14, `label height ${last - first + 1} px`);
});
