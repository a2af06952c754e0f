/**
 * refine.onnx (src/export/refine-graph.ts, issue 35) on the nets `wganx train` builds:
 * - generator side: ∂/∂z of Σ w ⊙ G(z, y) (a "critic" that is a fixed random weighting) against
 *   tf.grad and finite differences, for MLP (points, images) and DCGAN generators, unconditional
 *   and conditional (multiply, concat);
 * - the real critics (unconditional, projection with the AC head, concat; layer norm; MLP, DCGAN
 *   and the resnet): grad_z against tf.grad of critic(G(z, y), y).sum() on random inputs, samples
 *   and score against generator.onnx and critic.onnx, a few coordinates by finite differences;
 *   opset 13 (layer norm decomposed);
 * - exportModel with the builder writes refine.onnx and manifest `critic.refine`; a failing
 *   gradient check writes nothing; a critic that does not fit the generator is refused.
 * Weights and batch-norm statistics are seeded so that no layer is an identity and gradients are near 1. The official
 * ONNX checker passes every refine.onnx.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, ParityError } from '../../src/core/errors.js';
import { UnsupportedGradientError } from '../../src/export/backward.js';
import { CounterRng } from '../../src/core/random.js';
import { convertCritic, convertLayersModel, exportModel, type RefineRequest } from '../../src/export/index.js';
import { buildRefineGraph, checkRefineGradient, composeRefineGraph } from '../../src/export/refine-graph.js';
import { readModelFolder } from '../../src/runtime/model-folder.js';
import { createSession } from '../../src/runtime/node.js';
import { buildNets } from '../../src/train/models/index.js';
import type { NetSpec } from '../../src/train/models/spec.js';
import { queueForChecker, runOnnxChecker } from './helpers.js';

await tf.setBackend('cpu');
const root = mkdtempSync(join(tmpdir(), 'wganx-refine-'));
/** grad_z within this × the largest gradient of tf.grad (float32 rounding is about 1e-6 of it). */
const RELATIVE = 1e-4;
const FD_STEPS = [1e-3, 3e-4, 1e-4];

after(() => {
  const { checked, failures } = runOnnxChecker();
  rmSync(root, { recursive: true, force: true });
  assert.ok(checked >= 19, `only ${checked} refine graphs were checked`);
  assert.deepEqual(failures, [], 'the official ONNX checker rejected files');
});

type Cond = 'none' | 'multiply' | 'concat' | 'projection+ac';

function netSpec(arch: string, cond: Cond, norm: 'none' | 'layer' = 'none', act: NetSpec['criticActivation'] = 'leaky_relu'): NetSpec {
  const points = arch === 'mlp-points';
  return {
    kind: points ? 'points' : 'image', dataShape: points ? [2] : arch === 'mlp' ? [6, 6, 1] : [16, 16, 1], latent: 6,
    numClasses: cond === 'none' ? 0 : 3, hidden: 8, layers: 2, criticActivation: act, criticNorm: norm, gNorm: 'batch',
    gCond: cond === 'concat' ? 'concat' : 'multiply', dCond: cond === 'concat' ? 'concat' : 'projection', auxClassifier: cond === 'projection+ac',
  };
}

/**
 * Seeded weights that make every layer matter and keep the gradient near 1: kernels He-normal
 * (variance 2/fan-in, so ReLU stacks neither vanish nor explode), scales and variances in [0.5, 1.5),
 * biases, shifts and means N(0, 0.2), label embeddings moved by N(0, 0.2).
 */
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

async function nets(arch: string, spec: NetSpec) {
  const built = await buildNets(arch === 'mlp-points' ? 'mlp' : arch, spec, new CounterRng(5, 0));
  randomize(built.generator, 1);
  randomize(built.critic, 2);
  return built;
}

/** A "critic" that weights the sample with fixed random w: score = Σ w ⊙ x (+ a per-class offset). */
function weightingCritic(shape: readonly number[], classes: number): tf.LayersModel {
  const x = tf.input({ shape: [...shape] });
  const flat = shape.length > 1 ? (tf.layers.flatten().apply(x) as tf.SymbolicTensor) : x;
  const weighted = tf.layers.dense({ units: 1, useBias: false, kernelInitializer: tf.initializers.randomNormal({ stddev: 1, seed: 3 }) }).apply(flat) as tf.SymbolicTensor;
  if (classes === 0) return tf.model({ inputs: x, outputs: weighted });
  const label = tf.input({ shape: [1], dtype: 'int32' });
  const offset = tf.layers.flatten().apply(tf.layers.embedding({ inputDim: classes, outputDim: 1, embeddingsInitializer: tf.initializers.randomNormal({ stddev: 1, seed: 4 }) }).apply(label)) as tf.SymbolicTensor;
  return tf.model({ inputs: [x, label], outputs: tf.layers.add().apply([weighted, offset]) as tf.SymbolicTensor });
}

