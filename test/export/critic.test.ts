/**
 * The critic's export (src/export/critic.ts, issue 35): every critic `wganx train` builds (each row
 * of src/train/models/archs.ts and data kind; unconditional, projection with the AC head, concat) converts with
 * the contract's names and matches tfjs within 1e-4; `exportModel` writes `critic.onnx` beside the
 * generator with its manifest entry (sha256, names, parity), hands both graphs to a refine builder,
 * refuses a critic that does not fit the generator, and a later export without a critic removes
 * the files. The official ONNX checker passes every file.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, ParityError, UnsupportedLayerError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/core/manifest.js';
import { CounterRng } from '../../src/core/random.js';
import { convertCritic, exportCritic, exportModel, readOnnxManifest, type RefineRequest } from '../../src/export/index.js';
import { readModelFolder } from '../../src/runtime/model-folder.js';
import { createSession } from '../../src/runtime/node.js';
import { ARCHITECTURES, ARCHS, buildNets } from '../../src/train/models/index.js';
import type { NetSpec } from '../../src/train/models/spec.js';
import { expectParity, queueForChecker, runOnnxChecker } from './helpers.js';

await tf.setBackend('cpu');
const root = mkdtempSync(join(tmpdir(), 'wganx-critic-'));

after(() => {
  const { checked, failures } = runOnnxChecker();
  rmSync(root, { recursive: true, force: true });
  assert.ok(checked >= 22, `only ${checked} critic files were checked`);
  assert.deepEqual(failures, [], 'the official ONNX checker rejected files');
});

type Conditioning = 'none' | 'projection+ac' | 'concat';

function netSpec(kind: 'points' | 'image', dataShape: number[], cond: Conditioning, criticNorm: 'none' | 'layer' = 'none'): NetSpec {
  return {
    kind, dataShape, latent: 6, numClasses: cond === 'none' ? 0 : 3, hidden: 8, layers: 2,
    criticActivation: 'leaky_relu', criticNorm, gCond: 'concat', dCond: cond === 'concat' ? 'concat' : 'projection', auxClassifier: cond === 'projection+ac',
  };
}

/** Every weight moved by a seeded N(0, 0.1): biases, norm scales and embeddings are no longer 0 or 1. */
function perturb(model: tf.LayersModel, seed = 3): void {
  const values = model.getWeights().map((w, i) => tf.tidy(() => tf.add(w, tf.randomNormal(w.shape, 0, 0.1, 'float32', seed + i))));
  model.setWeights(values);
  tf.dispose(values);
}

async function nets(arch: string, spec: NetSpec) {
  const built = await buildNets(arch, spec, new CounterRng(5, 0));
  perturb(built.critic);
  return built;
}

/** Every row of the architecture table, for each data kind it claims (with layer norm where it builds one). */
const SHAPES = { points: [2], image: [16, 16, 3] } as const;
const CASES = ARCHITECTURES.flatMap((arch) =>
  ARCHS[arch].dataKinds.map((kind) => ({ arch, kind, shape: [...SHAPES[kind]], norm: (ARCHS[arch].criticNorms as readonly string[]).includes('layer') ? ('layer' as const) : undefined })),
);

for (const c of CASES) {
  test(`${c.arch} critic (${c.kind} ${c.shape.join('×')}): unconditional, projection + AC head and concat export with the contract's names and parity ≤ 1e-4`, async () => {
    for (const cond of ['none', 'projection+ac', 'concat'] as const) {
      const spec = netSpec(c.kind, c.shape, cond, c.norm);
      const { generator, critic } = await nets(c.arch, spec);
      try {
        const label = `${c.arch}-${c.kind}-${cond}`;
        const { graph, entry } = await exportCritic(critic, { tolerance: 1e-4, numClasses: 3, seed: 7 });
        queueForChecker(graph.bytes, label);
        for (const [batch, diff] of Object.entries(entry.parity.maxAbsDiff)) assert.ok(diff <= 1e-4, `${label}: ${diff} at batch ${batch}`);
        assert.deepEqual(Object.keys(entry.parity.maxAbsDiff), ['1', '64']);
        const x = { name: 'x', dtype: 'float32', shape: ['batch', ...c.shape] };
        assert.deepEqual(entry.inputs, cond === 'none' ? [x] : [x, { name: 'label', dtype: 'int64', shape: ['batch', 1] }], label);
        const score = { name: 'score', dtype: 'float32', shape: ['batch', 1] };
        assert.deepEqual(entry.outputs, cond === 'projection+ac' ? [score, { name: 'logits', dtype: 'float32', shape: ['batch', 3] }] : [score], label);
        // The critic takes what the generator outputs, and its label as the generator's.
        assert.deepEqual(generator.outputs[0].shape.slice(1), c.shape);
        const ops = new Set(graph.model.graph!.node!.map((n) => n.opType));
        if (cond === 'projection+ac') assert.ok(ops.has('ReduceSum') && ops.has('Gather'), `${label}: the projection's Dot`);
        if (cond === 'concat') assert.ok(ops.has('Concat') && ops.has('Gather'), `${label}: the label concatenated`);
        if (c.arch === 'resnet') assert.ok(ops.has('AveragePool') && ops.has('GlobalAveragePool'), `${label}: mean pooling`);
      } finally {
        generator.dispose();
        critic.dispose();
      }
    }
  });
}

