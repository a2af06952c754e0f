/**
 * The gradient-penalty gradient w.r.t. every critic weight, against central finite differences,
 * for every critic `wganx train` offers to WGAN-GP (architecture × activation × normalisation,
 * plus the conditional critics). tfjs can get second-order gradients silently wrong (a missing
 * first-layer bias gradient with tanh critics, before src/train/gradients.ts), so this is the test
 * that lets src/train/critic-support.ts list a critic as supported.
 *
 * float32 finite differences: tiny critics (a few units), a central difference on each weight in
 * turn, compared per weight tensor in relative norm. ReLU-type critics are only piecewise smooth:
 * the penalty jumps when a unit's pre-activation crosses 0, and a difference step that crosses
 * such a kink measures the jump, not the gradient. So the inputs x̂ are drawn (from a few seeded
 * candidates) to keep every pre-activation away from 0, and each difference uses the largest step
 * (from H_MAX, quartered) whose two evaluations keep every unit on its side of the kink: within
 * one activation pattern the penalty is smooth, and a large step keeps float32 round-off (≈ ε/h)
 * small even for deep critics (the resnet's), whose many units leave only a tiny input margin.
 * An entry no step keeps inside its pattern is left out (at most MAX_SKIPPED of them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ARCHITECTURES, CRITIC_ACTIVATIONS, CRITIC_NORMS, type Architecture, type CriticActivation, type CriticConditioning, type CriticNorm } from '../../src/train/config.js';
import { assertCriticSupported, criticKey, PENALTY_VERIFIED_CRITICS } from '../../src/train/critic-support.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { registerTrainingGradients } from '../../src/tfjs/gradients.js';
import { gradientPenalty } from '../../src/train/losses.js';
import { initWeights } from '../../src/train/models/init.js';
import { ARCHS, loadArch } from '../../src/train/models/archs.js';
import type { NetSpec } from '../../src/train/models/spec.js';
import { CounterRng } from '../../src/core/random.js';
import { startBackend } from '../../src/tfjs/backend.js';
import { openNodeGemm } from '../../src/runtime/node-gemm.js';
import { criticOutputs } from '../../src/train/steps.js';

/** Largest and smallest finite-difference steps. */
const H_MAX = 1e-3;
const H_MIN = 5e-5;
/** Inputs are chosen for a margin of at least H_MAX / H_PER_MARGIN from every kink, when a candidate has one. */
const H_PER_MARGIN = 1 / 20;
/** Share of a tensor's entries that may be left out because every step crosses a kink. */
const MAX_SKIPPED = 0.1;
const INPUT_CANDIDATES = 20;
/** ‖analytic − numeric‖ ≤ RTOL·‖numeric‖ + ATOL per weight tensor. */
const RTOL = 2e-2;
const ATOL = 2e-3;
const BATCH = 3;

interface Case {
  arch: Architecture;
  activation: CriticActivation;
  norm: CriticNorm;
  dCond: CriticConditioning | null;
  /** With the auxiliary classifier head (a second output; the penalty concerns the score only). */
  ac?: boolean;
}

function spec(c: Case): NetSpec {
  return {
    kind: c.arch === 'mlp' ? 'points' : 'image',
    dataShape: c.arch === 'mlp' ? [2] : [16, 16, 1],
    latent: 2,
    numClasses: c.dCond ? 3 : 0,
    hidden: c.arch === 'mlp' ? 4 : 2,
    layers: 2,
    criticActivation: c.activation,
    criticNorm: c.norm,
    gCond: 'multiply',
    dCond: c.dCond ?? 'projection',
    auxClassifier: c.ac ?? false,
  };
}

