import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { convertLayersModel, SUPPORTED_ACTIVATIONS } from '../../src/export/index.js';
import { UnsupportedLayerError } from '../../src/core/errors.js';
import { expectParity, randomizeBatchNorms, runOnnxChecker } from './helpers.js';

await tf.setBackend('cpu');
const seq = (layers: tf.layers.Layer[]) => tf.sequential({ layers });

after(() => {
  const { checked, failures } = runOnnxChecker();
  assert.ok(checked > 30, `only ${checked} files were checked`);
  assert.deepEqual(failures, [], 'the official ONNX checker rejected files');
});

test('Dense with every supported fused activation', async () => {
  for (const activation of SUPPORTED_ACTIVATIONS) {
    const m = seq([tf.layers.dense({ inputShape: [6], units: 5, activation: activation as never })]);
    await expectParity(m, `dense_${activation}`);
  }
  await expectParity(seq([tf.layers.dense({ inputShape: [6], units: 5, useBias: false })]), 'dense_nobias');
});

test('activation layers: ReLU (with maxValue), LeakyReLU, ELU, Softmax, Activation, Dropout', async () => {
  await expectParity(seq([tf.layers.dense({ inputShape: [4], units: 8 }), tf.layers.reLU()]), 'relu');
  await expectParity(seq([tf.layers.dense({ inputShape: [4], units: 8 }), tf.layers.reLU({ maxValue: 0.5 })]), 'relu_max');
  await expectParity(seq([tf.layers.dense({ inputShape: [4], units: 8 }), tf.layers.leakyReLU({ alpha: 0.2 })]), 'leaky');
  await expectParity(seq([tf.layers.dense({ inputShape: [4], units: 8 }), tf.layers.elu()]), 'elu');
  await expectParity(seq([tf.layers.dense({ inputShape: [4], units: 8 }), tf.layers.softmax()]), 'softmax');
  await expectParity(seq([tf.layers.dense({ inputShape: [4], units: 8 }), tf.layers.activation({ activation: 'tanh' })]), 'activation_tanh');
  await expectParity(seq([tf.layers.dense({ inputShape: [4], units: 8 }), tf.layers.activation({ activation: 'sigmoid' })]), 'activation_sigmoid');
  await expectParity(seq([tf.layers.dense({ inputShape: [4], units: 8 }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 2 })]), 'dropout');
});

test('Conv2D: same/valid padding, strides, dilation, odd sizes', async () => {
  const cases = [
    { kernelSize: 3, strides: 1, padding: 'same' },
    { kernelSize: 3, strides: 2, padding: 'same' },
    { kernelSize: 4, strides: 2, padding: 'same' },
    { kernelSize: 5, strides: 2, padding: 'valid' },
    { kernelSize: 3, strides: 1, padding: 'same', dilationRate: 2 },
    { kernelSize: [2, 3], strides: [1, 2], padding: 'same' },
  ] as const;
  for (const c of cases) {
    const m = seq([tf.layers.conv2d({ inputShape: [9, 7, 3], filters: 4, activation: 'relu', ...c } as never)]);
    await expectParity(m, `conv_${JSON.stringify(c)}`);
  }
});

test('Conv2DTranspose: same/valid, kernel larger and smaller than the stride', async () => {
  const cases = [
    { kernelSize: 4, strides: 2, padding: 'same' },
    { kernelSize: 5, strides: 2, padding: 'same' },
    { kernelSize: 3, strides: 2, padding: 'same' },
    { kernelSize: 5, strides: 1, padding: 'same' },
    { kernelSize: 1, strides: 2, padding: 'same' },
    { kernelSize: 3, strides: 2, padding: 'valid' },
    { kernelSize: 2, strides: 3, padding: 'valid' },
    { kernelSize: [3, 4], strides: [1, 2], padding: 'same' },
  ] as const;
  for (const c of cases) {
    const m = seq([tf.layers.conv2dTranspose({ inputShape: [5, 6, 3], filters: 2, ...c } as never)]);
    await expectParity(m, `deconv_${JSON.stringify(c)}`);
  }
});

