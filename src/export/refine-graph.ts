/**
 * `refine.onnx`: the generator and the critic in one graph, with the critic's gradient with
 * respect to the latent, for refining samples at sampling time (issue 35; DOT / DDLS move `z` along
 * ∂score/∂z). ONNX Runtime has no autograd, so the backward half is emitted by ./backward.ts.
 *
 * Inputs: exactly the generator's (`z` `[batch, latent]`, and `label` for a conditional model).
 * Outputs: the generator's output (same name, e.g. `samples`), `score` `[batch]` =
 * critic(G(z, y), y), and `grad_z` `[batch, latent]` = ∂score_b/∂z_b (rows are independent).
 *
 * The critic's tensors are renamed under `critic/` and its `x` input becomes the generator's output
 * tensor, its `label` input the generator's; critic nodes that do not lead to `score` (an AC head's
 * logits) are dropped.
 *
 * @example
 *   const refine = composeRefineGraph(generatorGraph.model, criticGraph.model);
 *   refine.bytes; refine.outputs   // [{ name: 'samples', … }, { name: 'score', … }, { name: 'grad_z', … }]
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError, ParityError } from '../core/errors.js';
import { CRITIC_NAMES, type InputSpec, type TensorDtype, type TensorSpec } from '../core/manifest.js';
import { createSession } from '../runtime/node.js';
import { VERSION } from '../version.js';
import { appendGradients, UnsupportedGradientError } from './backward.js';
import { BATCH_DIM, MAX_OPSET, MIN_OPSET } from './convert.js';
import type { RefineBuilder, RefineGraph } from './critic.js';
import { DataType, GraphBuilder, encodeModel, type OnnxModel, type ValueSpec } from './onnx-builder.js';
import { makeParityInputs, maxAbsDiff } from './parity.js';
import { num } from './backward-shapes.js';
import { embeddingClasses } from './layers.js';

/** Output names of refine.onnx besides the generator's output. */
export const REFINE_NAMES = { score: 'score', gradZ: 'grad_z' } as const;
/**
 * The gradient check's bound, relative to the gradient's size: |ONNX − tf.grad| ≤ this ×
 * max |tf.grad| (+ {@link GRADIENT_ABSOLUTE_FLOOR}). Both sides compute in float32 along different
 * kernel orders (about 1e-6 apart relative); a wrong rule is off by the gradient's own size.
 */
export const GRADIENT_RELATIVE_TOLERANCE = 1e-3;
/**
 * refine.onnx's score against the tfjs critic of the tfjs generator: the parity checks' 1e-4, relative
 * to the largest score (a critic's scores are not bounded).
 */
export const SCORE_RELATIVE_TOLERANCE = 1e-4;
/** Keeps the bound positive when every gradient is 0 (a dead ReLU net). */
export const GRADIENT_ABSOLUTE_FLOOR = 1e-7;
/**
 * Samples of the gradient check: onnxruntime runs them as one batch, tf.grad one at a time (rows
 * are independent; tfjs's cpu backend differentiates nearest up-sampling wrongly beyond batch 1).
 */
export const GRADIENT_CHECK_SAMPLES = 8;
/** Seed of the check's inputs (fixed: the manifest's figure can be reproduced). */
export const GRADIENT_CHECK_SEED = 20190523;

type Graph = NonNullable<OnnxModel['graph']>;
type ValueInfo = NonNullable<Graph['input']>[number];

const DTYPE_NAMES: Record<number, TensorDtype> = { [DataType.FLOAT]: 'float32', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32', [DataType.FLOAT16]: 'float16' };

function spec(v: ValueInfo): ValueSpec {
  const t = v.type?.tensorType;
  return { name: v.name ?? '', elemType: t?.elemType ?? DataType.FLOAT, shape: (t?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : num(d.dimValue as number))) };
}

function opsetOf(model: OnnxModel, which: string): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain);
  const opset = num(entry?.version as number);
  if (!(opset >= MIN_OPSET && opset <= MAX_OPSET)) throw new InvalidArgumentError(`${which}.opset`, opset, `an opset from ${MIN_OPSET} to ${MAX_OPSET}`);
  return opset;
}

export interface ComposedRefine {
  model: OnnxModel;
  bytes: Uint8Array;
  inputs: TensorSpec[];
  /** The generator's output, `score` and `grad_z`. */
  outputs: TensorSpec[];
}

