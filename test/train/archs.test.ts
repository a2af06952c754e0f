/**
 * The architecture table (src/train/models/archs.ts): every row has every piece (builders that
 * build for each data kind it claims, a generator that exports to ONNX with parity, kernels the
 * backend check knows, a verified critic list), unknown names list the table, and the DCGAN grows
 * with the image side (its ladder and its layer shapes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { FEATURE_KERNELS } from '../../src/tfjs/backend.js';
import { ARCHITECTURES, ARCHS, archSpec, loadArch } from '../../src/train/models/archs.js';
import { dcganLadder } from '../../src/train/models/ladder.js';
import type { NetSpec } from '../../src/train/models/spec.js';
import { CRITIC_ACTIVATIONS, CRITIC_NORMS, resolveTrainConfig } from '../../src/train/config.js';
import { PENALTY_VERIFIED_CRITICS } from '../../src/train/critic-support.js';
import { expectParity, randomizeBatchNorms } from '../export/helpers.js';
import { tempDir } from './helpers.js';

function spec(kind: 'points' | 'image', dataShape: number[], numClasses = 0): NetSpec {
  return {
    kind, dataShape, latent: 6, numClasses, hidden: 4, layers: 2,
    criticActivation: 'leaky_relu', criticNorm: 'layer', gCond: 'concat', dCond: 'projection', auxClassifier: numClasses > 0,
  };
}

/** A data shape each row must build for, per kind. */
const SHAPES = { points: [2], image: [16, 16, 3] } as const;

for (const name of ARCHITECTURES) {
  test(`architecture row "${name}": builds G and D for every data kind it claims, G exports to ONNX with parity`, async () => {
    const row = archSpec(name);
    assert.ok(row.help.length > 0 && row.dataKinds.length > 0);
    for (const k of row.kernels) assert.ok(Object.hasOwn(FEATURE_KERNELS, k), `kernel group ${k} is known to the backend check`);
    for (const key of row.penaltyVerified) assert.ok(PENALTY_VERIFIED_CRITICS.has(`${name}/${key}`));
    const { buildGenerator, buildCritic } = await loadArch(name);
    for (const kind of row.dataKinds) {
      for (const numClasses of [0, 3]) {
        const s = spec(kind, [...SHAPES[kind]], numClasses);
        const g = buildGenerator(s);
        const d = buildCritic(s);
        try {
          assert.deepEqual(g.outputs[0].shape, [null, ...SHAPES[kind]]);
          assert.deepEqual(d.outputs[0].shape, [null, 1]);
          assert.equal(d.outputs.length, numClasses > 0 ? 2 : 1, 'the classifier head of a conditional critic');
          randomizeBatchNorms(g);
          await expectParity(g, `${name}-${kind}-${numClasses}`, { numClasses: Math.max(numClasses, 2) });
        } finally {
          g.dispose();
          d.dispose();
        }
      }
    }
  });
}

test('an unknown --arch is an error that lists the table', () => {
  assert.throws(() => archSpec('transformer'), (e: unknown) => e instanceof InvalidArgumentError && e.message.includes('--arch') && e.message.includes(ARCHITECTURES.join(', ')));
  assert.throws(() => archSpec('toString'), InvalidArgumentError);
});

test('every critic the CLI offers for an architecture is on its verified list or refused by the guard', () => {
  for (const name of ARCHITECTURES) {
    for (const act of CRITIC_ACTIVATIONS) for (const norm of CRITIC_NORMS) {
      const verified = (ARCHS[name].penaltyVerified as readonly string[]).includes(`${act}/${norm}`);
      assert.equal(PENALTY_VERIFIED_CRITICS.has(`${name}/${act}/${norm}`), verified);
    }
  }
});

