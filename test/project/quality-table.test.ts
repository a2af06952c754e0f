/** scripts/quality-table.ts: the image-folder table takes each seed once and checks the seed medians against the own-images targets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHIPPED = JSON.parse(readFileSync(join(ROOT, 'models/emoji-cgan/manifest.json'), 'utf8')) as { training: { hyperparameters: Record<string, unknown>; metrics: Record<string, unknown> } };

function writeModel(root: string, name: string, seed: number, metrics: Record<string, number>, diffaugment?: string): void {
  const m = structuredClone(SHIPPED);
  m.training.hyperparameters.seed = seed;
  if (diffaugment) m.training.hyperparameters.diffaugment = diffaugment;
  Object.assign(m.training.metrics, metrics);
  mkdirSync(join(root, name), { recursive: true });
  writeFileSync(join(root, name, 'manifest.json'), JSON.stringify(m));
}

test('quality-table: image-folder seeds, each once, their medians and the targets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wganx-quality-'));
  try {
    const [shipped, runs] = [join(dir, 'models'), join(dir, 'runs')];
    const common = { frechetReference: 8, classifierAccuracy: 0.8 };
    writeModel(shipped, 'emoji-cgan', 0, { ...common, frechetDistance: 10, evaluatorAccuracy: 0.8, recall: 0.9 });
    // The same seed again (the run the shipped copy came from, measured otherwise): counted once, the first found.
    writeModel(runs, 'emoji-cgan-s0', 0, { ...common, frechetDistance: 99, evaluatorAccuracy: 0.1, recall: 0.1 });
    writeModel(runs, 'emoji-cgan-s1', 1, { ...common, frechetDistance: 14, evaluatorAccuracy: 0.6, recall: 0.4 });
    writeModel(runs, 'emoji-cgan-s2', 2, { ...common, frechetDistance: 11, evaluatorAccuracy: 0.64, recall: 0.45 });
    writeModel(runs, 'emoji-cgan-da-s0', 0, { ...common, frechetDistance: 20, evaluatorAccuracy: 0.7, recall: 0.6 }, 'color,cutout');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/quality-table.ts', shipped, runs], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('| data/emoji |') || l.startsWith('| **data/emoji'));
    // Seeds 0, 1, 2 of the base recipe (0 from the first folder), then the DiffAugment group's one seed.
    assert.deepEqual(rows.filter((l) => !l.includes('DiffAugment')).map((l) => l.split(' | ')[1]), ['0', '1', '2', '**median of 3**']);
    assert.match(r.stdout, /\| \*\*data\/emoji\*\* \| \*\*median of 3\*\* \| \*\*11\.00\*\* \| \*\*1\.38\*\* \| \*\*64\.0\*\* \| \*\*0\.80\*\* \|/);
    assert.match(r.stdout, /targets \(seed median\): FD \/ reference 1\.38 ≤ 1\.5 met; accuracy \/ real 0\.80 ≥ 0\.85 missed; recall 0\.450 ≥ 0\.5 missed/);
    assert.match(r.stdout, /\| \*\*data\/emoji \(DiffAugment color,cutout\)\*\* \| \*\*median of 1\*\* \| \*\*20\.00\*\* \| \*\*2\.50\*\*/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
