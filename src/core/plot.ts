/**
 * The scatter plot of a point model's samples, as RGB pixels: the same picture on the server
 * (`samples.png`, `/docs`, through src/encode) and in the browser (src/web, on a canvas).
 *
 * White plot area spanning `range` on both axes, a frame with ticks and numbered labels at "nice"
 * steps (anti-aliased stroke glyphs, no font files), the data set's mode centres as grey rings of radius 3σ
 * (at least a few pixels), and the points on top, coloured by class.
 *
 * @example
 *   const img = scatterPlot(points, 2, 1000, { range: [-1.1, 1.1], labels, modes: manifest.output.modes });
 *   img.width, img.height, img.data  // RGB
 */
import type { RasterImage } from './image.js';

/** Class colours (Tableau 10); unconditional points are near-black. */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];
const INK: readonly [number, number, number] = [20, 20, 20];
const AXIS: readonly [number, number, number] = [90, 90, 90];
const MODE: readonly [number, number, number] = [185, 185, 185];

/** A point of a glyph's stroke: x across its width, y down its height, both 0…1. */
type Pt = readonly [number, number];

/** Points along an ellipse arc centred (cx, cy), angles in degrees (0 = right, 90 = down). */
function arc(cx: number, cy: number, rx: number, ry: number, from: number, to: number): Pt[] {
  const steps = Math.max(4, Math.ceil(Math.abs(to - from) / 15));
  return Array.from({ length: steps + 1 }, (_, k) => {
    const a = ((from + ((to - from) * k) / steps) * Math.PI) / 180;
    return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)] as const;
  });
}

/** A glyph: its width (a fraction of the text height) and its strokes (polylines). */
interface Glyph {
  width: number;
  strokes: readonly (readonly Pt[])[];
}

const SIX: Glyph['strokes'] = [arc(0.5, 0.7, 0.45, 0.3, 0, 360), arc(0.9, 0.7, 0.85, 0.62, 260, 180)];

/**
 * Tick-label glyphs as strokes, drawn anti-aliased at any size (no font files, and the same
 * pixels in Node and in browsers: only +, −, ×, ÷, √ and the table below).
 */
const GLYPHS: Readonly<Record<string, Glyph>> = {
  '0': { width: 0.55, strokes: [arc(0.5, 0.5, 0.5, 0.5, 0, 360)] },
  '1': { width: 0.55, strokes: [[[0.15, 0.22], [0.6, 0], [0.6, 1]]] },
  '2': { width: 0.55, strokes: [[...arc(0.5, 0.28, 0.48, 0.28, 180, 380), [0, 1], [1, 1]]] },
  '3': { width: 0.55, strokes: [[...arc(0.5, 0.25, 0.45, 0.25, 200, 450)], arc(0.5, 0.73, 0.5, 0.27, 270, 520)] },
  '4': { width: 0.55, strokes: [[[0.75, 1], [0.75, 0], [0, 0.7], [1, 0.7]]] },
  '5': { width: 0.55, strokes: [[[0.92, 0], [0.15, 0], [0.08, 0.45], ...arc(0.48, 0.68, 0.47, 0.32, 235, 515)]] },
  '6': { width: 0.55, strokes: SIX },
  '7': { width: 0.55, strokes: [[[0, 0], [1, 0], [0.35, 1]]] },
  '8': { width: 0.55, strokes: [arc(0.5, 0.26, 0.42, 0.26, 0, 360), arc(0.5, 0.74, 0.5, 0.26, 0, 360)] },
  '9': { width: 0.55, strokes: SIX.map((line) => line.map(([x, y]) => [1 - x, 1 - y] as const)) },
  '-': { width: 0.45, strokes: [[[0.05, 0.55], [0.95, 0.55]]] },
  '.': { width: 0.2, strokes: [[[0.5, 0.95], [0.5, 0.95]]] },
};
/** Space between glyphs and stroke width, as fractions of the text height. */
const GLYPH_GAP = 0.2;
const STROKE = 0.12;

/** Distance from (px, py) to the segment a–b. */
function segmentDistance(px: number, py: number, a: Pt, b: Pt): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - a[0]) * dx + (py - a[1]) * dy) / len2));
  const ex = px - (a[0] + t * dx);
  const ey = py - (a[1] + t * dy);
  return Math.sqrt(ex * ex + ey * ey);
}

/** Side of a scatter plot at `scale` (256 pixels a unit of scale, at most 2048): the server's and the browser's. */
export function scatterSide(scale: number): number {
  return Math.min(256 * scale, 2048);
}

export interface ScatterOptions {
  /** The span of both axes (the manifest's `output.range`). */
  range: readonly [number, number];
  /** Class of each point (colours), or null. */
  labels?: ArrayLike<number> | null;
  /** Mode centres and σ (the manifest's `output.modes`), or null. */
  modes?: { centres: readonly (readonly [number, number])[]; sigma: number } | null;
  /** Side of the plot area in pixels (default 512). */
  side?: number;
}

/** Height of the tick labels in pixels, on large plots (side ≥ 384) and small ones. */
const LABEL_PX = { large: 11, small: 8 } as const;

/** Margins around the plot area: room for the tick labels. */
const MARGIN = { left: 44, right: 12, top: 12, bottom: 30 };

