/**
 * Charts drawn with Vega-Lite (→ SVG with vega's headless renderer → PNG with sharp).
 *
 * - {@link writeCurvesPng}: W estimate (top) and the losses (bottom) against generator step.
 * - {@link writeScatterPng}: generated 2-D points over real ones, for the point data sets.
 */
import { rename, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { MetricsRecord } from './metrics-log.js';

/** Curves are averaged into at most this many bins so that long runs stay readable. */
export const MAX_PLOT_POINTS = 1000;
const WIDTH = 640;

async function writeSpecPng(spec: vl.TopLevelSpec, file: string): Promise<void> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, await sharp(Buffer.from(svg)).png().toBuffer());
  await rename(tmp, file);
}

/** Bin means of the records (each bin: mean step, mean of every numeric field). */
export function binRecords(records: readonly MetricsRecord[], maxPoints = MAX_PLOT_POINTS): MetricsRecord[] {
  if (records.length <= maxPoints) return [...records];
  const size = Math.ceil(records.length / maxPoints);
  const out: MetricsRecord[] = [];
  for (let i = 0; i < records.length; i += size) {
    const bin = records.slice(i, i + size);
    const mean = (f: (r: MetricsRecord) => number | null) => {
      const vs = bin.map(f).filter((v): v is number => v !== null && Number.isFinite(v));
      return vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : null;
    };
    out.push({
      step: Math.round(mean((r) => r.step)!),
      w: mean((r) => r.w)!,
      criticLoss: mean((r) => r.criticLoss)!,
      generatorLoss: mean((r) => r.generatorLoss)!,
      penalty: mean((r) => r.penalty),
      classLoss: mean((r) => r.classLoss ?? null),
      lr: mean((r) => r.lr)!,
      seconds: mean((r) => r.seconds)!,
    });
  }
  return out;
}

export async function writeCurvesPng(records: readonly MetricsRecord[], file: string, title: string): Promise<void> {
  const binned = binRecords(records);
  const w = binned.map((r) => ({ step: r.step, value: r.w }));
  const losses = binned.flatMap((r) => [
    { step: r.step, series: 'critic loss', value: r.criticLoss },
    { step: r.step, series: 'generator loss', value: r.generatorLoss },
    ...(r.penalty === null ? [] : [{ step: r.step, series: 'penalty (before λ)', value: r.penalty }]),
    ...(r.classLoss == null ? [] : [{ step: r.step, series: 'class cross-entropy (real)', value: r.classLoss }]),
  ]);
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    vconcat: [
      {
        width: WIDTH,
        height: 220,
        data: { values: w },
        mark: { type: 'line', color: '#1f77b4' },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'generator step' },
          y: { field: 'value', type: 'quantitative', title: 'W estimate E[D(x)] − E[D(G(z))]' },
        },
      },
      {
        width: WIDTH,
        height: 220,
        data: { values: losses },
        mark: 'line',
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'generator step' },
          y: { field: 'value', type: 'quantitative', title: 'loss' },
          color: { field: 'series', type: 'nominal', title: null },
        },
      },
    ],
  };
  await writeSpecPng(spec, file);
}

export async function writeScatterPng(
  generated: Float32Array,
  real: Float32Array,
  range: readonly [number, number],
  file: string,
  title: string,
): Promise<void> {
  const pts = (xy: Float32Array, series: string) => Array.from({ length: xy.length / 2 }, (_, i) => ({ x: xy[2 * i], y: xy[2 * i + 1], series }));
  const values = [...pts(real, 'real'), ...pts(generated, 'generated')];
  const domain = [range[0], range[1]];
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    width: 420,
    height: 420,
    data: { values },
    mark: { type: 'circle', size: 8, opacity: 0.6 },
    encoding: {
      x: { field: 'x', type: 'quantitative', scale: { domain, clamp: true } },
      y: { field: 'y', type: 'quantitative', scale: { domain, clamp: true } },
      color: { field: 'series', type: 'nominal', scale: { domain: ['real', 'generated'], range: ['#bbbbbb', '#d62728'] }, title: null },
    },
  };
  await writeSpecPng(spec, file);
}
