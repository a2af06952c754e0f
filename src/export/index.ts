/**
 * The tfjs → ONNX exporter: convert a generator, verify it against tfjs, and write
 * `<outDir>/generator.onnx` with `<outDir>/manifest.json` (and optionally the trained critic as
 * `critic.onnx` with its refinement graph `refine.onnx` (./critic.ts), a float16 variant and a
 * Triton repository entry).
 *
 * @example
 *   const { manifest } = await exportModel(generator, 'models/ring', { name: 'ring', kind: 'points' });
 *   manifest.export.parity.maxAbsDiff // { '1': 1.2e-7, '64': 2.4e-7 }
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { InvalidArgumentError, ParityError } from '../core/errors.js';
import { CRITIC_FILE, InputSpec, MANIFEST_FILE, MANIFEST_SCHEMA_VERSION, MODEL_NAME_PATTERN, Manifest, ModelKind, REFINE_FILE, TrainingProvenance, parseManifest } from '../core/manifest.js';
import type { LatentDistribution } from '../core/latent.js';
import { rm } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomic-write.js';
import { VERSION } from '../version.js';
import { DEFAULT_OPSET, convertLayersModel } from './convert.js';
import { exportCritic, type CriticExport, type RefineBuilder, type RefineGraph } from './critic.js';
import { toFloat16Weights } from './fp16.js';
import { embedManifest } from './metadata.js';
import { checkParity, makeParityInputs } from './parity.js';
import { checkModelFolder, sameGraphCreatedAt } from './overwrite.js';
import { writeTritonRepository } from './triton.js';
import { embeddingClasses } from './layers.js';

export { convertLayersModel, DEFAULT_OPSET, MIN_OPSET, MAX_OPSET } from './convert.js';
export { SUPPORTED_LAYERS, SUPPORTED_ACTIVATIONS } from './layers.js';
export { checkParity, maxAbsDiff } from './parity.js';
export { tritonConfig, writeTritonRepository } from './triton.js';
export { readOnnxManifest } from './metadata.js';
export { buildRefineGraph, checkRefineGradient, composeRefineGraph, REFINE_NAMES } from './refine-graph.js';
export { appendGradients, SUPPORTED_GRADIENT_OPS, UnsupportedGradientError } from './backward.js';
export { convertCritic, exportCritic, type CriticExport, type CriticGraph, type RefineBuilder, type RefineGraph, type RefineRequest } from './critic.js';
export { checkModelFolder, ModelFolderTaken, sameTrainingRun, type FolderWrite } from './overwrite.js';

export { MANIFEST_FILE, CRITIC_FILE, REFINE_FILE };
export const ONNX_FILE = 'generator.onnx';
export const ONNX_FP16_FILE = 'generator.fp16.onnx';
export const DEFAULT_TOLERANCE = 1e-4;
/** Batch sizes of the parity check. */
export const PARITY_BATCHES = [1, 64];
const PARITY_SEED = 20170126; // arbitrary but fixed: the figures in a manifest can be reproduced
/** The fp16 variant only rounds weights; it is checked against a looser bound. */
const FP16_TOLERANCE = 0.05;

export interface ExportOptions {
  name: string;
  opset?: number;
  kind?: ModelKind | 'auto';
  labels?: string[];
  latentDistribution?: LatentDistribution;
  outputRange?: [number, number];
  /** Point models of a mixture: the mode centres and σ, recorded in the manifest for plots. */
  outputModes?: { centres: [number, number][]; sigma: number } | null;
  tolerance?: number;
  fp16?: boolean;
  tritonDir?: string;
  training?: TrainingProvenance | null;
  description?: string;
  version?: string;
  /**
   * Replace a model folder that holds a different model (another graph and another training
   * command; see ./overwrite.ts). Default false: such a folder is refused with ModelFolderTaken
   * and nothing is written.
   */
  force?: boolean;
  /** Called with progress messages (the CLI prints them). */
  log?: (message: string) => void;
  /**
   * The trained critic, in the generator's output coordinates (./critic.ts): written as
   * `critic.onnx` after its own parity check, and described under the manifest's `critic`. With
   * `refine`, that builder's `refine.onnx` too. Absent: neither file (an earlier export's are removed).
   */
  critic?: { model: tf.LayersModel; refine?: RefineBuilder } | null;
}

