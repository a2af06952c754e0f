/**
 * A GPU stand-in for the serving benchmark: a 28×28×1 image generator whose run costs about the
 * same at batch 1 as at batch 64, as a small GAN's batch does on a GPU (on an H200 the benchmark's
 * DCGAN ran a batch of 64 in ~1.4 ms, and its batching-off server answered 515–785 batch-1
 * requests/s). On a CPU the DCGAN's cost grows with the batch (a batch of 64 costs 40–60× a batch
 * of 1 on 2 cores), so `bench:serve` on it cannot show what dynamic batching is for; on this model
 * it can, on any machine.
 *
 * The generator is a real exported model (latent → Dense 784 → tanh → 28×28×1, through
 * `exportModel`, parity-checked) plus a fixed-cost branch added to its ONNX graph: a chain of
 * `links` MatMul+Tanh on a 256×256 matrix that depends on the latent batch only through one
 * scalar (so no runtime can skip it), scaled by 1e-30 and added to the samples. Its float32
 * outputs are bit-identical to the plain generator's (|branch| ≤ 1e-30 is below half an ulp of
 * any sample farther than ~1e-22 from zero; the test checks it); its cost does not grow with the batch.
 *
 * @example
 *   const dir = await writeFlatCostModel(join(tmp, 'models'), 'flat', { links: 8 });
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sampleLatents } from '../src/core/latent.js';
import { parseManifest } from '../src/core/manifest.js';
import { exportModel, MANIFEST_FILE, ONNX_FILE } from '../src/export/index.js';
import { embedManifest } from '../src/export/metadata.js';
import { decodeModel, encodeModel, GraphBuilder } from '../src/export/onnx-builder.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { BENCH_LATENT } from './common.js';

/** Side of the square matrix each link of the fixed-cost chain multiplies (2·256³ ≈ 34 MFLOP a link). */
export const FLAT_SIDE = 256;

/** Writes `<modelsDir>/<name>/{generator.onnx, manifest.json}`; returns the model folder. */
export async function writeFlatCostModel(modelsDir: string, name: string, opts: { links: number }): Promise<string> {
  if (!Number.isInteger(opts.links) || opts.links < 1) throw new Error(`links: ${opts.links} is not a whole number ≥ 1`);
  const dir = join(modelsDir, name);
  const plain = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [BENCH_LATENT], units: 28 * 28, activation: 'tanh', kernelInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: 1 }) }),
      tf.layers.reshape({ targetShape: [28, 28, 1] }),
    ],
  });
  await exportModel(plain, dir, { name, description: `GPU stand-in: batch-independent cost (${opts.links} links of ${FLAT_SIDE}² MatMul)` });
  plain.dispose();

  const model = decodeModel(await readFile(join(dir, ONNX_FILE)));
  const graph = model.graph!;
  const output = graph.output![0].name!;
  const latent = graph.input![0].name!;
  const last = graph.node!.find((n) => n.output!.includes(output))!;
  const b = new GraphBuilder(graph.name!);
  // The builder hands out tensor and node names that the exported graph does not use.
  for (const n of graph.node!) for (const t of [n.name!, ...n.input!, ...n.output!]) b.unique(t);
  for (const i of graph.initializer!) b.unique(i.name!);
  const pre = b.unique('samples_plain');
  last.output = last.output!.map((o) => (o === output ? pre : o));

  // s = Σz (a scalar that depends on every input), h₀ = A + s, hₖ₊₁ = tanh(hₖ·W), r = mean(h) · 1e-30.
  // Seeded uniform [-1, 1) matrices: their values do not matter, only their cost.
  const matrix = (seed: number, scale: number) => sampleLatents({ seed, start: 0, count: FLAT_SIDE, dim: FLAT_SIDE, distribution: 'uniform' }).map((v) => v * scale);
  const a = b.initializer('flat/a', [FLAT_SIDE, FLAT_SIDE], matrix(1, 1));
  const w = b.initializer('flat/w', [FLAT_SIDE, FLAT_SIDE], matrix(2, 2 / Math.sqrt(FLAT_SIDE)));
  const tiny = b.initializer('flat/tiny', [], new Float32Array([1e-30]));
  const [s] = b.node('ReduceSum', [latent], { keepdims: 0 }, ['flat/sum'], 'flat/ReduceSum');
  let [h] = b.node('Add', [a, s], {}, ['flat/h'], 'flat/Add');
  for (let k = 0; k < opts.links; k++) {
    const [m] = b.node('MatMul', [h, w], {}, ['flat/mm'], 'flat/MatMul');
    [h] = b.node('Tanh', [m], {}, ['flat/h'], 'flat/Tanh');
  }
  const [r] = b.node('ReduceMean', [h], { keepdims: 0 }, ['flat/mean'], 'flat/ReduceMean');
  const [rs] = b.node('Mul', [r, tiny], {}, ['flat/scaled'], 'flat/Mul');
  b.nodeTo('Add', [pre, rs], {}, [output], 'flat/out');
  graph.node = [...graph.node!, ...b.nodes];
  graph.initializer = [...graph.initializer!, ...b.initializers];

  const manifestPath = join(dir, MANIFEST_FILE);
  const exported = parseManifest(JSON.parse(await readFile(manifestPath, 'utf8')), manifestPath);
  const embedded = parseManifest({ ...exported, export: { ...exported.export, sha256: null } });
  const bytes = embedManifest(encodeModel(model), embedded);
  const manifest = parseManifest({ ...embedded, export: { ...embedded.export, sha256: createHash('sha256').update(bytes).digest('hex') } });
  await writeFileAtomic(join(dir, ONNX_FILE), bytes);
  await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}