test('at the lowest opset (13: ReduceSum axes as an input, LayerNormalization decomposed) a dcgan and a resnet critic keep parity', async () => {
  for (const [arch, norm] of [['dcgan', 'layer'], ['resnet', 'none']] as const) {
    const { generator, critic } = await nets(arch, netSpec('image', [16, 16, 1], 'projection+ac', norm));
    try {
      const { graph, entry } = await exportCritic(critic, { opset: 13, tolerance: 1e-4, numClasses: 3, seed: 7 });
      queueForChecker(graph.bytes, `${arch}-opset13`);
      assert.equal(Number(graph.model.opsetImport?.[0].version), 13); // an int64: a number or a protobufjs Long
      assert.ok(Object.values(entry.parity.maxAbsDiff).every((d) => d <= 1e-4), JSON.stringify(entry.parity));
    } finally {
      generator.dispose();
      critic.dispose();
    }
  }
});

test('a conditional critic scores by its label: the same x with another class gets another score (ONNX), as in tfjs', async () => {
  const { generator, critic } = await nets('dcgan', netSpec('image', [16, 16, 1], 'projection+ac'));
  try {
    const graph = convertCritic(critic);
    const session = await createSession(graph.bytes, { providers: ['cpu'], threads: 1 });
    try {
      const x = tf.randomNormal([3, 16, 16, 1], 0, 1, 'float32', 9);
      const xs = Float32Array.from(x.dataSync());
      const labels = [0, 1, 2];
      const got = await session.run({ x: { dtype: 'float32', data: xs, dims: [3, 16, 16, 1] }, label: { dtype: 'int64', data: BigInt64Array.from(labels, BigInt), dims: [3, 1] } });
      const sameX = await session.run({ x: { dtype: 'float32', data: xs, dims: [3, 16, 16, 1] }, label: { dtype: 'int64', data: BigInt64Array.from([2, 0, 1], BigInt), dims: [3, 1] } });
      assert.notDeepEqual(got.score.data, sameX.score.data);
      const [s, logits] = critic.predict([x, tf.tensor2d(labels, [3, 1], 'int32')]) as tf.Tensor[];
      assert.ok(Math.max(...Array.from(s.dataSync(), (v, i) => Math.abs(v - (got.score.data as Float32Array)[i]))) <= 1e-4);
      assert.deepEqual(got.logits.dims, [3, 3]);
      tf.dispose([x, s, logits]);
    } finally {
      await session.release();
    }
  } finally {
    generator.dispose();
    critic.dispose();
  }
});

test('the critic layers alone: AveragePooling2D (valid and same, odd sides, strides ≠ pool), GlobalAveragePooling2D, Dot (axes 1 and -1)', async () => {
  const seq = (layers: tf.layers.Layer[]) => tf.sequential({ layers });
  const pools = [
    { poolSize: 2, strides: 2, padding: 'valid' },
    { poolSize: 3, strides: 2, padding: 'same' },
    { poolSize: [2, 3], strides: [1, 2], padding: 'same' },
    { poolSize: 3, strides: 1, padding: 'valid' },
  ] as const;
  for (const p of pools) {
    await expectParity(seq([tf.layers.conv2d({ inputShape: [7, 9, 2], filters: 3, kernelSize: 3, padding: 'same' }), tf.layers.averagePooling2d(p as never)]), `avgpool_${JSON.stringify(p)}`);
  }
  await expectParity(seq([tf.layers.conv2d({ inputShape: [5, 6, 2], filters: 4, kernelSize: 3, padding: 'same' }), tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 2 })]), 'global_avgpool');
  for (const axes of [1, -1]) {
    const a = tf.input({ shape: [5] });
    const b = tf.input({ shape: [5] });
    const h = tf.layers.dense({ units: 5 }).apply(a) as tf.SymbolicTensor;
    await expectParity(tf.model({ inputs: [a, b], outputs: tf.layers.dot({ axes }).apply([h, b]) as tf.SymbolicTensor }), `dot_${axes}`);
  }
});

