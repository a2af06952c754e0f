/**
 * Model folders that ship their critic (issue 35), exported with the real exporter and the real
 * gradient-graph builder: generator.onnx + critic.onnx + refine.onnx + manifest.json, with seeded
 * random weights that make every layer matter (so the critic's scores differ between candidates and
 * its gradient is not flat):
 * - `spots`: MLP point generator, z[6] → [2], its MLP critic (unconditional);
 * - `glyphs`: conditional DCGAN, (z[6], label of 3) → 16×16×1, projection critic;
 * - `bare`: `spots`' generator without its critic (a model that cannot refine).
 * Shared by the server's refinement tests and the browser's (test/web/refine.test.ts).
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

export const GLYPH_LABELS = ['a', 'b', 'c'];

function spec(kind: 'points' | 'image', classes: number): NetSpec {
  return {
    kind, dataShape: kind === 'points' ? [2] : [16, 16, 1], latent: 6, numClasses: classes, hidden: 8, layers: 2,
    criticActivation: 'leaky_relu', criticNorm: 'none', gNorm: 'batch', gCond: 'multiply', dCond: 'projection', auxClassifier: false,
  };
}

/** Seeded weights: kernels He-normal, scales and variances in [0.5, 1.5), the rest N(0, 0.2) (embeddings moved by it). */
function randomize(model: tf.LayersModel, seed: number): void {
  const values = model.weights.map((w, i) =>
    tf.tidy(() => {
      const shape = w.shape as number[];
      const s = seed * 1000 + i;
      switch (w.originalName.split('/').pop()!.replace(/_\d+$/, '')) {
        case 'kernel':
          return tf.randomNormal(shape, 0, Math.sqrt(2 / shape.slice(0, -1).reduce((a, b) => a * b, 1)), 'float32', s);
        case 'gamma':
        case 'moving_variance':
          return tf.randomUniform(shape, 0.5, 1.5, 'float32', s);
        case 'embeddings':
          return tf.add(w.read(), tf.randomNormal(shape, 0, 0.2, 'float32', s));
        default:
          return tf.randomNormal(shape, 0, 0.2, 'float32', s);
      }
    }),
  );
  model.setWeights(values);
  tf.dispose(values);
}

async function exportOne(dir: string, name: string, arch: string, netSpec: NetSpec, withCritic: boolean): Promise<void> {
  const { generator, critic } = await buildNets(arch, netSpec, new CounterRng(5, 0));
  randomize(generator, 1);
  randomize(critic, 2);
  try {
    await exportModel(generator, dir, {
      name,
      kind: netSpec.kind,
      ...(netSpec.kind === 'points' ? { outputRange: [-2, 2] as [number, number] } : {}),
      ...(netSpec.numClasses > 0 ? { labels: GLYPH_LABELS } : {}),
      critic: withCritic ? { model: critic, refine: buildRefineGraph } : null,
    });
  } finally {
    generator.dispose();
    critic.dispose();
  }
}

/** A temp folder `models/` with the chosen fixtures; `cleanup()` removes it. */
export async function refineModels(which: ('spots' | 'glyphs' | 'bare')[] = ['spots', 'glyphs', 'bare']) {
  const root = mkdtempSync(join(tmpdir(), 'wganx-refine-serve-'));
  const models = join(root, 'models');
  if (which.includes('spots')) await exportOne(join(models, 'spots'), 'spots', 'mlp', spec('points', 0), true);
  if (which.includes('glyphs')) await exportOne(join(models, 'glyphs'), 'glyphs', 'dcgan', spec('image', 3), true);
  if (which.includes('bare')) await exportOne(join(models, 'bare'), 'bare', 'mlp', spec('points', 0), false);
  return { root, models, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
