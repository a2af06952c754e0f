import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportModel, readOnnxManifest, tritonConfig } from '../../src/export/index.js';
import { ParityError, InvalidArgumentError } from '../../src/core/errors.js';
import { parseManifest, sampleLatents } from '../../src/core/index.js';
import { saveLayersModel } from '../../src/tfjs/model-files.js';
import { dcganGenerator, expectParity, runOnnxChecker } from './helpers.js';

await tf.setBackend('cpu');
const root = mkdtempSync(join(tmpdir(), 'wganx-export-'));

/** MLP point generator: z[8] → 2-D points. */
function mlpGenerator(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [8], units: 32, activation: 'relu' }),
      tf.layers.dense({ units: 32, activation: 'relu' }),
      tf.layers.dense({ units: 2 }),
    ],
  });
}

/** Class-conditional generator: Embedding(label) ⊙ z → MLP → 28×28×1 image. */
function conditionalGenerator(): tf.LayersModel {
  const z = tf.input({ shape: [16] });
  const label = tf.input({ shape: [1] });
  const emb = tf.layers.flatten().apply(tf.layers.embedding({ inputDim: 10, outputDim: 16 }).apply(label)) as tf.SymbolicTensor;
  let h = tf.layers.multiply().apply([z, emb]) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 64 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.layerNormalization().apply(h) as tf.SymbolicTensor;
  h = tf.layers.leakyReLU({ alpha: 0.2 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 7 * 7 * 4, activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reshape({ targetShape: [7, 7, 4] }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.upSampling2d({}).apply(h) as tf.SymbolicTensor;
  h = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.conv2dTranspose({ filters: 1, kernelSize: 4, strides: 2, padding: 'same', activation: 'tanh' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: [z, label], outputs: h });
}

after(() => {
  const onnxFiles = readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.onnx')).map((f) => join(root, f));
  const { checked, failures } = runOnnxChecker(onnxFiles);
  rmSync(root, { recursive: true, force: true });
  assert.ok(checked >= 6, `only ${checked} exported files were checked`);
  assert.deepEqual(failures, []);
});

test('realistic generators: MLP, DCGAN, conditional — parity within 1e-4 at batch 1 and 64', async () => {
  await expectParity(mlpGenerator(), 'mlp_generator');
  const dcgan = await expectParity(await dcganGenerator(), 'dcgan_generator');
  assert.deepEqual(dcgan.outputs[0].shape, ['batch', 28, 28, 1]);
  // BatchNorms are folded: no Mul/Add/BatchNormalization nodes remain; the projection reshapes
  // straight to NCHW (src/export/graph-rewrite.ts; 8 base channels keep their ConvTransposes).
  assert.deepEqual(dcgan.model.graph!.node!.map((n) => n.opType), ['Gemm', 'Relu', 'Reshape', 'ConvTranspose', 'Relu', 'ConvTranspose', 'Tanh', 'Transpose', 'Identity']);
  await expectParity(conditionalGenerator(), 'conditional_generator', { numClasses: 10 });
});

test('exportModel writes generator.onnx + manifest.json; the manifest round-trips through metadata_props', async () => {
  const out = join(root, 'models', 'digits');
  const result = await exportModel(conditionalGenerator(), out, { name: 'digits', labels: 'zero one two three four five six seven eight nine'.split(' '), description: 'test' });
  const onDisk = parseManifest(JSON.parse(readFileSync(result.manifestPath, 'utf8')));
  const bytes = readFileSync(result.onnxPath);
  assert.equal(onDisk.export.sha256, createHash('sha256').update(bytes).digest('hex'));
  const embedded = readOnnxManifest(bytes);
  assert.deepEqual(embedded, { ...onDisk, export: { ...onDisk.export, sha256: null } });
  assert.equal(onDisk.kind, 'image');
  assert.deepEqual(onDisk.latent, { dim: 16, distribution: 'normal' });
  assert.equal(onDisk.conditional?.numClasses, 10);
  assert.equal(onDisk.conditional?.labels[3], 'three');
  assert.deepEqual(onDisk.inputs.map((i) => [i.name, i.dtype, i.role, i.shape]), [['z', 'float32', 'latent', ['batch', 16]], ['label', 'int64', 'label', ['batch', 1]]]);
  assert.deepEqual(onDisk.outputs, [{ name: 'samples', dtype: 'float32', shape: ['batch', 28, 28, 1] }]);
  assert.deepEqual(Object.keys(onDisk.export.parity.maxAbsDiff), ['1', '64']);
  assert.ok(Object.values(onDisk.export.parity.maxAbsDiff).every((d) => d <= 1e-4));
  assert.equal(onDisk.export.opset, 17);
  // No temporary files are left behind.
  assert.deepEqual(readdirSync(out).sort(), ['generator.onnx', 'manifest.json']);
});

test('a point generator gets kind "points" and an output range measured from samples', async () => {
  const { manifest } = await exportModel(mlpGenerator(), join(root, 'models', 'pts'), { name: 'pts' });
  assert.equal(manifest.kind, 'points');
  assert.equal(manifest.output.layout, 'NC');
  assert.ok(manifest.output.range[0] < manifest.output.range[1]);
  assert.equal(manifest.conditional, null);
});

test('--fp16 writes a float16-weight variant about half the size that runs close to tfjs', async () => {
  const model = await dcganGenerator(64);
  const out = join(root, 'models', 'dc16');
  const { manifest, fp16Path, onnxPath } = await exportModel(model, out, { name: 'dc16', fp16: true });
  assert.ok(fp16Path && existsSync(fp16Path));
  const ratio = statSync(fp16Path!).size / statSync(onnxPath).size;
  assert.ok(ratio > 0.45 && ratio < 0.6, `fp16 size ratio ${ratio}`);
  assert.equal(manifest.export.fp16?.sha256, createHash('sha256').update(readFileSync(fp16Path!)).digest('hex'));
  assert.ok(manifest.export.fp16!.maxAbsDiff < 0.05 && manifest.export.fp16!.maxAbsDiff > 0);
  const session = await ort.InferenceSession.create(readFileSync(fp16Path!), { intraOpNumThreads: 1 });
  const z = sampleLatents({ seed: 3, start: 0, count: 4, dim: 64 });
  const got = (await session.run({ z: new ort.Tensor('float32', z, [4, 64]) })).samples.data as Float32Array;
  const want = tf.tidy(() => (model.predict(tf.tensor(z, [4, 64])) as tf.Tensor).dataSync());
  let worst = 0;
  got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]))));
  assert.ok(worst < 0.05, `fp16 max diff ${worst}`);
  await session.release();
});

