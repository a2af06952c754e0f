/**
 * Evaluation figures as PNG bytes: a scatter plot of toy samples over the mixture's modes (drawn
 * with vega-lite, rasterised by sharp) and a grid of generated digits (core tileGrid + sharp).
 *
 * @example
 *   await writeFileAtomic('runs/eval/ring/samples.png', await toyScatterPng(points, toyMixture('ring8'), 'ring'));
 */
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { tileGrid, toUint8, upscale } from '../core/image.js';
import { HIGH_QUALITY_SIGMAS, type ToyMixture } from './toy.js';

/** Plot extent around the modes, in units of the largest |mean| coordinate. */
const TOY_MARGIN = 1.5;
const PLOT_SIZE = 420;
/** Digits are 28×28: upscale so they are readable in a README. */
const DIGIT_SCALE = 3;

/** Scatter of `points` ([n, 2]) coloured by quality, with the modes as red crosses. */
export async function toyScatterPng(points: ArrayLike<number>, mix: ToyMixture, title: string): Promise<Buffer> {
  let extent = 0;
  for (const v of mix.means) extent = Math.max(extent, Math.abs(v));
  const lim = extent * TOY_MARGIN;
  const radius = HIGH_QUALITY_SIGMAS * mix.sigma;
  const values: { x: number; y: number; quality: string }[] = [];
  let outside = 0;
  for (let i = 0; i < points.length / 2; i++) {
    const x = points[2 * i];
    const y = points[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y) || Math.abs(x) > lim || Math.abs(y) > lim) {
      outside++;
      continue;
    }
    let best = Infinity;
    for (let m = 0; m < mix.means.length / 2; m++) best = Math.min(best, Math.hypot(x - mix.means[2 * m], y - mix.means[2 * m + 1]));
    values.push({ x, y, quality: best <= radius ? `within 3σ of a mode` : 'further' });
  }
  const modes = Array.from({ length: mix.means.length / 2 }, (_, m) => ({ x: mix.means[2 * m], y: mix.means[2 * m + 1] }));
  const scale = { domain: [-lim, lim], nice: false };
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: PLOT_SIZE,
    height: PLOT_SIZE,
    background: 'white',
    title: { text: title, subtitle: outside ? `${outside} points outside the plot` : `${points.length / 2} samples` },
    layer: [
      {
        data: { values },
        mark: { type: 'circle', size: 8, opacity: 0.5, clip: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale },
          y: { field: 'y', type: 'quantitative', scale },
          color: { field: 'quality', type: 'nominal', scale: { domain: ['within 3σ of a mode', 'further'], range: ['#1f77b4', '#ff7f0e'] }, legend: { orient: 'bottom', title: null } },
        },
      },
      {
        data: { values: modes },
        mark: { type: 'point', shape: 'cross', color: '#d62728', size: 50, strokeWidth: 1.5 },
        encoding: { x: { field: 'x', type: 'quantitative', scale }, y: { field: 'y', type: 'quantitative', scale } },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return await sharp(Buffer.from(svg)).png().toBuffer();
  } finally {
    view.finalize();
  }
}

/**
 * A grid of digits ([count, 28, 28, 1] in [-1, 1]), `columns` per row, as an upscaled grey PNG.
 * For a conditional generator pass the samples row by row (row r = class r).
 */
export async function digitGridPng(images: Float32Array, count: number, columns: number, size = 28): Promise<Buffer> {
  const pixels = toUint8(images.subarray(0, count * size * size), [-1, 1]);
  const grid = upscale(tileGrid(pixels, { count, height: size, width: size, channels: 1, columns, padding: 2, background: 128 }), DIGIT_SCALE);
  return sharp(Buffer.from(grid.data), { raw: { width: grid.width, height: grid.height, channels: 1 } }).png().toBuffer();
}