/** Feeds of batch 2: z from a fixed formula, labels 0 and 2. */
function feedsOf(z: Float32Array, conditional: boolean) {
  const feeds: Record<string, { dtype: 'float32' | 'int64'; data: Float32Array | BigInt64Array; dims: number[] }> = { z: { dtype: 'float32', data: z, dims: [2, 6] } };
  if (conditional) feeds.label = { dtype: 'int64', data: BigInt64Array.from([0n, 2n]), dims: [2, 1] };
  return feeds;
}

/**
 * grad_z of refine.onnx against central differences of Σ score on a few coordinates, in float32. A
 * step may straddle a ReLU kink (too large) or drown in rounding (too small), so a coordinate passes
 * when one of the steps agrees within 1 % of the largest gradient plus the score's float32 noise.
 */
async function expectFiniteDifferences(bytes: Uint8Array, conditional: boolean, label: string) {
  const session = await createSession(bytes, { providers: ['cpu'], threads: 1 });
  try {
    const z = Float32Array.from({ length: 12 }, (_, i) => Math.sin(1.3 * i + 0.4));
    const run = async (data: Float32Array) => session.run(feedsOf(data, conditional));
    const total = async (data: Float32Array) => ((await run(data)).score.data as Float32Array).reduce((a, b) => a + b, 0);
    const first = await run(z);
    const grad = Float32Array.from(first.grad_z.data as Float32Array);
    const scale = Math.max(...Array.from(grad, Math.abs));
    const magnitude = (first.score.data as Float32Array).reduce((a, b) => a + Math.abs(b), 0);
    for (const j of [0, 3, 7, 11]) {
      const tried: string[] = [];
      let agrees = false;
      for (const h of FD_STEPS) {
        const [plus, minus] = [Float32Array.from(z), Float32Array.from(z)];
        plus[j] += h;
        minus[j] -= h;
        const fd = ((await total(plus)) - (await total(minus))) / (2 * h);
        const bound = 1e-2 * scale + (1e-7 * magnitude) / h;
        tried.push(`step ${h}: ${fd} (bound ${bound.toExponential(1)})`);
        if (Math.abs(fd - grad[j]) <= bound) agrees = true;
      }
      assert.ok(agrees, `${label}: grad_z[${j}] = ${grad[j]}, finite differences ${tried.join(', ')}`);
    }
  } finally {
    await session.release();
  }
}

/** Compose, check against tf.grad (relative 1e-4, the gradient not trivially small), queue for the checker. */
async function expectGradient(generator: tf.LayersModel, critic: tf.LayersModel, label: string, opts: { opset?: number; numClasses: number }) {
  const gen = convertLayersModel(generator, { outputNames: ['samples'], opset: opts.opset });
  const crit = convertCritic(critic, { opset: opts.opset });
  const refine = composeRefineGraph(gen.model, crit.model);
  queueForChecker(refine.bytes, label);
  const tensors = tf.memory().numTensors;
  const check = await checkRefineGradient(generator, critic, refine.bytes, gen.inputs, { numClasses: opts.numClasses, relativeTolerance: RELATIVE });
  assert.equal(tf.memory().numTensors, tensors, `${label}: the gradient check leaves no tensor behind`);
  assert.ok(check.gradScale > 1e-2, `${label}: the gradient is too small to test anything (${check.gradScale})`);
  assert.ok(check.maxAbsDiff <= check.tolerance, `${label}: max |grad_z − tf.grad| = ${check.maxAbsDiff} > ${check.tolerance} (largest gradient ${check.gradScale})`);
  assert.ok(check.scoreMaxAbsDiff <= 1e-5 * Math.max(1, check.scoreScale), `${label}: max |score − tfjs| = ${check.scoreMaxAbsDiff}`);
  return { gen, crit, refine };
}

const GENERATORS = ['mlp-points', 'mlp', 'dcgan'] as const;

for (const arch of GENERATORS) {
  test(`${arch} generator: ∂/∂z of Σ w ⊙ G(z, y) against tf.grad and finite differences (unconditional, multiply, concat)`, async () => {
    for (const cond of ['none', 'multiply', 'concat'] as const) {
      const spec = netSpec(arch, cond);
      const { generator, critic } = await nets(arch, spec);
      critic.dispose();
      const weighting = weightingCritic(spec.dataShape, spec.numClasses);
      try {
        const label = `${arch}-generator-${cond}`;
        const { refine } = await expectGradient(generator, weighting, label, { numClasses: 3 });
        assert.deepEqual(refine.inputs.map((i) => i.name), cond === 'none' ? ['z'] : ['z', 'label']);
        assert.deepEqual(refine.outputs, [
          { name: 'samples', dtype: 'float32', shape: ['batch', ...spec.dataShape] },
          { name: 'score', dtype: 'float32', shape: ['batch'] },
          { name: 'grad_z', dtype: 'float32', shape: ['batch', 6] },
        ]);
        await expectFiniteDifferences(refine.bytes, cond !== 'none', label);
      } finally {
        generator.dispose();
        weighting.dispose();
      }
    }
  });
}