export interface ExportResult {
  manifest: Manifest;
  onnxPath: string;
  manifestPath: string;
  fp16Path?: string;
  tritonPath?: string;
  criticPath?: string;
  refinePath?: string;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function product(dims: (number | string)[]): number {
  return dims.reduce<number>((a, d) => a * Number(d), 1);
}

export async function exportModel(model: tf.LayersModel, outDir: string, opts: ExportOptions): Promise<ExportResult> {
  const log = opts.log ?? (() => {});
  if (!MODEL_NAME_PATTERN.test(opts.name)) {
    throw new InvalidArgumentError('name', opts.name, `a model name matching ${MODEL_NAME_PATTERN} (lower-case letters, digits, . _ -)`);
  }
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE;
  if (!(tolerance > 0)) throw new InvalidArgumentError('tolerance', tolerance, 'a positive number');
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (model.outputs.length !== 1) throw new InvalidArgumentError('model.outputs', model.outputs.length, 'a generator with exactly one output');

  const outShape = model.outputs[0].shape;
  const kind: ModelKind = opts.kind && opts.kind !== 'auto' ? opts.kind : outShape.length === 4 ? 'image' : 'points';
  if (kind === 'image' && outShape.length !== 4) throw new InvalidArgumentError('--kind', kind, `"points" for a model whose output has shape ${JSON.stringify(outShape)}`);
  if (kind === 'points' && outShape.length !== 2) throw new InvalidArgumentError('--kind', kind, `"image" for a model whose output has shape ${JSON.stringify(outShape)}`);

  log(`converting ${model.name} (${model.layers.length} layers) to ONNX opset ${opset}`);
  const converted = convertLayersModel(model, { opset, outputNames: ['samples'], graphName: opts.name });
  // Before the parity check's runs: a folder holding another model is refused at once.
  await checkModelFolder(outDir, { graph: converted.bytes, training: opts.training ?? null, force: opts.force });
  const numClasses = embeddingClasses(model);
  const hasLabel = converted.inputs.some((i) => i.role === 'label');
  if (hasLabel && numClasses == null) throw new InvalidArgumentError('model', model.name, 'a label input that feeds an Embedding layer');
  const labels = hasLabel ? (opts.labels ?? Array.from({ length: numClasses! }, (_, i) => String(i))) : null;
  if (labels && labels.length !== numClasses) throw new InvalidArgumentError('--labels', labels, `${numClasses} class names (the Embedding's inputDim)`);
  if (labels && new Set(labels).size !== labels.length) throw new InvalidArgumentError('--labels', labels, `${numClasses} class names that differ (a name picks one class)`);
  const latent = converted.inputs.find((i) => i.role === 'latent');
  if (!latent) throw new InvalidArgumentError('model.inputs', converted.inputs.map((i) => i.name), 'one float latent input');

  log(`checking parity with tfjs (${tf.getBackend()} backend) at batch ${PARITY_BATCHES.join(' and ')}`);
  const parity = await checkParity(model, converted.bytes, converted.inputs, { batches: PARITY_BATCHES, seed: PARITY_SEED, numClasses: numClasses ?? 2 });
  const worst = Math.max(...Object.values(parity.maxAbsDiff));
  log(`parity: max |tfjs − onnxruntime| = ${Object.entries(parity.maxAbsDiff).map(([b, d]) => `${d.toExponential(2)} at batch ${b}`).join(', ')} (tolerance ${tolerance})`);
  if (!(worst <= tolerance)) {
    throw new ParityError(`exported ONNX differs from the tfjs model by ${worst} (> tolerance ${tolerance}) — per batch: ${JSON.stringify(parity.maxAbsDiff)}; nothing was written`);
  }

  const critic = opts.critic ? await exportModelCritic(opts.critic.model, model, { opset, tolerance, numClasses, log }) : null;
  let refine: RefineGraph | null = null;
  if (critic && opts.critic?.refine) {
    log('building the refinement graph (the critic\'s score of G(z, y) and its gradient with respect to z)');
    refine = await opts.critic.refine({ generator: { model, graph: converted }, critic: { model: opts.critic.model, graph: critic.graph }, opset, log });
  }

  const outputRange = opts.outputRange ?? (kind === 'image' ? [-1, 1] : pointRange(model, converted.inputs, numClasses ?? 2));
  const manifestInput = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name: opts.name,
    version: opts.version ?? '1',
    kind,
    description: opts.description ?? '',
    latent: { dim: product(latent.shape.slice(1)), distribution: opts.latentDistribution ?? 'normal' },
    conditional: labels ? { numClasses: labels.length, labels } : null,
    inputs: converted.inputs,
    outputs: converted.outputs,
    output: { layout: kind === 'image' ? 'NHWC' : 'NC', range: outputRange, modes: kind === 'points' ? (opts.outputModes ?? null) : null },
    training: opts.training ?? null,
    export: {
      tool: `wganx@${VERSION}`,
      opset,
      createdAt: (await sameGraphCreatedAt(outDir, converted.bytes)) ?? new Date().toISOString(),
      file: ONNX_FILE,
      sha256: null,
      parity: { maxAbsDiff: parity.maxAbsDiff, tolerance, inputsSeed: PARITY_SEED },
      fp16: null as null | { file: string; sha256: string | null; maxAbsDiff: number },
    },
    critic: critic ? { ...critic.entry, refine: refine ? { file: REFINE_FILE, sha256: null, outputs: refine.outputs, gradientCheck: refine.gradientCheck } : null } : null,
  };

