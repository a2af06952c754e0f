/**
 * The quality tables of the README: reads the manifests that `scripts/train-bundled.sh` produced
 * (training.metrics filled in by src/eval after each run) and prints, per data set and algorithm,
 * every seed and the mean: modes and % high quality for the toys, evaluator accuracy and Fréchet
 * distance for MNIST; for image folders (e.g. data/emoji) every seed and the seed median of the
 * folder measurement (`wganx eval --data`: Fréchet distance against its train-vs-held-out
 * reference, generated against real accuracy, precision / recall, density / coverage), checked
 * against the own-images targets (FD ≤ 1.5× the reference, accuracy ≥ 0.85× real, recall ≥ 0.5).
 * A seed found twice in the same group (the shipped copy of a run) counts once.
 *
 *   node --import tsx scripts/quality-table.ts [models-dir ...]
 *   (default: models runs/bundled/models runs/bundled/emoji/models)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest, type Manifest } from '../src/core/manifest.js';

const dirs = process.argv.slice(2).length ? process.argv.slice(2) : ['models', 'runs/bundled/models', 'runs/bundled/emoji/models'];
const rows = new Map<string, Array<{ seed: number; name: string; modes: number; covered: number; hq: number; kl: number | null; seconds: number; steps: number }>>();
/** Image-folder models, by data set (and DiffAugment policy). */
const folders = new Map<string, Map<number, { seed: number; name: string; fd: number; reference: number; accuracy: number; real: number; precision: number; recall: number; density: number; coverage: number; seconds: number; steps: number }>>();
const digits: Array<{ seed: number; name: string; accuracy: number; fd: number; reference: number; classes: number; seconds: number; steps: number }> = [];

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
    if (!t) continue;
    const q = t.metrics as Record<string, number | null>;
    const seed = Number((t.hyperparameters as Record<string, unknown>).seed);
    if (t.dataset === 'mnist' && typeof q.evaluatorAccuracy === 'number') {
      digits.push({ seed, name: `${root}/${name}`, accuracy: q.evaluatorAccuracy, fd: Number(q.frechetDistance), reference: Number(q.frechetReference), classes: Number(q.classesPredicted), seconds: t.durationSeconds, steps: t.steps });
      continue;
    }
    if (t.dataset !== 'mnist' && typeof q.frechetDistance === 'number' && typeof q.classifierAccuracy === 'number') {
      const policy = (t.hyperparameters as Record<string, unknown>).diffaugment;
      const key = `${t.dataset}${typeof policy === 'string' && policy !== '' ? ` (DiffAugment ${policy})` : ''}`;
      const bySeed = folders.get(key) ?? new Map();
      if (!bySeed.has(seed)) {
        bySeed.set(seed, {
          seed, name: `${root}/${name}`, fd: q.frechetDistance, reference: Number(q.frechetReference), accuracy: Number(q.evaluatorAccuracy), real: q.classifierAccuracy,
          precision: Number(q.precision), recall: Number(q.recall), density: Number(q.density), coverage: Number(q.coverage), seconds: t.durationSeconds, steps: t.steps,
        });
      }
      folders.set(key, bySeed);
      continue;
    }
    if (!['ring8', 'grid25'].includes(t.dataset)) continue;
    if (typeof q.highQualityPercent !== 'number') continue;
    const key = `${t.dataset} ${t.algorithm}`;
    const list = rows.get(key) ?? [];
    list.push({ seed, name: `${root}/${name}`, modes: Number(q.modes), covered: Number(q.modesCovered), hq: Number(q.highQualityPercent), kl: q.reverseKl ?? null, seconds: t.durationSeconds, steps: t.steps });
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

if (digits.length > 0) {
  digits.sort((a, b) => a.seed - b.seed);
  console.log('\n| data | seed | evaluator accuracy % | Fréchet distance (real train vs held-out) | classes predicted | steps | train time | model |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of digits) {
    console.log(`| mnist | ${r.seed} | ${(100 * r.accuracy).toFixed(1)} | ${r.fd.toFixed(1)} (${r.reference.toFixed(1)}) | ${r.classes} / 10 | ${r.steps} | ${(r.seconds / 60).toFixed(1)} min | ${r.name} |`);
  }
  console.log(`| **mnist** | **mean of ${digits.length}** | **${(100 * mean(digits.map((r) => r.accuracy))).toFixed(1)}** | **${mean(digits.map((r) => r.fd)).toFixed(1)}** | | | **${(mean(digits.map((r) => r.seconds)) / 60).toFixed(1)} min** | |`);
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
for (const [key, bySeed] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
  const list = [...bySeed.values()].sort((a, b) => a.seed - b.seed);
  console.log(`\n| data | seed | Fréchet distance (reference) | FD / reference | generated accuracy % (real) | accuracy / real | precision / recall | density / coverage | steps | train time | model |`);
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of list) {
    console.log(`| ${key} | ${r.seed} | ${r.fd.toFixed(2)} (${r.reference.toFixed(2)}) | ${(r.fd / r.reference).toFixed(2)} | ${(100 * r.accuracy).toFixed(1)} (${(100 * r.real).toFixed(1)}) | ${(r.accuracy / r.real).toFixed(2)} | ${r.precision.toFixed(3)} / ${r.recall.toFixed(3)} | ${r.density.toFixed(3)} / ${r.coverage.toFixed(3)} | ${r.steps} | ${(r.seconds / 60).toFixed(1)} min | ${r.name} |`);
  }
  const m = (f: (r: (typeof list)[number]) => number) => median(list.map(f));
  const fdRatio = m((r) => r.fd / r.reference);
  const accRatio = m((r) => r.accuracy / r.real);
  const recall = m((r) => r.recall);
  console.log(`| **${key}** | **median of ${list.length}** | **${m((r) => r.fd).toFixed(2)}** | **${fdRatio.toFixed(2)}** | **${(100 * m((r) => r.accuracy)).toFixed(1)}** | **${accRatio.toFixed(2)}** | **${m((r) => r.precision).toFixed(3)} / ${recall.toFixed(3)}** | **${m((r) => r.density).toFixed(3)} / ${m((r) => r.coverage).toFixed(3)}** | | **${(m((r) => r.seconds) / 60).toFixed(1)} min** | |`);
  const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
  console.log(`\ntargets (seed median): FD / reference ${fdRatio.toFixed(2)} ≤ 1.5 ${verdict(fdRatio <= 1.5)}; accuracy / real ${accRatio.toFixed(2)} ≥ 0.85 ${verdict(accRatio >= 0.85)}; recall ${recall.toFixed(3)} ≥ 0.5 ${verdict(recall >= 0.5)}`);
}
