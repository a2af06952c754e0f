/**
 * Every gradient rule of src/export/backward-ops.ts against finite differences on onnxruntime: each
 * case is a small graph z `[2, 24]` → the ops under test → Σ w ⊙ (…) with fixed random weights w →
 * `score` `[2]`, and `grad_z` (appendGradients) must match the central differences of Σ score
 * (float32, step 3e-3) coordinate by coordinate. Also: an op without a rule on the path fails naming
 * the op and the node, one off the path is ignored, and the official ONNX checker passes each graph.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendGradients, SUPPORTED_GRADIENT_OPS, UnsupportedGradientError } from '../../src/export/backward.js';
import { DataType, GraphBuilder, encodeModel, float } from '../../src/export/onnx-builder.js';
import { createSession } from '../../src/runtime/node.js';
import { queueForChecker, runOnnxChecker } from './helpers.js';

const BATCH = 2;
const LATENT = 24;
const STEP = 3e-3;
const covered = new Set<string>();

after(() => {
  const { checked, failures } = runOnnxChecker();
  assert.ok(checked >= CASES.length, `only ${checked} graphs were checked`);
  assert.deepEqual(failures, [], 'the official ONNX checker rejected files');
});

/** Deterministic values in [-1, 1) (a fixed LCG: the cases must not move between runs). */
function values(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 * scale - scale;
  });
}

type Build = (g: GraphBuilder, z: string) => { out: string; shape: number[] };

/** z → build → Σ w ⊙ out over the non-batch axes → score [batch]; then ∂score/∂z appended. */
function graphOf(name: string, build: Build, opset = 17): Uint8Array {
  const g = new GraphBuilder(name);
  g.input({ name: 'z', elemType: DataType.FLOAT, shape: ['batch', LATENT] });
  const { out, shape } = build(g, 'z');
  const w = g.initializer('w', shape, values(shape.reduce((a, b) => a * b, 1), 99));
  const [weighted] = g.node('Mul', [out, w], {}, ['weighted']);
  const axes = g.int64Initializer('score_axes', shape.map((_, i) => i + 1));
  g.nodeTo('ReduceSum', [weighted, axes], { keepdims: 0 }, ['score']);
  g.reserve('score');
  const forward = new Set(g.nodes.map((n) => n.opType!));
  const { z } = appendGradients(g, { of: 'score', wrt: ['z'] });
  g.nodeTo('Identity', [z], {}, ['grad_z']);
  g.output({ name: 'score', elemType: DataType.FLOAT, shape: ['batch'] });
  g.output({ name: 'grad_z', elemType: DataType.FLOAT, shape: ['batch', LATENT] });
  forward.forEach((op) => covered.add(op));
  const bytes = encodeModel(g.toModel({ opset, producerVersion: 'test' }));
  queueForChecker(bytes, `backward_${name}`);
  return bytes;
}

async function expectFiniteDifferences(name: string, build: Build, opts: { opset?: number; seed?: number } = {}) {
  const bytes = graphOf(name, build, opts.opset);
  const session = await createSession(bytes, { providers: ['cpu'], threads: 1 });
  try {
    const z = values(BATCH * LATENT, opts.seed ?? 7);
    const run = async (data: Float32Array) => session.run({ z: { dtype: 'float32', data, dims: [BATCH, LATENT] } });
    const total = async (data: Float32Array) => ((await run(data)).score.data as Float32Array).reduce((a, b) => a + b, 0);
    const grad = Float32Array.from((await run(z)).grad_z.data as Float32Array);
    let worst = 0;
    let largest = 0;
    for (let j = 0; j < z.length; j++) {
      const plus = Float32Array.from(z);
      const minus = Float32Array.from(z);
      plus[j] += STEP;
      minus[j] -= STEP;
      const fd = ((await total(plus)) - (await total(minus))) / (2 * STEP);
      worst = Math.max(worst, Math.abs(fd - grad[j]));
      largest = Math.max(largest, Math.abs(fd));
    }
    assert.ok(largest > 1e-2, `${name}: the score hardly depends on z (largest finite difference ${largest}); the case tests nothing`);
    assert.ok(worst <= 2e-3 * Math.max(1, largest), `${name}: max |grad_z − finite differences| = ${worst} (largest gradient ${largest})`);
  } finally {
    await session.release();
  }
}