test('--triton writes config.pbtxt (dims without batch) and 1/model.onnx', async () => {
  const tritonDir = join(root, 'triton');
  const { manifest, onnxPath } = await exportModel(conditionalGenerator(), join(root, 'models', 'cg'), { name: 'cg', tritonDir });
  const config = readFileSync(join(tritonDir, 'cg', 'config.pbtxt'), 'utf8');
  assert.deepEqual(readFileSync(join(tritonDir, 'cg', '1', 'model.onnx')), readFileSync(onnxPath));
  assert.match(config, /^name: "cg"$/m);
  assert.match(config, /^platform: "onnxruntime_onnx"$/m);
  assert.match(config, /^max_batch_size: 256$/m);
  assert.match(config, /name: "z"\n\s+data_type: TYPE_FP32\n\s+dims: \[ 16 \]/);
  assert.match(config, /name: "label"\n\s+data_type: TYPE_INT64\n\s+dims: \[ 1 \]/);
  assert.match(config, /name: "samples"\n\s+data_type: TYPE_FP32\n\s+dims: \[ 28, 28, 1 \]/);
  assert.match(config, /dynamic_batching \{\n\s+preferred_batch_size: \[ 16, 64, 256 \]\n\s+max_queue_delay_microseconds: 1000\n\}/);
  assert.match(config, /instance_group \[\n\s+\{\n\s+count: 1\n\s+kind: KIND_AUTO/);
  assert.equal(config, tritonConfig(manifest));
});

test('a parity failure writes nothing; bad names and options are refused', async () => {
  const out = join(root, 'models', 'strict');
  await assert.rejects(exportModel(await dcganGenerator(), out, { name: 'strict', tolerance: 1e-12 }), (e: unknown) => e instanceof ParityError && /nothing was written/.test((e as Error).message));
  assert.equal(existsSync(out), false);
  await assert.rejects(exportModel(mlpGenerator(), join(root, 'x'), { name: 'Bad Name!' }), (e: unknown) => e instanceof InvalidArgumentError && /name: "Bad Name!"/.test((e as Error).message));
  await assert.rejects(exportModel(mlpGenerator(), join(root, 'x'), { name: 'x', kind: 'image' }), /--kind: "image" is not allowed; expected "points"/);
  await assert.rejects(exportModel(conditionalGenerator(), join(root, 'x'), { name: 'x', labels: ['a', 'b'] }), /--labels: .* expected 10 class names/);
  await assert.rejects(exportModel(conditionalGenerator(), join(root, 'x'), { name: 'x', labels: [...'abcdefghi', 'a'] }), /--labels: .* expected 10 class names that differ/);
});

test('wganx export (the CLI) loads a tfjs model folder and exports it; errors are one line', async () => {
  const modelDir = join(root, 'tfjs', 'dcgan');
  await saveLayersModel(await dcganGenerator(), modelDir);
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8' });
  const out = join(root, 'cli-models', 'dcgan');
  const ok = cli(['export', '--model', modelDir, '--out', out, '--triton', join(root, 'cli-triton')]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /exported dcgan: image generator, latent 32/);
  assert.match(ok.stdout, /parity\s+batch 1: \S+, batch 64: \S+ \(≤ 0.0001\)/);
  assert.ok(existsSync(join(out, 'generator.onnx')) && existsSync(join(out, 'manifest.json')));
  assert.ok(existsSync(join(root, 'cli-triton', 'dcgan', 'config.pbtxt')));

  const missing = cli(['export', '--model', join(root, 'nope'), '--out', join(root, 'm', 'x')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^wganx: --model: ".*nope" is not allowed; expected an existing folder holding model.json/);
  assert.equal(missing.stderr.trim().split('\n').length, 1);

  const badOpset = cli(['export', '--model', modelDir, '--out', join(root, 'm', 'y'), '--opset', '99']);
  assert.equal(badOpset.status, 2);
  assert.match(badOpset.stderr, /option '--opset <n>' argument '99' is invalid\. "99" is not an integer in \[13, 17\]/);
  const badName = cli(['export', '--model', modelDir, '--out', join(root, 'm', 'Bad Name')]);
  assert.equal(badName.status, 1);
  assert.match(badName.stderr, /--out: ".*Bad Name" is not allowed; expected a folder whose name is a model name/);
  // An error after tfjs has computed something is one line too: no "Hi, looks like you are running TensorFlow.js" banner.
  const strict = cli(['export', '--model', modelDir, '--out', join(root, 'm', 'strict'), '--tolerance', '1e-12']);
  assert.equal(strict.status, 1);
  assert.doesNotMatch(strict.stderr, /Hi, looks like you are running TensorFlow\.js|={10}/);
  const errors = strict.stderr.split('\n').filter((l) => l.startsWith('wganx:'));
  assert.equal(errors.length, 1, strict.stderr);
  assert.match(errors[0], /^wganx: exported ONNX differs from the tfjs model by .*nothing was written/);
});

test('tfjs model folders that lie are refused naming the file: trailing weight bytes, weight paths outside the folder, nested topologies', async () => {
  const dir = join(root, 'lies');
  await saveLayersModel(mlpGenerator(), dir);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const weights = readFileSync(join(dir, 'weights.bin'));
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8' });
  const oneLine = (r: ReturnType<typeof cli>, pattern: RegExp) => {
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line, no tfjs banner: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  };

  writeFileSync(join(dir, 'weights.bin'), Buffer.concat([weights, Buffer.alloc(12)]));
  oneLine(cli(['export', '--model', dir, '--out', join(root, 'm', 'lies')]), /model\.json: weights: "\d+ bytes" is not allowed; expected \d+ bytes, the sizes weightsManifest gives its 6 tensors/);
  writeFileSync(join(dir, 'weights.bin'), weights.subarray(0, weights.length - 4));
  oneLine(cli(['export', '--model', dir, '--out', join(root, 'm', 'lies')]), /weights: .* expected \d+ bytes/);
  writeFileSync(join(dir, 'weights.bin'), weights);

  for (const path of ['../../../etc/hostname', '/etc/hostname']) {
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: [path] }] }));
    oneLine(cli(['export', '--model', dir, '--out', join(root, 'm', 'lies')]), /weightsManifest\.paths: ".*hostname" is not allowed; expected a file name inside the model folder/);
  }

  const depth = 5000; // written as text: JSON.stringify itself would overflow on it
  const nested = '{"config":'.repeat(depth) + JSON.stringify(json.modelTopology) + ',"class_name":"Sequential"}'.repeat(depth);
  writeFileSync(join(dir, 'model.json'), `{"modelTopology":${nested},"weightsManifest":${JSON.stringify(json.weightsManifest)}}`);
  oneLine(cli(['export', '--model', dir, '--out', join(root, 'm', 'lies')]), /--model: ".*model\.json" is not allowed; expected a tfjs LayersModel model\.json/);
  assert.equal(existsSync(join(root, 'm', 'lies')), false, 'nothing was written');
});

