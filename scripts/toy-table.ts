/**
 * The toy quality table of the README: reads the manifests that `scripts/train-bundled.sh`
 * produced (training.metrics filled in by src/eval after each run) and prints, per data set and
 * algorithm, every seed and the mean, next to the published results of ../shared/WGAN.md.
 *
 *   node --import tsx scripts/toy-table.ts [models-dir ...]   (default: models runs/bundled/models)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest, type Manifest } from '../src/core/manifest.js';

const dirs = process.argv.slice(2).length ? process.argv.slice(2) : ['models', 'runs/bundled/models'];
const rows = new Map<string, Array<{ seed: number; name: string; modes: number; covered: number; hq: number; kl: number | null; seconds: number; steps: number }>>();

for (const root of dirs) {
  if (!existsSync(root)) continue;
  for (const name of readdirSync(root)) {
    const file = join(root, name, 'manifest.json');
    if (!existsSync(file)) continue;
    let m: Manifest;
    try {
      m = parseManifest(JSON.parse(readFileSync(file, 'utf8')), file);
    } catch {
      continue;
    }
    const t = m.training;
    if (!t || !['ring8', 'grid25'].includes(t.dataset)) continue;
    const q = t.metrics as Record<string, number | null>;
    if (typeof q.highQualityPercent !== 'number') continue;
    const key = `${t.dataset} ${t.algorithm}`;
    const list = rows.get(key) ?? [];
    list.push({ seed: Number((t.hyperparameters as Record<string, unknown>).seed), name: `${root}/${name}`, modes: Number(q.modes), covered: Number(q.modesCovered), hq: Number(q.highQualityPercent), kl: q.reverseKl ?? null, seconds: t.durationSeconds, steps: t.steps });
    rows.set(key, list);
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log('| data | algorithm | seed | modes covered | % high quality | reverse KL | steps | train time |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const key of [...rows.keys()].sort()) {
  const [dataset, algo] = key.split(' ');
  const list = rows.get(key)!.sort((a, b) => a.seed - b.seed);
  for (const r of list) {
    console.log(`| ${dataset} | ${algo} | ${r.seed} | ${r.covered} / ${r.modes} | ${r.hq.toFixed(1)} | ${r.kl === null ? '–' : r.kl.toFixed(3)} | ${r.steps} | ${(r.seconds / 60).toFixed(1)} min |`);
  }
  const kls = list.map((r) => r.kl).filter((k): k is number => k !== null);
  console.log(`| **${dataset}** | **${algo}** | **mean of ${list.length}** | **${mean(list.map((r) => r.covered)).toFixed(1)} / ${list[0].modes}** | **${mean(list.map((r) => r.hq)).toFixed(1)}** | **${kls.length ? mean(kls).toFixed(3) : '–'}** | | **${(mean(list.map((r) => r.seconds)) / 60).toFixed(1)} min** |`);
}