  let fp16Bytes: Uint8Array | undefined;
  if (opts.fp16) {
    const candidate = toFloat16Weights(converted.model);
    const fp16Parity = await checkParity(model, candidate, converted.inputs, { batches: PARITY_BATCHES, seed: PARITY_SEED, numClasses: numClasses ?? 2 });
    const fp16Worst = Math.max(...Object.values(fp16Parity.maxAbsDiff));
    log(`fp16 variant: max |tfjs − onnxruntime| = ${fp16Worst.toExponential(2)}`);
    if (!(fp16Worst <= FP16_TOLERANCE)) throw new ParityError(`the float16 variant differs from the tfjs model by ${fp16Worst} (> ${FP16_TOLERANCE}); nothing was written`);
    manifestInput.export.fp16 = { file: ONNX_FP16_FILE, sha256: null, maxAbsDiff: fp16Worst };
    fp16Bytes = candidate;
  }

  // The file carries the manifest minus its own hash; manifest.json adds the hashes.
  const embedded = parseManifest(manifestInput, 'manifest');
  const onnxBytes = embedManifest(converted.bytes, embedded);
  const fp16Final = fp16Bytes ? embedManifest(fp16Bytes, embedded) : undefined;
  // The critic and refine files carry no manifest: their bytes depend on the weights alone.
  const criticBytes = critic?.graph.bytes;
  const refineBytes = refine?.bytes;
  const manifest = parseManifest({
    ...embedded,
    export: { ...embedded.export, sha256: sha256(onnxBytes), fp16: embedded.export.fp16 && fp16Final ? { ...embedded.export.fp16, sha256: sha256(fp16Final) } : null },
    critic: embedded.critic && criticBytes
      ? { ...embedded.critic, sha256: sha256(criticBytes), refine: embedded.critic.refine && refineBytes ? { ...embedded.critic.refine, sha256: sha256(refineBytes) } : null }
      : null,
  });