const reshape = (g: GraphBuilder, x: string, shape: number[]) => g.node('Reshape', [x, g.int64Initializer('shape', [0, ...shape])])[0];
const weight = (g: GraphBuilder, dims: number[], seed: number, scale = 0.5) => g.initializer('weight', dims, values(dims.reduce((a, b) => a * b, 1), seed, scale));
const scalar = (g: GraphBuilder, v: number) => g.initializer('scalar', [], new Float32Array([v]));

const CASES: [string, Build, { opset?: number }?][] = [
  ['activations', (g, z) => {
    // Each activation on its own slice of z, then concatenated: [B, 24].
    const parts = g.node('Split', [z, g.int64Initializer('split', [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])], { axis: 1 }, Array.from({ length: 12 }, (_, i) => `part${i}`));
    const acts: [string, Record<string, ReturnType<typeof float> | number>?][] = [
      ['Relu'], ['LeakyRelu', { alpha: float(0.2) }], ['Tanh'], ['Sigmoid'], ['Elu', { alpha: float(0.7) }], ['Selu'],
      ['Softplus'], ['Softsign'], ['HardSigmoid', { alpha: float(0.3), beta: float(0.5) }], ['Abs'], ['Neg'], ['Identity'],
    ];
    const outs = acts.map(([op, attrs], i) => g.node(op, [parts[i]], attrs ?? {})[0]);
    return { out: g.node('Concat', outs, { axis: 1 })[0], shape: [LATENT] };
  }],
  ['exp_log_sqrt_reciprocal_clip', (g, z) => {
    const e = g.node('Exp', [z])[0];
    const pos = g.node('Add', [e, scalar(g, 0.5)])[0];
    const log = g.node('Log', [pos])[0];
    const sqrt = g.node('Sqrt', [pos])[0];
    const rec = g.node('Reciprocal', [pos])[0];
    const clip = g.node('Clip', [z, scalar(g, -0.4), scalar(g, 0.6)])[0];
    const dropped = g.node('Dropout', [rec])[0]; // inference: the identity
    const cast = g.node('Cast', [g.node('Sum', [log, sqrt, dropped, clip])[0]], { to: DataType.FLOAT })[0];
    return { out: cast, shape: [LATENT] };
  }],
  ['softmax', (g, z) => ({ out: g.node('Softmax', [reshape(g, z, [4, 6])], { axis: 1 })[0], shape: [4, 6] })],
  ['broadcast_arithmetic', (g, z) => {
    // a [B, 2, 3, 2] against b [B, 1, 3, 1] and c [3, 2] (a constant), every op of two inputs.
    const [a, b] = g.node('Split', [z, g.int64Initializer('split', [12, 12])], { axis: 1 }, ['a', 'b']);
    const a4 = reshape(g, a, [2, 3, 2]);
    const b4 = g.node('ReduceMean', [reshape(g, b, [4, 3, 1])], { axes: [1], keepdims: 1 })[0]; // [B, 1, 3, 1]
    const c = weight(g, [3, 2], 5);
    const bPos = g.node('Add', [g.node('Exp', [b4])[0], scalar(g, 0.5)])[0];
    const sum = g.node('Add', [a4, b4])[0];
    const diff = g.node('Sub', [b4, a4])[0];
    const prod = g.node('Mul', [a4, b4])[0];
    const quot = g.node('Div', [a4, bPos])[0];
    const mean = g.node('Mean', [a4, b4, c])[0];
    const sq = g.node('Mul', [a4, a4])[0];
    const chosen = g.node('Where', [g.node('Greater', [c, scalar(g, 0)])[0], a4, b4])[0];
    return { out: g.node('Sum', [sum, diff, prod, quot, mean, sq, chosen])[0], shape: [2, 3, 2] };
  }],
  ['gemm_matmul', (g, z) => {
    const w1 = weight(g, [5, LATENT], 11); // Gemm with transB
    const bias = weight(g, [5], 12);
    const y1 = g.node('Gemm', [z, w1, bias], { transB: 1, alpha: float(0.7), beta: float(1.3) })[0];
    // A stored transposed (transA): Gemm(zᵀ, W) = z·W.
    const zt = g.node('Transpose', [z], { perm: [1, 0] })[0];
    const y2 = g.node('Gemm', [zt, weight(g, [LATENT, 5], 13)], { transA: 1 })[0];
    // MatMul of rank 3 with both operands depending on z, and against a rank-2 weight.
    const a = reshape(g, z, [4, 6]);
    const at = g.node('Transpose', [a], { perm: [0, 2, 1] })[0];
    const y3 = g.node('Tanh', [g.node('MatMul', [a, at])[0]])[0]; // [B, 4, 4]
    const y4 = g.node('MatMul', [y3, weight(g, [4, 5], 14)])[0]; // [B, 4, 5]
    const flat = g.node('Flatten', [y4], { axis: 1 })[0];
    return { out: g.node('Concat', [y1, y2, flat], { axis: 1 })[0], shape: [30] };
  }],
  ['conv', (g, z) => {
    const x = reshape(g, z, [2, 3, 4]);
    const c1 = g.node('Conv', [x, weight(g, [3, 2, 3, 3], 21), weight(g, [3], 22)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] })[0]; // [B, 3, 2, 2]
    const c2 = g.node('Conv', [x, weight(g, [4, 1, 2, 2], 23)], { kernel_shape: [2, 2], group: 2, auto_pad: 'SAME_UPPER' })[0]; // [B, 4, 3, 4]
    const c3 = g.node('Conv', [x, weight(g, [2, 2, 2, 2], 24)], { kernel_shape: [2, 2], dilations: [2, 2], pads: [0, 1, 1, 0] })[0]; // [B, 2, 2, 3]
    const parts = [c1, c2, c3].map((c) => g.node('Flatten', [g.node('Tanh', [c])[0]], { axis: 1 })[0]);
    return { out: g.node('Concat', parts, { axis: 1 })[0], shape: [12 + 48 + 12] };
  }],
  ['conv_transpose', (g, z) => {
    const x = reshape(g, z, [2, 3, 4]);
    const t1 = g.node('ConvTranspose', [x, weight(g, [2, 3, 4, 4], 31), weight(g, [3], 32)], { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 2, 2], output_padding: [1, 0] })[0]; // [B, 3, 6, 7]
    const t2 = g.node('ConvTranspose', [x, weight(g, [2, 1, 3, 3], 33)], { kernel_shape: [3, 3], group: 2 })[0]; // [B, 2, 5, 6]
    const parts = [t1, t2].map((c) => g.node('Flatten', [g.node('Tanh', [c])[0]], { axis: 1 })[0]);
    return { out: g.node('Concat', parts, { axis: 1 })[0], shape: [3 * 6 * 7 + 2 * 5 * 6] };
  }],
  ['depth_to_space_space_to_depth', (g, z) => {
    const x = reshape(g, z, [8, 1, 3]);
    const dcr = g.node('DepthToSpace', [x], { blocksize: 2 })[0]; // [B, 2, 2, 6]
    const crd = g.node('DepthToSpace', [x], { blocksize: 2, mode: 'CRD' })[0];
    const mixed = g.node('Add', [g.node('Tanh', [dcr])[0], g.node('Mul', [crd, crd])[0]])[0];
    return { out: g.node('SpaceToDepth', [mixed], { blocksize: 2 })[0], shape: [8, 1, 3] };
  }],
  ['pad_slice_split_squeeze', (g, z) => {
    const x = reshape(g, z, [2, 3, 4]);
    const padded = g.node('Pad', [x, g.int64Initializer('pads', [0, 0, 1, 0, 0, 0, 0, 2])], { mode: 'constant' })[0]; // [B, 2, 4, 6]
    const s = g.node('Sigmoid', [padded])[0];
    const sliced = g.node('Slice', [s, g.int64Initializer('starts', [1, -5]), g.int64Initializer('ends', [3, 100]), g.int64Initializer('axes', [2, 3])])[0]; // [B, 2, 2, 5]
    const [p, q] = g.node('Split', [sliced, g.int64Initializer('split', [1, 1])], { axis: 1 }, ['p', 'q']); // only p reaches the score
    const squeezed = g.node('Squeeze', [g.node('Tanh', [p])[0], g.int64Initializer('axes', [1])])[0]; // [B, 2, 5]
    const back = g.node('Unsqueeze', [squeezed, g.int64Initializer('axes', [1])])[0];
    g.node('Relu', [q]); // off the path
    return { out: g.node('Expand', [back, g.int64Initializer('shape', [1, 3, 1, 1])])[0], shape: [3, 2, 5] };
  }],
  ['pooling_resize', (g, z) => {
    const x = reshape(g, z, [2, 3, 4]);
    const up = g.node('Resize', [g.node('Tanh', [x])[0], '', g.initializer('scales', [4], new Float32Array([1, 1, 3, 2]))], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' })[0]; // [B, 2, 9, 8]
    const pooled = g.node('AveragePool', [up], { kernel_shape: [2, 2], strides: [2, 2] })[0]; // [B, 2, 4, 4]: the 9th row is dropped
    const global = g.node('GlobalAveragePool', [g.node('Mul', [up, up])[0]])[0]; // [B, 2, 1, 1]
    const summed = g.node('ReduceSum', [pooled, g.int64Initializer('axes', [3])], { keepdims: 1 })[0]; // [B, 2, 4, 1]
    const meaned = g.node('ReduceMean', [pooled], { axes: [1], keepdims: 0 })[0]; // [B, 4, 4]
    return { out: g.node('Add', [g.node('Add', [summed, global])[0], g.node('Unsqueeze', [meaned, g.int64Initializer('axes', [1])])[0]])[0], shape: [2, 4, 4] };
  }],
  ['normalisation', (g, z) => {
    const x = reshape(g, z, [4, 6]);
    const ln = g.node('LayerNormalization', [x, weight(g, [6], 41), weight(g, [6], 42)], { axis: -1, epsilon: float(1e-3) })[0];
    const ln2 = g.node('LayerNormalization', [x, weight(g, [4, 6], 43), weight(g, [4, 6], 44)], { axis: 1, epsilon: float(1e-3) })[0];
    const img = reshape(g, z, [3, 2, 4]);
    const stats = [weight(g, [3], 45), weight(g, [3], 46), weight(g, [3], 47)];
    const variance = g.initializer('variance', [3], new Float32Array([0.5, 1.5, 2]));
    const bn = g.node('BatchNormalization', [g.node('Tanh', [img])[0], ...stats, variance], { epsilon: float(1e-3) })[0];
    const flat = (t: string) => g.node('Flatten', [t], { axis: 1 })[0];
    return { out: g.node('Concat', [flat(ln), flat(ln2), flat(bn)], { axis: 1 })[0], shape: [72] };
  }],
];