const CRITICS: { arch: string; conds: Cond[]; norms: ('none' | 'layer')[]; acts: NetSpec['criticActivation'][] }[] = [
  { arch: 'mlp-points', conds: ['none', 'projection+ac', 'concat'], norms: ['none', 'layer'], acts: ['leaky_relu', 'tanh'] },
  { arch: 'dcgan', conds: ['none', 'projection+ac', 'concat'], norms: ['layer'], acts: ['relu'] },
];

for (const c of CRITICS) {
  test(`${c.arch} with its critic: grad_z against tf.grad of critic(G(z, y), y).sum(), samples and score against generator.onnx and critic.onnx`, async () => {
    let k = 0;
    for (const cond of c.conds) {
      for (const norm of c.norms) {
        const act = c.acts[k++ % c.acts.length];
        const spec = netSpec(c.arch, cond, norm, act);
        const { generator, critic } = await nets(c.arch, spec);
        const label = `${c.arch}-${cond}-${norm}-${act}`;
        try {
          const { gen, crit, refine } = await expectGradient(generator, critic, label, { numClasses: 3 });
          // The same samples as generator.onnx, and the score critic.onnx gives them.
          const conditional = cond !== 'none';
          const z = Float32Array.from({ length: 12 }, (_, i) => Math.cos(0.7 * i));
          const [rs, gs, cs] = await Promise.all([refine.bytes, gen.bytes, crit.bytes].map((b) => createSession(b, { providers: ['cpu'], threads: 1 })));
          try {
            const out = await rs.run(feedsOf(z, conditional));
            const plain = (await gs.run(feedsOf(z, conditional))).samples;
            const critFeeds: Record<string, typeof plain> = { x: plain };
            if (conditional) critFeeds.label = feedsOf(z, true).label;
            const scored = (await cs.run(critFeeds)).score;
            assert.deepEqual(Array.from(out.samples.data as Float32Array), Array.from(plain.data as Float32Array), `${label}: samples`);
            const diff = Math.max(...Array.from(out.score.data as Float32Array, (v, i) => Math.abs(v - (scored.data as Float32Array)[i])));
            assert.ok(diff <= 1e-5, `${label}: score differs from critic.onnx by ${diff}`);
            assert.deepEqual(out.score.dims, [2]);
            assert.deepEqual(out.grad_z.dims, [2, 6]);
          } finally {
            await Promise.all([rs, gs, cs].map((s) => s.release()));
          }
          await expectFiniteDifferences(refine.bytes, conditional, label);
        } finally {
          generator.dispose();
          critic.dispose();
        }
      }
    }
  });
}

test('resnet generator and critic (nearest up-sampling, conditional batch norm, mean pooling): grad_z against tf.grad and finite differences', async () => {
  for (const cond of ['none', 'projection+ac'] as const) {
    const spec = { ...netSpec('resnet', cond), dataShape: [8, 8, 1] };
    const { generator, critic } = await nets('resnet', spec);
    try {
      const { refine } = await expectGradient(generator, critic, `resnet-${cond}`, { numClasses: 3 });
      await expectFiniteDifferences(refine.bytes, cond !== 'none', `resnet-${cond}`);
    } finally {
      generator.dispose();
      critic.dispose();
    }
  }
});

test('opset 13 (layer norm as ReduceMean, Sub, Div, Sqrt): grad_z against tf.grad', async () => {
  const spec = netSpec('dcgan', 'projection+ac', 'layer', 'tanh');
  const { generator, critic } = await nets('dcgan', spec);
  try {
    const { refine } = await expectGradient(generator, critic, 'dcgan-opset13', { numClasses: 3, opset: 13 });
    const types = new Set(refine.model.graph!.node!.map((n) => n.opType));
    assert.ok(!types.has('LayerNormalization') && types.has('ReduceMean'), 'layer norm is decomposed at opset 13');
  } finally {
    generator.dispose();
    critic.dispose();
  }
});