/** `entries`: check at most this many seeded entries of each weight tensor (every entry by default). */
async function check(c: Case, entries = Infinity): Promise<{ worst: number; detail: string[] }> {
  const s = spec(c);
  const critic = (await loadArch(c.arch)).buildCritic(s);
  const rng = new CounterRng(11, 1);
  initWeights(critic, rng);
  // Biases start at zero; make them non-zero so that their gradients are exercised too.
  for (const w of critic.weights) {
    if (w.originalName.endsWith('bias') || w.originalName.endsWith('beta')) {
      w.write(tf.tensor(rng.uniform(w.shape.reduce((a, b) => a! * b!, 1)!).map((u) => 0.4 * (u - 0.5)), w.shape as number[]));
    }
  }
  const labels = c.dCond ? tf.tensor2d([0, 2, 1], [BATCH, 1], 'int32') : null;
  // Inputs of every kinked activation, to measure how close a unit is to its kink.
  const kinked = critic.layers.filter((l) => ['ReLU', 'LeakyReLU'].includes(l.getClassName()));
  const probe = kinked.length ? tf.model({ inputs: critic.inputs, outputs: kinked.map((l) => l.input as tf.SymbolicTensor) }) : null;
  // Every read is asynchronous: WebGPU cannot read synchronously in Node.
  /** Which side of its kink each unit is on (at the current weights). */
  const pattern = async (x: tf.Tensor): Promise<string> => {
    if (!probe) return '';
    const outs = [probe.predict(labels ? [x, labels] : x)].flat() as tf.Tensor[];
    const values = await Promise.all(outs.map((t) => t.data()));
    tf.dispose(outs);
    return values.map((v) => Array.from(v, (a) => (a > 0 ? '1' : '0')).join('')).join('|');
  };
  const margin = async (x: tf.Tensor): Promise<number> => {
    if (!probe) return Infinity;
    const outs = [probe.predict(labels ? [x, labels] : x)].flat() as tf.Tensor[];
    const values = await Promise.all(outs.map((t) => t.data()));
    const m = Math.min(...values.map((v) => Math.min(...Array.from(v, Math.abs))));
    tf.dispose(outs);
    return m;
  };
  let xHat = tf.tensor(rng.normal(BATCH * s.dataShape.reduce((a, b) => a * b, 1)), [BATCH, ...s.dataShape]);
  let best = await margin(xHat);
  for (let k = 1; k < INPUT_CANDIDATES && best < H_MAX / H_PER_MARGIN; k++) {
    const cand = tf.tensor(rng.normal(BATCH * s.dataShape.reduce((a, b) => a * b, 1)), [BATCH, ...s.dataShape]);
    const m = await margin(cand);
    if (m > best) [xHat, best] = [cand, m];
    else cand.dispose();
  }
  const basePattern = await pattern(xHat);
  const D = (x: tf.Tensor) => criticOutputs(critic, x, labels).score;
  const penalty = () => gradientPenalty(D, xHat);
  const vars = critic.trainableWeights.map((w) => w.read() as tf.Variable);
  const { grads } = tf.variableGrads(penalty, vars);
  const detail: string[] = [];
  let worst = 0;
  for (const v of vars) {
    // A weight the penalty does not depend on (the output bias) has no entry: its gradient is 0.
    const analytic = grads[v.name] ? await grads[v.name].data() : new Float32Array(v.size);
    const base = (await v.data()).slice() as Float32Array;
    const numeric = new Float64Array(base.length);
    const picked = base.length <= entries ? base.map((_, i) => i) : Array.from(new Set(Array.from(rng.uniform(entries), (u) => Math.floor(u * base.length))));
    const compared: number[] = [];
    for (const i of picked) {
      /** The penalty with weight i moved by delta, or null when a unit crosses its kink. */
      const at = async (delta: number): Promise<number | null> => {
        const p = base.slice();
        p[i] += delta;
        const t = tf.tensor(p, v.shape);
        v.assign(t);
        t.dispose();
        if ((await pattern(xHat)) !== basePattern) return null;
        const y = tf.tidy(penalty);
        const value = (await y.data())[0];
        y.dispose();
        return value;
      };
      for (let h = H_MAX; h >= H_MIN; h /= 4) {
        const [plus, minus] = [await at(h), await at(-h)];
        if (plus === null || minus === null) continue;
        numeric[i] = (plus - minus) / (2 * h);
        compared.push(i);
        break;
      }
    }
    v.assign(tf.tensor(base, v.shape));
    assert.ok(compared.length >= (1 - MAX_SKIPPED) * picked.length, `${v.name}: only ${compared.length} of ${picked.length} entries have a step that stays off every kink`);
    let diff = 0;
    let norm = 0;
    for (const i of compared) {
      diff += (analytic[i] - numeric[i]) ** 2;
      norm += numeric[i] ** 2;
    }
    const err = Math.sqrt(diff) / (RTOL * Math.sqrt(norm) + ATOL);
    worst = Math.max(worst, err);
    if (err > 1) detail.push(`${v.name}: |analytic − numeric| = ${Math.sqrt(diff).toExponential(2)}, |numeric| = ${Math.sqrt(norm).toExponential(2)}`);
  }
  tf.dispose([xHat, labels, ...Object.values(grads)].filter((t) => t !== null) as tf.Tensor[]);
  critic.dispose();
  return { worst, detail };
}