/**
 * Compose the generator's and the critic's ONNX models (as the exporter builds them: inputs `z`
 * and optional `label`; the critic's `x`, `label`, `score`) and append ∂score/∂z.
 */
export function composeRefineGraph(generator: OnnxModel, critic: OnnxModel, opts: { graphName?: string; docString?: string } = {}): ComposedRefine {
  const gen = generator.graph;
  const crit = critic.graph;
  if (!gen || !crit) throw new InvalidArgumentError('model.graph', null, 'a generator and a critic ModelProto with graphs');
  const opset = Math.max(opsetOf(generator, 'generator'), opsetOf(critic, 'critic'));
  const genInputs = (gen.input ?? []).map(spec);
  const genOutputs = (gen.output ?? []).map(spec);
  if (genOutputs.length !== 1) throw new InvalidArgumentError('generator.outputs', genOutputs.map((o) => o.name), 'exactly one output');
  const latents = genInputs.filter((i) => i.elemType === DataType.FLOAT);
  if (latents.length !== 1) throw new InvalidArgumentError('generator.inputs', genInputs.map((i) => i.name), 'exactly one float (latent) input');
  const labels = genInputs.filter((i) => i.elemType !== DataType.FLOAT);
  const critInputs = (crit.input ?? []).map(spec);
  const x = critInputs.find((i) => i.name === CRITIC_NAMES.x);
  const critLabel = critInputs.find((i) => i.name === CRITIC_NAMES.label);
  if (!x) throw new InvalidArgumentError('critic.inputs', critInputs.map((i) => i.name), `an input named "${CRITIC_NAMES.x}"`);
  if (JSON.stringify(x.shape.slice(1)) !== JSON.stringify(genOutputs[0].shape.slice(1))) {
    throw new InvalidArgumentError(`critic.inputs.${CRITIC_NAMES.x}.shape`, x.shape, `[batch, ...${JSON.stringify(genOutputs[0].shape.slice(1))}] (the generator's output)`);
  }
  if (Boolean(critLabel) !== labels.length > 0 || labels.length > 1) {
    throw new InvalidArgumentError('critic.inputs', critInputs.map((i) => i.name), labels.length ? `"${CRITIC_NAMES.x}" and "${CRITIC_NAMES.label}" (the generator is conditional)` : `"${CRITIC_NAMES.x}" alone (the generator is unconditional)`);
  }
  const scoreOut = (crit.output ?? []).map(spec).find((o) => o.name === CRITIC_NAMES.score);
  if (!scoreOut) throw new InvalidArgumentError('critic.outputs', (crit.output ?? []).map((o) => o.name), `an output named "${CRITIC_NAMES.score}"`);

  const g = new GraphBuilder(opts.graphName ?? 'refine');
  for (const input of genInputs) g.input(input);
  const sampleName = genOutputs[0].name;
  g.reserve(REFINE_NAMES.score);
  g.reserve(REFINE_NAMES.gradZ);
  g.reserve(sampleName);
  // The generator as it is (its names are already unique within it).
  for (const t of gen.initializer ?? []) g.reserve(t.name ?? '');
  for (const node of gen.node ?? []) {
    for (const o of node.output ?? []) if (o && o !== sampleName) g.reserve(o);
    if (node.name) g.reserve(node.name);
  }
  g.nodes.push(...(gen.node ?? []));
  g.initializers.push(...(gen.initializer ?? []));

  // The critic, renamed under critic/ and pruned to what `score` needs.
  const rename = new Map<string, string>([[CRITIC_NAMES.x, sampleName]]);
  if (critLabel) {
    const label = labels[0];
    if (label.elemType === critLabel.elemType) rename.set(CRITIC_NAMES.label, label.name);
    else rename.set(CRITIC_NAMES.label, g.node('Cast', [label.name], { to: critLabel.elemType }, ['critic/label'])[0]);
  }
  const renamed = (n: string): string => {
    if (!n) return n;
    let r = rename.get(n);
    if (!r) {
      r = g.unique(`critic/${n}`);
      rename.set(n, r);
    }
    return r;
  };
  const needed = new Set<string>([scoreOut.name]);
  const keep: NonNullable<Graph['node']> = [];
  for (const node of [...(crit.node ?? [])].reverse()) {
    if (!(node.output ?? []).some((o) => needed.has(o))) continue;
    keep.unshift(node);
    for (const i of node.input ?? []) if (i) needed.add(i);
  }
  for (const t of crit.initializer ?? []) if (needed.has(t.name ?? '')) g.initializers.push({ ...t, name: renamed(t.name ?? '') });
  // Node names live apart from tensor names: the critic's (unique within it) keep theirs under critic/.
  keep.forEach((node, k) => {
    g.nodes.push({ ...node, name: `critic/${node.name || `${node.opType}_${k}`}`, input: (node.input ?? []).map(renamed), output: (node.output ?? []).map(renamed) });
  });

  // score [batch] (the critic's is [batch, 1]).
  const criticScore = renamed(scoreOut.name);
  if (scoreOut.shape.length === 2 && scoreOut.shape[1] === 1) g.nodeTo('Reshape', [criticScore, g.int64Initializer('critic/score_shape', [-1])], {}, [REFINE_NAMES.score]);
  else if (scoreOut.shape.length === 1) g.nodeTo('Identity', [criticScore], {}, [REFINE_NAMES.score]);
  else throw new InvalidArgumentError(`critic.outputs.${CRITIC_NAMES.score}.shape`, scoreOut.shape, '[batch] or [batch, 1]');

  const z = latents[0];
  const grads = appendGradients(g, { of: REFINE_NAMES.score, wrt: [z.name] });
  g.nodeTo('Identity', [grads[z.name]], {}, [REFINE_NAMES.gradZ]);

  const outputs: ValueSpec[] = [
    genOutputs[0],
    { name: REFINE_NAMES.score, elemType: DataType.FLOAT, shape: [z.shape[0] ?? BATCH_DIM] },
    { name: REFINE_NAMES.gradZ, elemType: DataType.FLOAT, shape: z.shape },
  ];
  for (const o of outputs) g.output(o);
  const model = g.toModel({ opset, producerVersion: VERSION, docString: opts.docString ?? 'wganx refine: samples = G(z, y), score = critic(G(z, y), y), grad_z = ∂score/∂z (per sample)' });
  const toSpec = (v: ValueSpec): TensorSpec => ({ name: v.name, dtype: DTYPE_NAMES[v.elemType], shape: v.shape });
  return { model, bytes: encodeModel(model), inputs: genInputs.map(toSpec), outputs: outputs.map(toSpec) };
}