test('UpSampling2D nearest and bilinear', async () => {
  await expectParity(seq([tf.layers.upSampling2d({ inputShape: [4, 5, 2], size: [2, 3] })]), 'up_nearest');
  await expectParity(seq([tf.layers.upSampling2d({ inputShape: [4, 5, 2], size: [2, 2], interpolation: 'bilinear' })]), 'up_bilinear');
  await expectParity(seq([tf.layers.conv2d({ inputShape: [4, 4, 2], filters: 3, kernelSize: 3, padding: 'same' }), tf.layers.upSampling2d({}), tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same' })]), 'conv_up_conv');
});

test('BatchNormalization: folded into Dense/Conv/ConvTranspose, and standalone in both layouts', async () => {
  const dense = seq([tf.layers.dense({ inputShape: [5], units: 6 }), tf.layers.batchNormalization(), tf.layers.reLU()]);
  randomizeBatchNorms(dense);
  const r = await expectParity(dense, 'bn_dense_folded');
  assert.ok(!r.model.graph!.node!.some((n) => n.opType === 'Mul'), 'BatchNormalization after Dense should be folded away');

  const conv = seq([tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, padding: 'same', useBias: false }), tf.layers.batchNormalization(), tf.layers.reLU()]);
  randomizeBatchNorms(conv);
  await expectParity(conv, 'bn_conv_folded');

  const deconv = seq([tf.layers.conv2dTranspose({ inputShape: [3, 3, 4], filters: 2, kernelSize: 4, strides: 2, padding: 'same' }), tf.layers.batchNormalization({ center: false }), tf.layers.reLU()]);
  randomizeBatchNorms(deconv);
  await expectParity(deconv, 'bn_deconv_folded');

  // Not foldable: after an activation (NCHW internally, following a conv) and on rank 2.
  const afterAct = seq([tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'relu' }), tf.layers.batchNormalization({ scale: false })]);
  randomizeBatchNorms(afterAct);
  const r2 = await expectParity(afterAct, 'bn_standalone_nchw');
  assert.ok(r2.model.graph!.node!.some((n) => n.opType === 'Mul'));
  const onInput = seq([tf.layers.batchNormalization({ inputShape: [4, 4, 3] }), tf.layers.flatten()]);
  randomizeBatchNorms(onInput);
  await expectParity(onInput, 'bn_standalone_nhwc');
  const rank2 = seq([tf.layers.dense({ inputShape: [3], units: 4, activation: 'tanh' }), tf.layers.batchNormalization()]);
  randomizeBatchNorms(rank2);
  await expectParity(rank2, 'bn_rank2');
});

test('LayerNormalization at opset 17 (native op) and 13 (decomposed), rank 2 and rank 4', async () => {
  for (const opset of [17, 13]) {
    const m2 = seq([tf.layers.dense({ inputShape: [5], units: 8 }), tf.layers.layerNormalization(), tf.layers.leakyReLU()]);
    await expectParity(m2, `ln2_opset${opset}`, { opset });
    const m4 = seq([tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, padding: 'same' }), tf.layers.layerNormalization({ axis: -1 }), tf.layers.conv2d({ filters: 2, kernelSize: 3 })]);
    await expectParity(m4, `ln4_opset${opset}`, { opset });
    const mAll = seq([tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3, padding: 'same' }), tf.layers.layerNormalization({ axis: [1, 2, 3] })]);
    await expectParity(mAll, `ln_all_opset${opset}`, { opset });
  }
});

test('Reshape and Flatten keep tfjs element order after convolutions', async () => {
  const m = seq([
    tf.layers.dense({ inputShape: [4], units: 3 * 4 * 2 }),
    tf.layers.reshape({ targetShape: [3, 4, 2] }),
    tf.layers.conv2d({ filters: 3, kernelSize: 2, padding: 'same' }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 5 }),
    tf.layers.reshape({ targetShape: [5, 1] }),
    tf.layers.flatten(),
  ]);
  await expectParity(m, 'reshape_flatten');
  await expectParity(seq([tf.layers.reshape({ inputShape: [12], targetShape: [-1, 3] }), tf.layers.dense({ units: 2 })]), 'reshape_minus1_dense_rank3');
});

test('merge layers: Add, Multiply, Concatenate, Average, Maximum, Minimum, in both layouts', async () => {
  const a = tf.input({ shape: [6] });
  const b = tf.input({ shape: [6] });
  const merges = [tf.layers.add(), tf.layers.multiply(), tf.layers.concatenate(), tf.layers.average(), tf.layers.maximum(), tf.layers.minimum()];
  for (const merge of merges) {
    const out = tf.layers.dense({ units: 3 }).apply(merge.apply([tf.layers.dense({ units: 6 }).apply(a) as tf.SymbolicTensor, b])) as tf.SymbolicTensor;
    await expectParity(tf.model({ inputs: [a, b], outputs: out }), `merge_${merge.getClassName()}`);
  }
  // Rank 4: one branch stored NCHW (after a conv), the other NHWC (straight from the input).
  const img = tf.input({ shape: [5, 5, 2] });
  const conv = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(img) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ axis: -1 }).apply([conv, img]) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([conv, img]) as tf.SymbolicTensor;
  const both = tf.layers.concatenate().apply([tf.layers.conv2d({ filters: 1, kernelSize: 1 }).apply(cat) as tf.SymbolicTensor, sum]) as tf.SymbolicTensor;
  await expectParity(tf.model({ inputs: img, outputs: both }), 'merge_rank4_mixed_layouts');
  const c1 = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(img) as tf.SymbolicTensor;
  const c2 = tf.layers.conv2d({ filters: 3, kernelSize: 1 }).apply(img) as tf.SymbolicTensor;
  await expectParity(tf.model({ inputs: img, outputs: tf.layers.concatenate({ axis: 3 }).apply([c1, c2]) as tf.SymbolicTensor }), 'concat_nchw_channels');
});