for (const [name, build, opts] of CASES) {
  test(`gradient rules: ${name} against finite differences`, async () => {
    await expectFiniteDifferences(name, build, opts);
  });
}

test('the cases above use every op that has a gradient rule', () => {
  const missing = SUPPORTED_GRADIENT_OPS.filter((op) => !covered.has(op));
  assert.deepEqual(missing, [], 'ops with a rule but no finite-difference case');
});

test('an op without a gradient rule on the path fails naming the op and the node; off the path it is ignored', () => {
  const build = (onPath: boolean) => {
    const g = new GraphBuilder('max');
    g.input({ name: 'z', elemType: DataType.FLOAT, shape: ['batch', 4] });
    const [m] = g.node('Max', ['z', 'z'], {}, ['m'], 'my_max');
    const src = onPath ? m : g.node('Tanh', ['z'])[0];
    g.nodeTo('ReduceSum', [src, g.int64Initializer('axes', [1])], { keepdims: 0 }, ['score']);
    return () => appendGradients(g, { of: 'score', wrt: ['z'] });
  };
  assert.throws(build(true), (err: unknown) => {
    assert.ok(err instanceof UnsupportedGradientError);
    assert.match(err.message, /node "my_max" \(Max\): no gradient rule for Max \(supported: .*Relu/);
    return true;
  });
  assert.doesNotThrow(build(false));
});

test('a gradient with respect to a Conv weight that depends on z is refused; so is a non-float wrt', () => {
  const g = new GraphBuilder('w');
  g.input({ name: 'z', elemType: DataType.FLOAT, shape: [1, 1, 3, 3] });
  g.input({ name: 'k', elemType: DataType.INT64, shape: ['batch', 1] });
  const [c] = g.node('Conv', ['z', 'z'], { kernel_shape: [3, 3] }, ['c'], 'self_conv');
  g.nodeTo('ReduceSum', [c, g.int64Initializer('axes', [1, 2, 3])], { keepdims: 0 }, ['score']);
  assert.throws(() => appendGradients(g, { of: 'score', wrt: ['z'] }), /node "self_conv" \(Conv\): input 1 \("z"\) depends on the differentiated input/);
  assert.throws(() => appendGradients(g, { of: 'score', wrt: ['k'] }), /"k" is not a float tensor/);
});