test('exportModel with buildRefineGraph writes refine.onnx and manifest critic.refine; a failed gradient check writes nothing', async () => {
  const spec = netSpec('mlp-points', 'projection+ac', 'layer');
  const { generator, critic } = await nets('mlp-points', spec);
  try {
    const dir = join(root, 'model');
    const result = await exportModel(generator, dir, { name: 'refined', critic: { model: critic, refine: buildRefineGraph } });
    const entry = result.manifest.critic?.refine;
    assert.ok(entry, 'manifest.critic.refine');
    assert.equal(entry.file, 'refine.onnx');
    const bytes = readFileSync(join(dir, 'refine.onnx'));
    assert.equal(entry.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual(entry.outputs.map((o) => o.name), ['samples', 'score', 'grad_z']);
    assert.ok(entry.gradientCheck.maxAbsDiff <= entry.gradientCheck.tolerance && entry.gradientCheck.tolerance > 0, JSON.stringify(entry.gradientCheck));
    const folder = await readModelFolder(dir);
    assert.equal(folder.refine?.sha256, entry.sha256);
    queueForChecker(bytes, 'exported-refine');

    // A builder whose tfjs critic is not the exported one: the check fails, the folder is untouched.
    const other = await nets('mlp-points', spec);
    other.generator.dispose();
    randomize(other.critic, 77);
    const wrong = (req: RefineRequest) => buildRefineGraph({ ...req, critic: { ...req.critic, model: other.critic } });
    const fresh = join(root, 'wrong');
    try {
      await assert.rejects(exportModel(generator, fresh, { name: 'wrong', critic: { model: critic, refine: wrong } }), (err: unknown) => {
        assert.ok(err instanceof ParityError, String(err));
        assert.match((err as Error).message, /refine\.onnx: ∂score\/∂z differs from tf\.grad by .*nothing was written/);
        return true;
      });
    } finally {
      other.critic.dispose();
    }
    assert.ok(!existsSync(fresh) || readdirSync(fresh).length === 0, 'nothing is written');
  } finally {
    generator.dispose();
    critic.dispose();
  }
});

test('composeRefineGraph refuses a critic that does not fit the generator', async () => {
  const points = await nets('mlp-points', netSpec('mlp-points', 'none'));
  const images = await nets('mlp', netSpec('mlp', 'projection+ac'));
  try {
    const gen = convertLayersModel(points.generator, { outputNames: ['samples'] });
    assert.throws(() => composeRefineGraph(gen.model, convertCritic(images.critic).model), (err: unknown) => err instanceof InvalidArgumentError && /critic\.inputs\.x\.shape: .*the generator's output/.test((err as Error).message));
    const conditional = convertLayersModel(images.generator, { outputNames: ['samples'] });
    const unconditional = await nets('mlp', netSpec('mlp', 'none'));
    try {
      assert.throws(() => composeRefineGraph(conditional.model, convertCritic(unconditional.critic).model), /"x" and "label" \(the generator is conditional\)/);
    } finally {
      unconditional.generator.dispose();
      unconditional.critic.dispose();
    }
  } finally {
    [points, images].forEach((n) => {
      n.generator.dispose();
      n.critic.dispose();
    });
  }
});

test('a critic with an op that has no gradient rule (Maximum → Max): composeRefineGraph names the op and node; exportModel writes critic.onnx without refine.onnx and says why', async () => {
  const spec = netSpec('mlp-points', 'none');
  const { generator, critic } = await nets('mlp-points', spec);
  critic.dispose();
  const x = tf.input({ shape: [2] });
  const a = tf.layers.dense({ units: 4 }).apply(x) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 4 }).apply(x) as tf.SymbolicTensor;
  const most = tf.layers.maximum({ name: 'd_most' }).apply([a, b]) as tf.SymbolicTensor;
  const maxCritic = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 1 }).apply(most) as tf.SymbolicTensor });
  try {
    const gen = convertLayersModel(generator, { outputNames: ['samples'] });
    assert.throws(() => composeRefineGraph(gen.model, convertCritic(maxCritic).model), (err: unknown) => err instanceof UnsupportedGradientError && /node "critic\/d_most(_\d+)?" \(Max\): no gradient rule for Max/.test((err as Error).message));
    const dir = join(root, 'max');
    const logs: string[] = [];
    const result = await exportModel(generator, dir, { name: 'max', critic: { model: maxCritic, refine: buildRefineGraph }, log: (m) => logs.push(m) });
    assert.ok(existsSync(join(dir, 'critic.onnx')) && !existsSync(join(dir, 'refine.onnx')));
    assert.ok(result.manifest.critic && result.manifest.critic.refine === null);
    assert.ok(logs.some((l) => /refine\.onnx is not written: .*\(Max\)/.test(l)), logs.join('\n'));
  } finally {
    generator.dispose();
    maxCritic.dispose();
  }
});