test('Embedding: the label input becomes int64 and feeds Gather', async () => {
  const z = tf.input({ shape: [8], name: 'noise' });
  const label = tf.input({ shape: [1], name: 'class' });
  const emb = tf.layers.flatten().apply(tf.layers.embedding({ inputDim: 10, outputDim: 8 }).apply(label)) as tf.SymbolicTensor;
  const h = tf.layers.multiply().apply([z, emb]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'tanh' }).apply(h) as tf.SymbolicTensor;
  const r = await expectParity(tf.model({ inputs: [z, label], outputs: out }), 'embedding_multiply', { numClasses: 10 });
  assert.deepEqual(r.inputs.map((i) => [i.name, i.dtype, i.role]), [['z', 'float32', 'latent'], ['label', 'int64', 'label']]);
  // Dense straight on the [batch, 1, dim] embedding output (rank-3 MatMul) and Concatenate.
  const e3 = tf.layers.embedding({ inputDim: 4, outputDim: 3 }).apply(label) as tf.SymbolicTensor;
  const d3 = tf.layers.flatten().apply(tf.layers.dense({ units: 5 }).apply(e3)) as tf.SymbolicTensor;
  const out2 = tf.layers.dense({ units: 2 }).apply(tf.layers.concatenate().apply([z, d3])) as tf.SymbolicTensor;
  await expectParity(tf.model({ inputs: [z, label], outputs: out2 }), 'embedding_concat_rank3', { numClasses: 4 });
});

test('nested models are inlined', async () => {
  const inner = seq([tf.layers.dense({ inputShape: [4], units: 6, activation: 'relu' }), tf.layers.dense({ units: 3 })]);
  const x = tf.input({ shape: [4] });
  const y = tf.layers.dense({ units: 2, activation: 'sigmoid' }).apply(inner.apply(x)) as tf.SymbolicTensor;
  await expectParity(tf.model({ inputs: x, outputs: y }), 'nested');
});

test('a layer shared with another model contributes only this model’s call', async () => {
  const g = seq([tf.layers.dense({ inputShape: [3], units: 4, activation: 'tanh' }), tf.layers.dense({ units: 2 })]);
  // A combined model (as a GAN trainer builds) calls g's layers a second time.
  const z = tf.input({ shape: [3] });
  tf.model({ inputs: z, outputs: tf.layers.dense({ units: 1 }).apply(g.apply(z)) as tf.SymbolicTensor });
  const r = await expectParity(g, 'shared_layers');
  assert.equal(r.model.graph!.node!.filter((n) => n.opType === 'Gemm').length, 2);
});

test('unsupported layers and options fail with the layer name, class and option', () => {
  const cases: [tf.LayersModel, RegExp][] = [
    [seq([tf.layers.conv1d({ inputShape: [8, 2], filters: 2, kernelSize: 3, name: 'my_conv1d' })]), /layer "my_conv1d" \(Conv1D\): layer class not supported/],
    [seq([tf.layers.simpleRNN({ inputShape: [4, 2], units: 3, name: 'rnn' })]), /layer "rnn" \(SimpleRNN\)/],
    [seq([tf.layers.dense({ inputShape: [4], units: 3, activation: 'mish', name: 'd_mish' })]), /layer "d_mish" \(Dense\): activation "mish"/],
    [seq([tf.layers.embedding({ inputDim: 5, outputDim: 2, inputLength: 1, maskZero: true, name: 'emb' })]), /layer "emb" \(Embedding\): maskZero/],
    [seq([tf.layers.conv2d({ inputShape: [2, 5, 5], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst', name: 'cf' })]), /layer "cf" \(Conv2D\): dataFormat "channelsFirst"/],
    [seq([tf.layers.depthwiseConv2d({ inputShape: [5, 5, 2], kernelSize: 3, name: 'dw' })]), /layer "dw" \(DepthwiseConv2D\): layer class not supported \(supported: Dense, /],
    [seq([tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.softmax({ axis: [0, 1] as never, name: 'sm' })]), /layer "sm" \(Softmax\): axis \[0,1\]/],
  ];
  for (const [model, pattern] of cases) {
    assert.throws(() => convertLayersModel(model), (e: unknown) => e instanceof UnsupportedLayerError && pattern.test(e.message), String(pattern));
  }
  assert.throws(() => convertLayersModel(seq([tf.layers.dense({ inputShape: [2], units: 1 })]), { opset: 11 }), /opset: 11 is not allowed; expected an integer from 13 to 17/);
});
