/**
 * The trained critic as an ONNX graph (`critic.onnx` beside `generator.onnx`), for refining samples
 * at sampling time (issue 35). The critic is given in the generator's output coordinates (point
 * models: training's `--data-scale` already folded into its first Dense layer, see
 * src/train/export-generator.ts `exportableCritic`), so `critic.onnx` scores what `generator.onnx`
 * outputs.
 *
 * Names (src/core/manifest.ts `CRITIC_NAMES`): inputs `x` (the generator output's shape) and, for a
 * conditional model, `label` (int64 `[batch, 1]`, as the generator's); outputs `score` `[batch, 1]`
 * (the Wasserstein potential, higher = more real) and, with an AC head, `logits` `[batch, K]`.
 *
 * - {@link convertCritic}: tfjs critic → ONNX ModelProto in memory (no parity check, nothing written).
 * - {@link exportCritic}: the same plus the parity check against tfjs; what src/export's
 *   `exportModel` writes when it is given `critic`, and what a {@link RefineBuilder} receives.
 *
 * @example
 *   const critic = await exportCritic(criticModel, { opset: 17, tolerance: 1e-4, numClasses: 10 });
 *   critic.graph.model   // the ModelProto (graph.node, graph.initializer, …)
 *   critic.entry.parity  // { maxAbsDiff: { '1': …, '64': … }, tolerance, inputsSeed }
 */
import type * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError, ParityError } from '../core/errors.js';
import { CRITIC_FILE, CRITIC_NAMES, type CriticEntry, type InputSpec, type TensorSpec } from '../core/manifest.js';
import { convertLayersModel, DEFAULT_OPSET, type ConvertResult } from './convert.js';
import { checkParity } from './parity.js';

export interface CriticGraph {
  /** The ModelProto, without an embedded manifest (a refine builder may splice its graph). */
  model: ConvertResult['model'];
  /** `model` serialised. */
  bytes: Uint8Array;
  /** `x` (role "latent" here: a float input) and, conditional, `label` (role "label"). */
  inputs: InputSpec[];
  /** `score` and, with an AC head, `logits`. */
  outputs: TensorSpec[];
}

export interface ConvertCriticOptions {
  opset?: number;
  graphName?: string;
  /** metadata_props entries (e.g. the model's name). */
  metadata?: Record<string, string>;
}

/** The critic's graph with the names of the contract; refuses a model that does not look like a critic. */
export function convertCritic(critic: tf.LayersModel, opts: ConvertCriticOptions = {}): CriticGraph {
  const nIn = critic.inputs.length;
  if (nIn < 1 || nIn > 2) throw new InvalidArgumentError('critic.inputs', critic.inputs.map((t) => t.name), 'a sample input and, for a conditional critic, an integer label input');
  const nOut = critic.outputs.length;
  if (nOut < 1 || nOut > 2) throw new InvalidArgumentError('critic.outputs', critic.outputs.map((t) => t.name), 'a score and, with an AC head, class logits');
  const score = critic.outputs[0].shape;
  if (score.length !== 2 || score[1] !== 1) throw new InvalidArgumentError('critic.outputs[0].shape', score, '[batch, 1] (one score per sample)');
  // The exporter names the input feeding an Embedding "label"; the other is the sample.
  const inputNames = critic.inputs.map((t) => (t.dtype === 'int32' ? CRITIC_NAMES.label : CRITIC_NAMES.x));
  const outputNames = nOut === 2 ? [CRITIC_NAMES.score, CRITIC_NAMES.logits] : [CRITIC_NAMES.score];
  if (new Set(inputNames).size !== nIn || inputNames[0] !== CRITIC_NAMES.x) {
    throw new InvalidArgumentError('critic.inputs', critic.inputs.map((t) => `${t.name}:${t.dtype}`), 'a float sample input first and at most one int32 label input');
  }
  const converted = convertLayersModel(critic, {
    opset: opts.opset ?? DEFAULT_OPSET,
    graphName: opts.graphName ?? 'critic',
    inputNames,
    outputNames,
    metadata: opts.metadata,
    docString: 'wganx critic: score = the Wasserstein potential of x (higher = more real)',
  });
  const label = converted.inputs.find((i) => i.name === CRITIC_NAMES.label);
  if (label && label.role !== 'label') throw new InvalidArgumentError('critic.inputs', label.name, 'an integer label input that feeds an Embedding layer');
  return { model: converted.model, bytes: converted.bytes, inputs: converted.inputs, outputs: converted.outputs };
}