export interface GradientCheckOptions {
  samples?: number;
  seed?: number;
  numClasses?: number;
  relativeTolerance?: number;
}

export interface GradientCheck {
  /** Largest |grad_z − tf.grad| over the samples. */
  maxAbsDiff: number;
  /** The bound it had to meet: relativeTolerance × max |tf.grad| + GRADIENT_ABSOLUTE_FLOOR. */
  tolerance: number;
  /** Largest |tf.grad| (the bound's scale). */
  gradScale: number;
  /** Largest |score − critic(G(z, y), y) of tfjs|. */
  scoreMaxAbsDiff: number;
  /** Largest |score| of tfjs (the score check's scale). */
  scoreScale: number;
}

function largest(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** Which of the generator's inputs is the latent (the float one). */
function latentIndex(inputs: InputSpec[]): number {
  const i = inputs.findIndex((s) => s.role === 'latent');
  if (i < 0) throw new InvalidArgumentError('generator.inputs', inputs.map((s) => s.name), 'one latent input');
  return i;
}

/** tf.grad of critic(G(z, y), y) with respect to z, and the score, for one batch of tfjs inputs. */
function tfjsGradient(generator: tf.LayersModel, critic: tf.LayersModel, feeds: tf.Tensor[], zi: number): { grad: Float32Array; score: Float32Array } {
  const others = feeds.filter((_, i) => i !== zi);
  const score = (z: tf.Tensor): tf.Tensor => {
    const genIn = feeds.map((t, i) => (i === zi ? z : t));
    const x = generator.apply(genIn.length === 1 ? genIn[0] : genIn, { training: false }) as tf.Tensor;
    const out = critic.apply(others.length ? [x, ...others] : x, { training: false });
    return ((Array.isArray(out) ? out[0] : out) as tf.Tensor).reshape([-1]);
  };
  return tf.tidy(() => ({
    grad: tf.grad((z: tf.Tensor) => score(z).sum())(feeds[zi]).dataSync() as Float32Array,
    score: score(feeds[zi]).dataSync() as Float32Array,
  }));
}

/**
 * Run refine.onnx (onnxruntime-node, CPU) on a batch of random inputs and tfjs (`tf.grad` of
 * critic(G(z, y), y)) on each of its samples; report the largest gradient and score differences.
 */
export async function checkRefineGradient(generator: tf.LayersModel, critic: tf.LayersModel, bytes: Uint8Array, inputs: InputSpec[], opts: GradientCheckOptions = {}): Promise<GradientCheck> {
  const samples = opts.samples ?? GRADIENT_CHECK_SAMPLES;
  const zi = latentIndex(inputs);
  const feeds = makeParityInputs(generator, inputs, samples, opts.seed ?? GRADIENT_CHECK_SEED, opts.numClasses ?? 2);
  const gradRef: number[] = [];
  const scoreRef: number[] = [];
  try {
    for (let b = 0; b < samples; b++) {
      const row = feeds.tfjs.map((t) => t.slice([b], [1]));
      try {
        const { grad, score } = tfjsGradient(generator, critic, row, zi);
        gradRef.push(...grad);
        scoreRef.push(...score);
      } finally {
        row.forEach((t) => t.dispose());
      }
    }
  } finally {
    feeds.tfjs.forEach((t) => t.dispose());
  }
  const session = await createSession(bytes, { providers: ['cpu'], threads: 1 });
  let got;
  try {
    got = await session.run(feeds.onnx);
  } finally {
    await session.release();
  }
  const gradOnnx = got[REFINE_NAMES.gradZ].data as Float32Array;
  const scoreOnnx = got[REFINE_NAMES.score].data as Float32Array;
  if (!gradOnnx.every(Number.isFinite) || !gradRef.every(Number.isFinite)) {
    throw new ParityError(`refine.onnx: the gradient is not finite (onnxruntime ${gradOnnx.every(Number.isFinite) ? 'finite' : 'not finite'}, tf.grad ${gradRef.every(Number.isFinite) ? 'finite' : 'not finite'}); nothing was written`);
  }
  const rtol = opts.relativeTolerance ?? GRADIENT_RELATIVE_TOLERANCE;
  return {
    maxAbsDiff: maxAbsDiff(gradRef, gradOnnx),
    tolerance: rtol * largest(gradRef) + GRADIENT_ABSOLUTE_FLOOR,
    gradScale: largest(gradRef),
    scoreMaxAbsDiff: maxAbsDiff(scoreRef, scoreOnnx),
    scoreScale: largest(scoreRef),
  };
}

/**
 * The exporter's {@link RefineBuilder}: compose, then check ∂score/∂z against tf.grad (and the score
 * against tfjs); a check beyond its bound throws ParityError and nothing is written. A net with an op
 * the backward pass has no rule for gets no refine.onnx (null, logged), its critic.onnx all the same.
 */
export const buildRefineGraph: RefineBuilder = async ({ generator, critic, log }): Promise<RefineGraph | null> => {
  let composed: ComposedRefine;
  try {
    composed = composeRefineGraph(generator.graph.model, critic.graph.model);
  } catch (err) {
    // A net the backward pass cannot differentiate still ships its generator and critic.
    if (!(err instanceof UnsupportedGradientError)) throw err;
    log(`refine.onnx is not written: ${err.message}; critic.onnx is (refine methods that need the gradient will be refused for this model)`);
    return null;
  }
  const numClasses = embeddingClasses(generator.model) ?? 2;
  const check = await checkRefineGradient(generator.model, critic.model, composed.bytes, generator.graph.inputs, { numClasses });
  log(`refine gradient: max |onnxruntime − tf.grad| = ${check.maxAbsDiff.toExponential(2)} (tolerance ${check.tolerance.toExponential(2)}); score: ${check.scoreMaxAbsDiff.toExponential(2)}`);
  if (!(check.maxAbsDiff <= check.tolerance)) {
    throw new ParityError(`refine.onnx: ∂score/∂z differs from tf.grad by ${check.maxAbsDiff} (> tolerance ${check.tolerance}: ${GRADIENT_RELATIVE_TOLERANCE} × the largest gradient); nothing was written`);
  }
  const scoreBound = SCORE_RELATIVE_TOLERANCE * Math.max(1, check.scoreScale);
  if (!(check.scoreMaxAbsDiff <= scoreBound)) {
    throw new ParityError(`refine.onnx: score differs from the tfjs critic of the tfjs generator by ${check.scoreMaxAbsDiff} (> ${scoreBound}: ${SCORE_RELATIVE_TOLERANCE} × max(1, the largest score)); nothing was written`);
  }
  return { bytes: composed.bytes, outputs: composed.outputs, gradientCheck: { maxAbsDiff: check.maxAbsDiff, tolerance: check.tolerance } };
};