const cases: Case[] = [
  // Every critic the guard lets through, as it lists them.
  ...[...PENALTY_VERIFIED_CRITICS].map((key) => {
    const [arch, activation, norm] = key.split('/') as [Case['arch'], Case['activation'], Case['norm']];
    return { arch, activation, norm, dCond: null };
  }),
  ...ARCHITECTURES.flatMap((arch) => (['projection', 'concat'] as const).map((dCond) => ({ arch, activation: 'leaky_relu' as const, norm: 'none' as const, dCond }))),
  ...ARCHITECTURES.map((arch) => ({ arch, activation: 'leaky_relu' as const, norm: 'none' as const, dCond: 'projection' as const, ac: true })),
];

/** WebGPU cases run in a child process with SwiftShader's Vulkan (test/tfjs/webgpu.test.ts starts it). */
const WEBGPU_CASES: Case[] = [
  { arch: 'mlp', activation: 'leaky_relu', norm: 'none', dCond: null },
  { arch: 'dcgan', activation: 'leaky_relu', norm: 'none', dCond: null },
  { arch: 'dcgan', activation: 'leaky_relu', norm: 'none', dCond: 'projection', ac: true },
];
/** `wasm+onnxruntime`: wasm with its products and convolutions on onnxruntime-node (`wganx train`'s default). */
const BACKENDS = process.env.WGANX_WEBGPU_TEST === '1' ? (['webgpu'] as const) : (['cpu', 'wasm', 'wasm+onnxruntime'] as const);

for (const backend of BACKENDS) {
  for (const c of backend === 'webgpu' ? WEBGPU_CASES : cases) {
    const name = `${backend}: penalty gradient of the ${c.arch} critic (${c.activation}, norm ${c.norm}${c.dCond ? `, conditional ${c.dCond}` : ''}${c.ac ? ', classifier head' : ''}) matches finite differences`;
    test(name, async () => {
      registerTrainingGradients();
      if (backend === 'wasm+onnxruntime') await startBackend('wasm', [], { matmul: 'onnxruntime', openGemm: (threads) => openNodeGemm({ threads }) });
      else await startBackend(backend, [], { matmul: 'xnnpack' });
      // On SwiftShader each evaluation is slow: a seeded sample of 4 entries per weight tensor.
      const { worst, detail } = await check(c, backend === 'webgpu' ? 4 : Infinity);
      assert.ok(worst <= 1, `${detail.join('; ')}`);
    });
  }
}

test('every critic the CLI offers is on the verified list (a new option must be verified before it trains)', () => {
  const offered = ARCHITECTURES.flatMap((a) => CRITIC_ACTIVATIONS.flatMap((act) => CRITIC_NORMS.filter((n) => (ARCHS[a].criticNorms as readonly string[]).includes(n)).map((n) => criticKey(a, act, n))));
  assert.deepEqual(offered.filter((k) => !PENALTY_VERIFIED_CRITICS.has(k)), []);
});

test('the guard refuses a critic that is not verified for WGAN-GP, naming the flags and the verified ones', () => {
  const verified = new Set(['dcgan/leaky_relu/none', 'dcgan/relu/none', 'mlp/tanh/none']);
  const config = { algo: 'wgan-gp' as const, arch: 'dcgan' as const, criticActivation: 'tanh' as const, criticNorm: 'layer' as const };
  assert.throws(() => assertCriticSupported(config, verified), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.field, '--critic-activation/--critic-norm');
    assert.equal(e.value, 'tanh + layer');
    assert.match(e.allowed, /--arch dcgan with --algo wgan-gp: leaky_relu \+ none, relu \+ none$/);
    return true;
  });
  // Only the penalty needs second-order gradients: the other algorithms train any critic.
  assert.doesNotThrow(() => assertCriticSupported({ ...config, algo: 'wgan' }, verified));
  assert.doesNotThrow(() => assertCriticSupported({ ...config, criticActivation: 'leaky_relu', criticNorm: 'none' }, verified));
});

test('without the corrected Tanh gradient, the check catches the missing first-layer bias gradient', async () => {
  // Guard for the guard: the stock tfjs Tanh gradient (written in terms of the saved output) loses
  // second-order paths; the finite-difference check must notice.
  await startBackend('cpu', []);
  const stock = tf.getGradient('Tanh')!;
  tf.registerGradient({
    kernelName: 'Tanh',
    outputsToSave: [true],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(saved[0]))) }),
  });
  try {
    const { worst, detail } = await check({ arch: 'mlp', activation: 'tanh', norm: 'none', dCond: null });
    assert.ok(worst > 1, 'the stock gradient should fail the check');
    assert.ok(detail.some((d) => d.includes('d_dense_0/bias')), detail.join('; '));
  } finally {
    tf.registerGradient(stock);
  }
});