test('the DCGAN ladder: 4×4 (7×7 for 28, 6×6 for 48) doubled up to the image side; other sides are refused naming the rule', () => {
  assert.deepEqual(dcganLadder(16), { start: 4, ups: 2 });
  assert.deepEqual(dcganLadder(28), { start: 7, ups: 2 });
  assert.deepEqual(dcganLadder(32), { start: 4, ups: 3 });
  assert.deepEqual(dcganLadder(48), { start: 6, ups: 3 });
  assert.deepEqual(dcganLadder(64), { start: 4, ups: 4 });
  assert.deepEqual(dcganLadder(128), { start: 4, ups: 5 });
  for (const bad of [7, 30, 36, 100]) assert.equal(dcganLadder(bad), null, `${bad}`);
  const { dir, cleanup } = tempDir();
  try {
    assert.throws(() => resolveTrainConfig({ dataset: dir, arch: 'dcgan', imageSize: 30, out: `${dir}/run` }), /--image-size.*30.*halves exactly.*--arch dcgan/);
    assert.equal(resolveTrainConfig({ dataset: dir, arch: 'dcgan', imageSize: 48, out: `${dir}/run` }).hidden, 64);
    assert.throws(() => resolveTrainConfig({ dataset: 'ring8', arch: 'dcgan', out: `${dir}/run` }), /--arch.*dcgan.*mlp for the 2-D point data set/);
    assert.throws(() => resolveTrainConfig({ dataset: dir, arch: 'resnet', criticNorm: 'layer', algo: 'wgan', imageSize: 32, out: `${dir}/run` }), /--critic-norm.*layer.*none for --arch resnet/);
  } finally {
    cleanup();
  }
});

test('the DCGAN grows: 64 px has four up-samplings (channels halving) and the critic mirrors them', async () => {
  const { buildGenerator, buildCritic } = await loadArch('dcgan');
  const s: NetSpec = { ...spec('image', [64, 64, 3]), hidden: 8, criticNorm: 'none' };
  const g = buildGenerator(s);
  const d = buildCritic(s);
  try {
    const deconvs = g.layers.filter((l) => l.getClassName() === 'Conv2DTranspose').map((l) => l.outputShape as number[]);
    assert.deepEqual(deconvs, [[null, 8, 8, 32], [null, 16, 16, 16], [null, 32, 32, 8], [null, 64, 64, 3]]);
    assert.deepEqual(g.getLayer('g_reshape').outputShape, [null, 4, 4, 64]);
    const convs = d.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.outputShape as number[]);
    assert.deepEqual(convs, [[null, 32, 32, 8], [null, 16, 16, 16], [null, 8, 8, 32], [null, 4, 4, 64]]);
    const z = tf.randomNormal([2, 6]);
    const y = g.predict(z) as tf.Tensor;
    assert.deepEqual(y.shape, [2, 64, 64, 3]);
    tf.dispose([z, y]);
  } finally {
    g.dispose();
    d.dispose();
  }
});

test('the 28 px DCGAN keeps the layers (names and shapes) of the bundled mnist-dcgan', async () => {
  const { buildGenerator, buildCritic } = await loadArch('dcgan');
  const s: NetSpec = { ...spec('image', [28, 28, 1], 10), latent: 64, hidden: 32, criticNorm: 'none' };
  const g = buildGenerator(s);
  const d = buildCritic(s);
  try {
    assert.deepEqual(g.weights.map((w) => `${w.originalName}:${w.shape.join('x')}`), [
      'g_label_embedding/embeddings:10x16', 'g_project/kernel:80x3136', 'g_bn_0/gamma:3136', 'g_bn_0/beta:3136',
      'g_deconv_1/kernel:4x4x32x64', 'g_bn_1/gamma:32', 'g_bn_1/beta:32', 'g_image/kernel:4x4x1x32', 'g_image/bias:1',
      'g_bn_0/moving_mean:3136', 'g_bn_0/moving_variance:3136', 'g_bn_1/moving_mean:32', 'g_bn_1/moving_variance:32',
    ]);
    assert.deepEqual(d.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.name), ['d_conv_0', 'd_conv_1']);
  } finally {
    g.dispose();
    d.dispose();
  }
});

test('the run report names how a conditional generator takes its label: --g-cond, or the row\'s own conditioning', async () => {
  const { formatSummary } = await import('../../src/train/report.js');
  const summary = (arch: string) =>
    formatSummary({
      config: resolveTrainConfig({ dataset: 'mnist', out: 'runs/x', conditional: true, arch, ...(arch === 'resnet' ? {} : { gCond: 'concat' }) } as Parameters<typeof resolveTrainConfig>[0]),
      backend: { name: 'wasm', requested: 'wasm', reason: 'test' }, datasetDescription: 'mnist', stepsDone: 0, seconds: 0, records: [], files: {}, exportDir: null, quality: null, notes: [],
    });
  assert.match(summary('dcgan'), /- nets: dcgan conditional \(G concat, D projection/);
  assert.match(summary('resnet'), /- nets: resnet conditional \(G conditional batch norm, D projection/);
  assert.equal(ARCHS.resnet.generatorConditioning, 'conditional batch norm');
});