test('a generator whose outputs are partly NaN fails parity, naming the output and the count', async () => {
  const g = mlpGenerator();
  // log of a negative value is NaN: the last layer's weights make half the outputs NaN.
  const z = tf.input({ shape: [8] });
  const h = g.apply(z) as tf.SymbolicTensor;
  const nan = tf.layers.activation({ activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: z, outputs: tf.layers.multiply().apply([nan, tf.layers.dense({ units: 2, kernelInitializer: 'ones', biasInitializer: tf.initializers.constant({ value: Number.NaN }) }).apply(z) as tf.SymbolicTensor]) as tf.SymbolicTensor });
  const out = join(root, 'models', 'nan');
  await assert.rejects(exportModel(model, out, { name: 'nan', kind: 'points', outputRange: [-1, 1] }), (e: unknown) => {
    assert.ok(e instanceof ParityError, String(e));
    assert.match((e as Error).message, /output "\w+" holds NaN at batch 1 \(2 of 2 values in tfjs, 2 in onnxruntime\); nothing was written/);
    return true;
  });
  assert.equal(existsSync(out), false);
});

test('wganx export refuses a layer graph tfjs cannot build (an input naming a missing layer, two layers feeding each other), naming the layer, instead of spinning', async () => {
  const z = tf.input({ shape: [8], name: 'z' });
  const h1 = tf.layers.dense({ units: 4, name: 'h1' }).apply(z) as tf.SymbolicTensor;
  const h2 = tf.layers.dense({ units: 4, name: 'h2' }).apply(h1) as tf.SymbolicTensor;
  const x = tf.layers.dense({ units: 2, name: 'x' }).apply(h2) as tf.SymbolicTensor;
  const dir = join(root, 'graphs');
  await saveLayersModel(tf.model({ inputs: z, outputs: x }), dir);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const layer = (name: string) => json.modelTopology.model_config?.config.layers.find((l: { name: string }) => l.name === name) ?? json.modelTopology.config.layers.find((l: { name: string }) => l.name === name);
  const cli = () => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'export', '--model', dir, '--out', join(root, 'm', 'graph')], { encoding: 'utf8', timeout: 120_000 });
  const oneLine = (r: ReturnType<typeof cli>, pattern: RegExp) => {
    assert.equal(r.signal, null, 'it ended by itself');
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), pattern);
  };
  const original = JSON.stringify(layer('h2').inbound_nodes);
  layer('h2').inbound_nodes[0][0][0] = 'ghost';
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  oneLine(cli(), /^wganx: .*model\.json: modelTopology: layer "h2" \(Dense\)\.inbound_nodes: "ghost" is not allowed; expected the name of a layer of the model \(no layer is called "ghost"\)$/);
  layer('h2').inbound_nodes = JSON.parse(original);
  layer('h1').inbound_nodes[0][0][0] = 'h2'; // h1 ← h2 ← h1
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  oneLine(cli(), /^wganx: .*model\.json: modelTopology: layer "h\d" \(Dense\)\.inbound_nodes: "h\d" is not allowed; expected a layer computed before it: the layers feed each other \(h\d → h\d → h\d\)$/);
  assert.equal(existsSync(join(root, 'm', 'graph')), false, 'nothing was written');
});

test('a generator whose output is infinite fails parity, saying so as for NaN', async () => {
  const z = tf.input({ shape: [8] });
  // float32 overflow: eight products of 3e38 with |z| ~ 1 add up past 3.4e38.
  const x = tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.constant({ value: 3e38 }), biasInitializer: 'zeros' }).apply(z) as tf.SymbolicTensor;
  const out = join(root, 'models', 'inf');
  await assert.rejects(exportModel(tf.model({ inputs: z, outputs: x }), out, { name: 'inf', kind: 'points' }), (e: unknown) => {
    assert.ok(e instanceof ParityError, String(e));
    assert.match((e as Error).message, /^the model's output "\w+" is infinite at batch 1 \(\d of 2 values in tfjs, \d in onnxruntime\); nothing was written$/);
    return true;
  });
  assert.equal(existsSync(out), false);
});
