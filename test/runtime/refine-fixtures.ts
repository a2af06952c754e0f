/**
 * Tiny models with their critic, exported with the real exporter (critic.onnx and refine.onnx, as
 * `wganx train` writes them) into a temp folder, for the refinement tests of the runtime, `wganx
 * eval` and `wganx augment`:
 * - `points`: MLP points generator z[6] → [2] and its critic, trained-on `ring8` in the provenance;
 * - `digits`: conditional DCGAN, (z[6], label of 3) → 16×16×1, projection critic;
 * - `bare`: the points generator without a critic (a folder from before issue 35).
 * Critic weights are moved off their initial values so that scores and gradients are not trivial.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CounterRng } from '../../src/core/random.js';
import { exportModel } from '../../src/export/index.js';
import { buildRefineGraph } from '../../src/export/refine-graph.js';
import { buildNets } from '../../src/train/models/index.js';
import type { NetSpec } from '../../src/train/models/spec.js';

await tf.setBackend('cpu');

function perturb(model: tf.LayersModel, seed: number, scale: number): void {
  const values = model.getWeights().map((w, i) => tf.tidy(() => tf.add(w, tf.randomNormal(w.shape, 0, scale, 'float32', seed + i))));
  model.setWeights(values);
  tf.dispose(values);
}

const provenance = (dataset: string) => ({ algorithm: 'wgan-gp', dataset, steps: 0, hyperparameters: {}, command: 'test', backend: 'cpu', durationSeconds: 0, metrics: {} });

async function exportPair(dir: string, name: string, arch: 'mlp' | 'dcgan', spec: NetSpec, opts: { critic: boolean; dataset: string | null; labels?: string[] }) {
  const { generator, critic } = await buildNets(arch, spec, new CounterRng(5, 0));
  perturb(critic, 3, 0.3);
  perturb(generator, 40, 0.1);
  try {
    await exportModel(generator, dir, {
      name,
      labels: opts.labels,
      training: opts.dataset === null ? null : provenance(opts.dataset),
      critic: opts.critic ? { model: critic, refine: buildRefineGraph } : null,
      log: () => {},
    });
  } finally {
    generator.dispose();
    critic.dispose();
  }
}

const base = { latent: 6, hidden: 8, layers: 2, criticActivation: 'leaky_relu', criticNorm: 'none', gCond: 'multiply', dCond: 'projection' } as const;

export async function criticFixtures() {
  const root = mkdtempSync(join(tmpdir(), 'wganx-refine-'));
  const points = join(root, 'points');
  const digits = join(root, 'digits');
  const bare = join(root, 'bare');
  const pointSpec: NetSpec = { ...base, kind: 'points', dataShape: [2], numClasses: 0 };
  await exportPair(points, 'points', 'mlp', pointSpec, { critic: true, dataset: 'ring8' });
  await exportPair(bare, 'bare', 'mlp', pointSpec, { critic: false, dataset: 'ring8' });
  await exportPair(digits, 'digits', 'dcgan', { ...base, kind: 'image', dataShape: [16, 16, 1], numClasses: 3 }, { critic: true, dataset: null, labels: ['a', 'b', 'c'] });
  return { root, points, digits, bare, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