  // ONNX first, manifest last: a manifest on disk always describes the file beside it.
  const onnxPath = join(outDir, ONNX_FILE);
  const manifestPath = join(outDir, MANIFEST_FILE);
  await writeFileAtomic(onnxPath, onnxBytes);
  let fp16Path: string | undefined;
  if (fp16Final) {
    fp16Path = join(outDir, ONNX_FP16_FILE);
    await writeFileAtomic(fp16Path, fp16Final);
  }
  let criticPath: string | undefined;
  if (criticBytes) {
    criticPath = join(outDir, CRITIC_FILE);
    await writeFileAtomic(criticPath, criticBytes);
  }
  let refinePath: string | undefined;
  if (refineBytes) {
    refinePath = join(outDir, REFINE_FILE);
    await writeFileAtomic(refinePath, refineBytes);
  }
  await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  // Files of an earlier export which this manifest no longer describes.
  if (!fp16Final) await rm(join(outDir, ONNX_FP16_FILE), { force: true });
  if (!criticBytes) await rm(join(outDir, CRITIC_FILE), { force: true });
  if (!refineBytes) await rm(join(outDir, REFINE_FILE), { force: true });
  log(`wrote ${onnxPath} (${onnxBytes.length} bytes, sha256 ${manifest.export.sha256}) and ${manifestPath}`);
  if (criticPath) log(`wrote ${criticPath} (${criticBytes!.length} bytes, sha256 ${manifest.critic?.sha256})`);
  if (refinePath) log(`wrote ${refinePath} (${refineBytes!.length} bytes, sha256 ${manifest.critic?.refine?.sha256})`);
  let tritonPath: string | undefined;
  if (opts.tritonDir) {
    tritonPath = await writeTritonRepository(opts.tritonDir, manifest, onnxBytes);
    log(`wrote Triton model repository entry ${tritonPath}`);
  }
  return { manifest, onnxPath, manifestPath, fp16Path, tritonPath, criticPath, refinePath };
}

/**
 * The critic of `generator`, converted and checked (./critic.ts), after checking that it scores
 * what the generator outputs: `x` has the output's shape, and `label` is there exactly when the
 * generator has one, with the same number of classes.
 */
async function exportModelCritic(
  critic: tf.LayersModel,
  generator: tf.LayersModel,
  opts: { opset: number; tolerance: number; numClasses: number | null; log: (m: string) => void },
): Promise<CriticExport> {
  const sample = JSON.stringify(critic.inputs[0]?.shape.slice(1));
  const output = JSON.stringify(generator.outputs[0].shape.slice(1));
  if (sample !== output) throw new InvalidArgumentError('critic.inputs[0].shape', critic.inputs[0]?.shape, `[batch, ...${output}] (the generator's output)`);
  const criticClasses = embeddingClasses(critic);
  const conditional = critic.inputs.length === 2;
  if (conditional !== (opts.numClasses != null) || (conditional && criticClasses !== opts.numClasses)) {
    throw new InvalidArgumentError('critic', `${critic.inputs.length} inputs, ${criticClasses ?? 'no'} label classes`, opts.numClasses != null ? `a sample and a label input of ${opts.numClasses} classes, as the generator's` : 'a sample input alone, as the generator is unconditional');
  }
  opts.log(`converting the critic (${critic.layers.length} layers) and checking its parity with tfjs`);
  return exportCritic(critic, { opset: opts.opset, tolerance: opts.tolerance, numClasses: opts.numClasses ?? 2, seed: PARITY_SEED, batches: PARITY_BATCHES, log: opts.log });
}

/** Output range of a point generator: min/max over 1,024 samples, widened by 10% of the span. */
function pointRange(model: tf.LayersModel, inputs: InputSpec[], numClasses: number): [number, number] {
  const feeds = makeParityInputs(model, inputs, 1024, PARITY_SEED + 1, numClasses);
  const out = model.predict(feeds.tfjs.length === 1 ? feeds.tfjs[0] : feeds.tfjs) as tf.Tensor;
  const values = out.dataSync();
  feeds.tfjs.forEach((t) => t.dispose());
  out.dispose();
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const pad = 0.1 * (hi - lo || 1);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return [round(lo - pad), round(hi + pad)];
}