test('the Dot converter refuses what it cannot reproduce (normalize), naming the layer', () => {
  const a = tf.input({ shape: [4] });
  const b = tf.input({ shape: [4] });
  const m = tf.model({ inputs: [a, b], outputs: tf.layers.dot({ axes: 1, normalize: true, name: 'cosine' }).apply([a, b]) as tf.SymbolicTensor });
  assert.throws(() => convertCritic(tf.model({ inputs: [a], outputs: m.apply([a, a]) as tf.SymbolicTensor })), (e: unknown) => e instanceof UnsupportedLayerError && e.layerName === 'cosine' && /normalize/.test(e.message));
});

async function exportPair(dir: string, cond: Conditioning, opts: { refine?: (r: RefineRequest) => Promise<{ bytes: Uint8Array; outputs: { name: string; dtype: 'float32'; shape: (string | number)[] }[]; gradientCheck: { maxAbsDiff: number; tolerance: number } }>; critic?: boolean } = {}) {
  const { generator, critic } = await nets('mlp', netSpec('points', [2], cond));
  try {
    return await exportModel(generator, dir, { name: 'pair', critic: opts.critic === false ? null : { model: critic, refine: opts.refine } });
  } finally {
    generator.dispose();
    critic.dispose();
  }
}

test('exportModel with a critic writes critic.onnx, its sha256, names and parity under the manifest\'s critic (null inside the ONNX copy); readModelFolder exposes it', async () => {
  const dir = join(root, 'models', 'pair');
  const result = await exportPair(dir, 'projection+ac');
  const manifest = parseManifest(JSON.parse(readFileSync(result.manifestPath, 'utf8')));
  assert.equal(result.criticPath, join(dir, 'critic.onnx'));
  const bytes = readFileSync(join(dir, 'critic.onnx'));
  queueForChecker(bytes, 'exported-critic');
  assert.ok(manifest.critic);
  assert.equal(manifest.critic.file, 'critic.onnx');
  assert.equal(manifest.critic.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(manifest.critic.inputs.map((i) => i.name), ['x', 'label']);
  assert.deepEqual(manifest.critic.outputs.map((o) => o.name), ['score', 'logits']);
  assert.equal(manifest.critic.refine, null);
  assert.equal(manifest.critic.parity.inputsSeed, manifest.export.parity.inputsSeed);
  // The critic's input is the generator's output, its label the generator's label.
  assert.deepEqual(manifest.critic.inputs[0].shape, manifest.outputs[0].shape);
  const generatorLabel = manifest.inputs.find((i) => i.role === 'label')!;
  assert.deepEqual([manifest.critic.inputs[1].dtype, manifest.critic.inputs[1].shape], [generatorLabel.dtype, generatorLabel.shape]);
  const embedded = readOnnxManifest(readFileSync(result.onnxPath));
  assert.deepEqual(embedded, { ...manifest, export: { ...manifest.export, sha256: null }, critic: { ...manifest.critic, sha256: null } });

  const folder = await readModelFolder(dir);
  assert.equal(folder.critic?.path, join(dir, 'critic.onnx'));
  assert.equal(folder.critic?.sha256, manifest.critic.sha256);
  assert.deepEqual(Buffer.from(folder.critic!.bytes), bytes);
  assert.equal(folder.refine, null);

  // Exported again without a critic: the file goes, the manifest says null, the folder loads as before.
  await exportPair(dir, 'projection+ac', { critic: false });
  assert.equal(existsSync(join(dir, 'critic.onnx')), false);
  const again = await readModelFolder(dir);
  assert.equal(again.manifest.critic, null);
  assert.equal(again.critic, null);
});

test('a refine builder gets both ONNX graphs and tfjs nets; its refine.onnx is written with sha256 and outputs, and read back', async () => {
  const dir = join(root, 'models', 'refined');
  let seen: RefineRequest | null = null;
  const result = await exportPair(dir, 'concat', {
    refine: async (request) => {
      seen = request;
      // Any valid graph stands in for B's gradient graph here: the critic's own.
      return { bytes: request.critic.graph.bytes, outputs: [{ name: 'score', dtype: 'float32', shape: ['batch', 1] }], gradientCheck: { maxAbsDiff: 1e-6, tolerance: 1e-3 } };
    },
  });
  const request = seen as RefineRequest | null;
  assert.ok(request);
  assert.ok(request.generator.graph.model.graph!.node!.length > 0 && request.critic.graph.model.graph!.node!.length > 0);
  assert.deepEqual(request.critic.graph.inputs.map((i) => [i.name, i.role]), [['x', 'latent'], ['label', 'label']]);
  assert.equal(request.opset, 17);
  assert.equal(result.refinePath, join(dir, 'refine.onnx'));
  const folder = await readModelFolder(dir);
  assert.equal(folder.refine?.sha256, createHash('sha256').update(readFileSync(join(dir, 'refine.onnx'))).digest('hex'));
  assert.equal(folder.manifest.critic?.refine?.sha256, folder.refine?.sha256);
  assert.deepEqual(folder.manifest.critic?.refine?.gradientCheck, { maxAbsDiff: 1e-6, tolerance: 1e-3 });
  const embedded = readOnnxManifest(folder.bytes);
  assert.equal(embedded.critic?.refine?.sha256, null);

  // Exported again with a critic but no refine builder: refine.onnx goes.
  await exportPair(dir, 'concat');
  assert.equal(existsSync(join(dir, 'refine.onnx')), false);
  assert.ok(existsSync(join(dir, 'critic.onnx')));
});

test('a critic that does not fit the generator is refused naming the field, and nothing is written', async () => {
  const dir = join(root, 'models', 'misfit');
  const own = await nets('mlp', netSpec('points', [2], 'none'));
  const other = await nets('mlp', netSpec('image', [8, 8, 1], 'none'));
  const labelled = await nets('mlp', netSpec('points', [2], 'concat'));
  const { generator } = own;
  try {
    await assert.rejects(exportModel(generator, dir, { name: 'misfit', critic: { model: other.critic } }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'critic.inputs[0].shape');
    await assert.rejects(exportModel(generator, dir, { name: 'misfit', critic: { model: labelled.critic } }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'critic' && /unconditional/.test(e.message));
    assert.equal(existsSync(dir), false);
  } finally {
    for (const n of [own, other, labelled]) {
      n.generator.dispose();
      n.critic.dispose();
    }
  }
});

/** Set the bias of the critic's score layer (d_out) to `value`. */
function setScoreBias(critic: tf.LayersModel, value: number): void {
  const layer = critic.getLayer('d_out');
  const [kernel, bias] = layer.getWeights();
  const shifted = tf.fill(bias.shape, value);
  layer.setWeights([kernel, shifted]);
  shifted.dispose();
}

test('critic parity is bounded relative to the score\'s size (its offset drifts in training); a critic that fails it, or outputs NaN, writes nothing', async () => {
  const { generator, critic } = await nets('mlp', netSpec('points', [2], 'none'));
  try {
    setScoreBias(critic, 2e4);
    const { entry } = await exportCritic(critic, { tolerance: 1e-4, seed: 7 });
    const worst = Math.max(...Object.values(entry.parity.maxAbsDiff));
    assert.ok(entry.parity.tolerance > 1.9 && entry.parity.tolerance < 2.2, `bound ${entry.parity.tolerance}: 1e-4 × |score| ≈ 2e4`);
    assert.ok(worst <= entry.parity.tolerance);
    setScoreBias(critic, 0);
    const small = await exportCritic(critic, { tolerance: 1e-4, seed: 7 });
    assert.ok(small.entry.parity.tolerance >= 1e-4 && small.entry.parity.tolerance < 1e-2, 'a small score keeps about the given tolerance');
    await assert.rejects(exportCritic(critic, { tolerance: 1e-15, seed: 7 }), (e: unknown) => e instanceof ParityError && /critic differs .* nothing was written/.test((e as Error).message));

    setScoreBias(critic, Number.NaN);
    const dir = join(root, 'models', 'nan-critic');
    await assert.rejects(exportModel(generator, dir, { name: 'nan-critic', critic: { model: critic } }), (e: unknown) => e instanceof ParityError && /"score" holds NaN/.test((e as Error).message));
    assert.equal(existsSync(dir), false);
  } finally {
    generator.dispose();
    critic.dispose();
  }
});
