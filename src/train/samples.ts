/**
 * Sample sheets written every `--sample-every` steps: `samples/step-<n>.png`.
 *
 * The latents are fixed for the whole run — `sampleLatents({ seed, start: 0, … })` of
 * src/core/latent.ts, the same vectors the server returns for that seed — so successive sheets
 * show the same samples improving. Images: a grid close to square (conditional: each class keeps
 * its columns, class c in columns c, c + k, c + 2k, … of k classes, while k columns fit a square).
 * Points: a scatter plot over real samples.
 */
import { rename, writeFile } from 'node:fs/promises';
import { makeFolder } from '../io/make-folder.js';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { sampleLatents } from '../core/latent.js';
import { tileGrid, toUint8, upscale } from '../core/image.js';
import type { Dataset } from '../data/dataset.js';
import { CounterRng } from '../core/random.js';
import { generate } from './steps.js';

/** Images per sheet (conditional: rounded to whole rows of classes). */
export const SHEET_IMAGES = 64;
/** Points per scatter plot. */
export const SHEET_POINTS = 1000;
const SMALL_SHEET_PX = 400;
/** Scatter plots draw real points from this fixed stream (not the training stream). */
const SHEET_REAL_SEED_STREAM = 99;

export interface SampleSheet {
  z: Float32Array;
  labels: Int32Array | null;
  count: number;
  /** Grid columns (images). */
  columns: number;
  real: Float32Array | null;
}

/** Most columns per row of a grid (or rows per column) a sheet may have: beyond it, the plain square grid. */
const MAX_SHEET_ASPECT = 2;

/**
 * Columns of a near-square grid of `count` images. With `classes` > 0 (labels i mod classes, row
 * by row) a multiple of `classes`, so that each column holds one class, while that grid is no
 * more than {@link MAX_SHEET_ASPECT} times as wide as tall; else ⌈√count⌉.
 */
export function sheetColumns(count: number, classes: number): number {
  const square = Math.ceil(Math.sqrt(count));
  if (classes <= 0) return square;
  const columns = classes * Math.max(1, Math.round(Math.sqrt(count) / classes));
  return columns <= MAX_SHEET_ASPECT * Math.ceil(count / columns) ? columns : square;
}

export function makeSampleSheet(dataset: Dataset, latent: number, seed: number): SampleSheet {
  if (dataset.kind === 'points') {
    const real = dataset.sample(new CounterRng(seed, SHEET_REAL_SEED_STREAM), SHEET_POINTS).x;
    return { z: sampleLatents({ seed, start: 0, count: SHEET_POINTS, dim: latent }), labels: null, count: SHEET_POINTS, columns: 1, real };
  }
  const k = dataset.labels?.length ?? 0;
  const count = k > 0 ? k * Math.max(1, Math.floor(SHEET_IMAGES / k)) : SHEET_IMAGES;
  // Conditional: labels cycle row by row, so with a multiple of k columns column j is class j mod k.
  const labels = k > 0 ? Int32Array.from({ length: count }, (_, i) => i % k) : null;
  return { z: sampleLatents({ seed, start: 0, count, dim: latent }), labels, count, columns: sheetColumns(count, k), real: null };
}

/** Generator outputs for the sheet's latents (inference mode), in data coordinates for points. */
export async function sheetOutputs(generator: tf.LayersModel, sheet: SampleSheet, latent: number, dataScale: number): Promise<Float32Array> {
  const out = tf.tidy(() => {
    const z = tf.tensor2d(sheet.z, [sheet.count, latent]);
    const labels = sheet.labels ? tf.tensor2d(sheet.labels, [sheet.count, 1], 'int32') : null;
    const y = generate(generator, z, labels, false);
    return dataScale === 1 ? y : tf.div(y, dataScale);
  });
  try {
    return (await out.data()) as Float32Array; // asynchronous: WebGPU cannot read synchronously in Node
  } finally {
    out.dispose();
  }
}

export async function writeSampleSheet(
  file: string,
  generator: tf.LayersModel,
  sheet: SampleSheet,
  dataset: Dataset,
  opts: { latent: number; dataScale: number; title: string },
): Promise<void> {
  await makeFolder(path.dirname(file));
  const values = await sheetOutputs(generator, sheet, opts.latent, opts.dataScale);
  if (dataset.kind === 'points') {
    const { writeScatterPng } = await import('./plots.js');
    await writeScatterPng(values, sheet.real!, dataset.range, file, opts.title);
    return;
  }
  const [h, w, c] = dataset.shape;
  let grid = tileGrid(toUint8(values, [-1, 1]), { count: sheet.count, height: h, width: w, channels: c, columns: sheet.columns, padding: 2, background: 128 });
  // Small digits are hard to see: double them when the sheet is small.
  if (Math.max(grid.width, grid.height) < SMALL_SHEET_PX) grid = upscale(grid, 2);
  const png = await sharp(Buffer.from(grid.data), { raw: { width: grid.width, height: grid.height, channels: grid.channels as 1 | 3 } }).png().toBuffer();
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, png);
  await rename(tmp, file);
}
