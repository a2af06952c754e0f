#!/usr/bin/env node
/**
 * The colour data set: Noto emoji from the npm package `emoji-datasource-google` (MIT package;
 * images Apache-2.0), laid out for `wganx train --dataset <out> --conditional`:
 *
 *   <out>/train/<category>/<unified>.png      64×64 RGBA PNGs (the loader composites them on --background)
 *   <out>/holdout/<category>/<unified>.png
 *
 * Nine classes: the package's categories except `Component`, slug = lower case, ' & ' → '-',
 * spaces → '-'. Within each category the base emoji are sorted by `unified`; every tenth (index
 * % 10 = 9) is held out together with its skin-tone variants (near-duplicates of it), the rest
 * trains. Only the npm registry is needed (`npm pack`).
 *
 *   npm run data:emoji -- --out data/emoji [--version 16.0.0] [--force]
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { parseArgs } from 'node:util';
import tar from 'tar-stream';

const PACKAGE = 'emoji-datasource-google';
const DEFAULT_VERSION = '16.0.0';
const IMAGE_DIR = 'package/img/google/64/';
const HOLDOUT_EVERY = 10;
const HOLDOUT_INDEX = 9;
const EXCLUDED_CATEGORIES = new Set(['Component']);

export function slug(category) {
  return category.toLowerCase().replace(/ & /g, '-').replace(/ /g, '-');
}

/**
 * Which file goes where: `[{ file, split, cls }]` for every emoji with a Google image, and the
 * class slugs in order.
 */
export function layout(emoji) {
  const byCategory = new Map();
  for (const e of emoji) {
    if (EXCLUDED_CATEGORIES.has(e.category) || !e.has_img_google) continue;
    if (!byCategory.has(e.category)) byCategory.set(e.category, []);
    byCategory.get(e.category).push(e);
  }
  const out = [];
  for (const [category, list] of byCategory) {
    list.sort((a, b) => (a.unified < b.unified ? -1 : a.unified > b.unified ? 1 : 0));
    list.forEach((e, i) => {
      const split = i % HOLDOUT_EVERY === HOLDOUT_INDEX ? 'holdout' : 'train';
      out.push({ file: e.image, split, cls: slug(category) });
      for (const v of Object.values(e.skin_variations ?? {})) if (v.has_img_google) out.push({ file: v.image, split, cls: slug(category) });
    });
  }
  return { files: out, classes: [...byCategory.keys()].map(slug).sort() };
}

/** The entries of a .tgz as a Map of name → Buffer, for names `want` accepts. */
async function readTarball(file, want) {
  const files = new Map();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks = [];
    stream.on('data', (c) => { if (want(header.name)) chunks.push(c); });
    stream.on('end', () => {
      if (want(header.name)) files.set(header.name, Buffer.concat(chunks));
      next();
    });
    stream.resume();
  });
  await new Promise((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    createReadStream(file).pipe(createGunzip()).on('error', reject).pipe(extract);
  });
  return files;
}

async function main() {
  const { values } = parseArgs({ options: { out: { type: 'string' }, version: { type: 'string', default: DEFAULT_VERSION }, force: { type: 'boolean', default: false } } });
  if (!values.out) {
    process.stderr.write('data:emoji: --out <dir> is required (e.g. npm run data:emoji -- --out data/emoji)\n');
    process.exitCode = 2;
    return;
  }
  const out = path.resolve(values.out);
  if (existsSync(out) && !values.force) {
    process.stderr.write(`data:emoji: ${values.out} exists; pass --force to lay it out again\n`);
    process.exitCode = 1;
    return;
  }
  const work = mkdtempSync(path.join(tmpdir(), 'wganx-emoji-'));
  try {
    process.stderr.write(`data:emoji: npm pack ${PACKAGE}@${values.version}\n`);
    const packed = execFileSync('npm', ['pack', `${PACKAGE}@${values.version}`, '--pack-destination', work, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
    const files = await readTarball(path.join(work, packed), (n) => n === 'package/emoji.json' || (n.startsWith(IMAGE_DIR) && n.endsWith('.png')));
    const emoji = JSON.parse(files.get('package/emoji.json').toString('utf8'));
    const { files: plan, classes } = layout(emoji);
    const staging = `${out}.tmp-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    const counts = {};
    for (const { file, split, cls } of plan) {
      const png = files.get(IMAGE_DIR + file);
      if (!png) throw new Error(`${PACKAGE}@${values.version} has no ${IMAGE_DIR}${file}`);
      const dir = path.join(staging, split, cls);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, file), png);
      counts[`${split}/${cls}`] = (counts[`${split}/${cls}`] ?? 0) + 1;
    }
    await writeFile(path.join(staging, 'SOURCE.md'), `Noto emoji from the npm package ${PACKAGE}@${values.version} (package MIT; images Apache-2.0),\nlaid out by wganx's scripts/data-emoji.mjs: ${classes.length} classes, every tenth base emoji of a category\n(with its skin tones) held out.\n`);
    await rm(out, { recursive: true, force: true });
    await rename(staging, out);
    const train = plan.filter((p) => p.split === 'train').length;
    process.stdout.write(`data:emoji: ${values.out}: ${plan.length} images, ${classes.length} classes (${classes.join(', ')}); train ${train}, holdout ${plan.length - train}\n`);
    for (const cls of classes) process.stdout.write(`  ${cls.padEnd(16)} train ${String(counts[`train/${cls}`] ?? 0).padStart(5)}  holdout ${String(counts[`holdout/${cls}`] ?? 0).padStart(4)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    process.stderr.write(`data:emoji: ${err.message}\n`);
    process.exitCode = 1;
  });
}