/** A step of 1, 2 or 5 × 10^k giving about `target` ticks over `span`. */
function niceStep(span: number, target: number): number {
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

function label(value: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const text = value.toFixed(decimals);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

class Canvas {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, c: readonly [number, number, number]): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.data.set(c, (y * this.width + x) * 3);
  }

  rect(x0: number, y0: number, w: number, h: number, c: readonly [number, number, number]): void {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) this.set(x, y, c);
  }

  ring(cx: number, cy: number, r: number, c: readonly [number, number, number]): void {
    const steps = Math.max(16, Math.ceil(2 * Math.PI * r));
    for (let k = 0; k < steps; k++) {
      const a = (2 * Math.PI * k) / steps;
      this.set(Math.round(cx + r * Math.cos(a)), Math.round(cy + r * Math.sin(a)), c);
    }
  }

  /** Blend `c` over the pixel at (x, y) with coverage `a` (0…1). */
  blend(x: number, y: number, c: readonly [number, number, number], a: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || a <= 0) return;
    const i = (y * this.width + x) * 3;
    for (let k = 0; k < 3; k++) this.data[i + k] = Math.round(this.data[i + k] + (c[k] - this.data[i + k]) * Math.min(1, a));
  }

  /** Text `size` pixels tall, its top-left at (x, y): each pixel covered by a stroke in proportion to its distance from it. */
  text(x: number, y: number, text: string, size: number, c: readonly [number, number, number]): void {
    const half = Math.max(0.55, (STROKE * size) / 2);
    let left = x;
    for (const ch of text) {
      const g = GLYPHS[ch];
      if (!g) continue;
      const w = g.width * size;
      // Glyph points in pixels; a pixel's centre is at (i + 0.5, j + 0.5).
      const lines = g.strokes.map((line) => line.map(([gx, gy]) => [left + gx * w, y + gy * size] as const));
      for (let j = Math.floor(y - half - 1); j <= Math.ceil(y + size + half + 1); j++) {
        for (let i = Math.floor(left - half - 1); i <= Math.ceil(left + w + half + 1); i++) {
          let d = Infinity;
          for (const line of lines) for (let k = 0; k < line.length; k++) d = Math.min(d, segmentDistance(i + 0.5, j + 0.5, line[k], line[Math.min(k + 1, line.length - 1)]));
          this.blend(i, j, c, half + 0.5 - d);
        }
      }
      left += w + GLYPH_GAP * size;
    }
  }
}

/** Width in pixels of `text` drawn `size` pixels tall. */
const textWidth = (text: string, size: number) => [...text].reduce((sum, ch) => sum + (GLYPHS[ch] ? (GLYPHS[ch].width + GLYPH_GAP) * size : 0), 0) - GLYPH_GAP * size;

/**
 * Scatter plot of `count` rows of `rowSize` values (the first two are x and y), as an RGB image.
 * Non-finite points are skipped; points outside `range` are clipped away.
 */
export function scatterPlot(data: ArrayLike<number>, rowSize: number, count: number, opts: ScatterOptions): RasterImage {
  const side = opts.side ?? 512;
  const [lo, hi] = opts.range;
  const canvas = new Canvas(MARGIN.left + side + MARGIN.right, MARGIN.top + side + MARGIN.bottom);
  const px = (x: number) => MARGIN.left + ((x - lo) / (hi - lo)) * (side - 1);
  const py = (y: number) => MARGIN.top + ((hi - y) / (hi - lo)) * (side - 1); // y grows upwards
  const font = side >= 384 ? LABEL_PX.large : LABEL_PX.small;

  // Frame, ticks and their labels.
  canvas.rect(MARGIN.left - 1, MARGIN.top - 1, side + 2, 1, AXIS);
  canvas.rect(MARGIN.left - 1, MARGIN.top + side, side + 2, 1, AXIS);
  canvas.rect(MARGIN.left - 1, MARGIN.top - 1, 1, side + 2, AXIS);
  canvas.rect(MARGIN.left + side, MARGIN.top - 1, 1, side + 2, AXIS);
  const step = niceStep(hi - lo, 5);
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    const t = label(Math.abs(v) < step * 1e-9 ? 0 : v, step);
    const x = Math.round(px(v));
    const y = Math.round(py(v));
    canvas.rect(x, MARGIN.top + side + 1, 1, 5, AXIS);
    canvas.text(x - Math.round(textWidth(t, font) / 2), MARGIN.top + side + 9, t, font, INK);
    canvas.rect(MARGIN.left - 6, y, 5, 1, AXIS);
    canvas.text(MARGIN.left - 9 - Math.round(textWidth(t, font)), y - Math.round(font / 2), t, font, INK);
  }

  // Mode centres: a ring of radius 3σ (the "high quality" distance of docs/eval.md), at least 4 px.
  if (opts.modes) {
    const r = Math.max(4, (3 * opts.modes.sigma * (side - 1)) / (hi - lo));
    for (const [mx, my] of opts.modes.centres) {
      canvas.ring(px(mx), py(my), r, MODE);
      canvas.rect(Math.round(px(mx)), Math.round(py(my)), 1, 1, MODE);
    }
  }

  // Points, 2×2 (3×3 on large plots), inside the frame only.
  const dot = side >= 768 ? 3 : 2;
  for (let k = 0; k < count; k++) {
    const x = data[k * rowSize];
    const y = data[k * rowSize + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y) || x < lo || x > hi || y < lo || y > hi) continue;
    const colour = opts.labels ? PALETTE[opts.labels[k] % PALETTE.length] : INK;
    const x0 = Math.round(px(x)) - (dot >> 1);
    const y0 = Math.round(py(y)) - (dot >> 1);
    for (let dy = 0; dy < dot; dy++) {
      for (let dx = 0; dx < dot; dx++) {
        const xx = x0 + dx;
        const yy = y0 + dy;
        if (xx >= MARGIN.left && xx < MARGIN.left + side && yy >= MARGIN.top && yy < MARGIN.top + side) canvas.set(xx, yy, colour);
      }
    }
  }
  return { data: canvas.data, width: canvas.width, height: canvas.height, channels: 3, columns: 1, rows: 1 };
}