export interface ExportCriticOptions extends ConvertCriticOptions {
  /**
   * Largest allowed |tfjs − onnxruntime| relative to the outputs' size: the bound is
   * `tolerance · max(1, largest |tfjs output|)`. A generator's outputs lie in [-1, 1] (images) or
   * the data's range, but a critic's score is a potential with an arbitrary offset that training
   * lets drift (tens to thousands), and float32 rounds it relative to its size.
   */
  tolerance: number;
  /** Classes of the label input (the Embedding's inputDim); ignored when unconditional. */
  numClasses?: number;
  /** Batch sizes of the parity check (default 1 and 64, as the generator's). */
  batches?: number[];
  /** Seed of the parity inputs (recorded in the manifest). */
  seed: number;
  log?: (message: string) => void;
}

export interface CriticExport {
  graph: CriticGraph;
  /** The manifest's `critic` entry, sha256 null (known once the file's bytes are final) and refine null. */
  entry: CriticEntry;
}

/** Convert the critic and check it against tfjs; throws ParityError beyond the tolerance. Writes nothing. */
export async function exportCritic(critic: tf.LayersModel, opts: ExportCriticOptions): Promise<CriticExport> {
  const log = opts.log ?? (() => {});
  const graph = convertCritic(critic, opts);
  const batches = opts.batches ?? [1, 64];
  const parity = await checkParity(critic, graph.bytes, graph.inputs, { batches, seed: opts.seed, numClasses: opts.numClasses ?? 2 });
  const worst = Math.max(...Object.values(parity.maxAbsDiff));
  const size = Math.max(1, ...Object.values(parity.maxAbsOutput));
  const bound = opts.tolerance * size;
  log(`critic parity: max |tfjs − onnxruntime| = ${Object.entries(parity.maxAbsDiff).map(([b, d]) => `${d.toExponential(2)} at batch ${b}`).join(', ')} (bound ${bound.toExponential(2)}: tolerance ${opts.tolerance} × largest |output| ${size.toPrecision(3)})`);
  if (!(worst <= bound)) {
    throw new ParityError(`exported critic differs from the tfjs critic by ${worst} (> ${bound}: tolerance ${opts.tolerance} × largest |output| ${size}) — per batch: ${JSON.stringify(parity.maxAbsDiff)}; nothing was written`);
  }
  const spec = ({ name, dtype, shape }: TensorSpec): TensorSpec => ({ name, dtype, shape });
  const entry: CriticEntry = {
    file: CRITIC_FILE,
    sha256: null,
    inputs: graph.inputs.map(spec),
    outputs: graph.outputs.map(spec),
    // The bound the file met, in the units of maxAbsDiff.
    parity: { maxAbsDiff: parity.maxAbsDiff, tolerance: bound, inputsSeed: opts.seed },
    refine: null,
  };
  return { graph, entry };
}

/** What a {@link RefineBuilder} gets: both nets in tfjs (for tf.grad) and as ONNX graphs. */
export interface RefineRequest {
  generator: { model: tf.LayersModel; graph: ConvertResult };
  critic: { model: tf.LayersModel; graph: CriticGraph };
  opset: number;
  log: (message: string) => void;
}

/** What it returns: `refine.onnx`'s bytes (no embedded manifest), its outputs and its gradient check. */
export interface RefineGraph {
  bytes: Uint8Array;
  outputs: TensorSpec[];
  gradientCheck: { maxAbsDiff: number; tolerance: number };
}

/**
 * Builds `refine.onnx` from the generator's and the critic's graphs (src/export/refine-graph.ts).
 * `exportModel` calls it when given `critic.refine`, after both parity checks and before anything
 * is written; a throw writes nothing. null: the builder declines this model (it logs why, e.g. an
 * op without a gradient rule), and critic.onnx is written without refine.onnx.
 */
export type RefineBuilder = (request: RefineRequest) => Promise<RefineGraph | null>;
