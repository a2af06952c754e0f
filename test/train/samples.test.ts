/** Training's sample sheets (src/train/samples.ts): grids close to square, one class a column when they fit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gridLayout } from '../../src/core/image.js';
import type { Dataset } from '../../src/data/dataset.js';
import { makeSampleSheet, sheetColumns } from '../../src/train/samples.js';

/** The parts of an image data set a sheet reads. */
const images = (classes: number) => ({ kind: 'image', shape: [32, 32, 3], labels: classes > 0 ? Array.from({ length: classes }, (_, c) => `c${c}`) : null }) as unknown as Dataset;

test('a 3-class sheet is close to square (was a 100×712 strip of 3 columns), each column one class', () => {
  const sheet = makeSampleSheet(images(3), 4, 0);
  assert.equal(sheet.count, 63);
  assert.equal(sheet.columns, 9);
  const grid = gridLayout({ count: sheet.count, height: 32, width: 32, columns: sheet.columns });
  assert.deepEqual([grid.width, grid.height], [9 * 32 + 8 * 2, 7 * 32 + 6 * 2]);
  for (let i = 0; i < sheet.count; i++) assert.equal(sheet.labels![i], (i % sheet.columns) % 3, `sample ${i}: column ${i % sheet.columns} holds one class`);
});

test('every class count and the unconditional sheet give grids at most twice as wide as tall, and never taller than wide by more', () => {
  for (const k of [0, 1, 2, 3, 4, 5, 7, 10, 16, 20, 32, 64, 100]) {
    const sheet = makeSampleSheet(images(k), 4, 0);
    const { columns, rows } = gridLayout({ count: sheet.count, height: 1, width: 1, columns: sheet.columns });
    assert.ok(columns <= 2 * rows && rows <= 2 * columns, `${k} classes: ${columns} columns × ${rows} rows`);
    if (k > 0 && columns % k === 0) for (let i = 0; i < sheet.count; i++) assert.equal(sheet.labels![i], i % columns % k);
  }
  assert.equal(sheetColumns(60, 10), 10, 'ten classes: a row of each (6 rows)');
  assert.equal(sheetColumns(64, 0), 8);
  assert.equal(sheetColumns(64, 64), 8, 'more classes than a square row holds: the square grid');
});
