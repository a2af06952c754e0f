/**
 * The shipped MNIST evaluator, run with the runtime's onnxruntime-node session (src/runtime/node.ts).
 *
 * `models/mnist-evaluator/` holds `evaluator.onnx` (input `image` [batch,28,28,1] float32 in
 * [-1,1]; outputs `probabilities` [batch,10] and `features` [batch,128], the penultimate ReLU layer)
 * and `evaluator.json`, its description ({@link EvaluatorSpecSchema}): how it was trained, its
 * held-out accuracy and the reference Fréchet distance. It is deliberately not a `manifest.json`:
 * it is a classifier, not a generator, and the model registry must not serve it.
 *
 * @example
 *   const ev = await OnnxDigitClassifier.open('models/mnist-evaluator');
 *   const { probabilities, features } = await ev.classify(images, count); // images in [-1,1]
 *   await ev.close();
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { createSession } from '../runtime/node.js';
import { runtimeMessage, type Session, type TensorValue } from '../runtime/session.js';
import { DEFAULT_EVALUATOR_DIR } from './flags.js';

export const EVALUATOR_SPEC_FILE = 'evaluator.json';
export { DEFAULT_EVALUATOR_DIR };
/** Digits per onnxruntime call: large enough to amortise the call, small enough for little memory. */
const CLASSIFY_BATCH = 500;

const IoSpec = z.object({ name: z.string().min(1), dtype: z.string(), shape: z.array(z.union([z.number(), z.string()])) });

export const EvaluatorSpecSchema = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string().default(''),
  file: z.string().default('evaluator.onnx'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  opset: z.number().int(),
  inputs: z.array(IoSpec).length(1),
  outputs: z.array(IoSpec).length(2),
  input: z.object({ layout: z.literal('NHWC'), range: z.tuple([z.number(), z.number()]), height: z.number(), width: z.number(), channels: z.number() }),
  classes: z.array(z.string()),
  featureDim: z.number().int().positive(),
  architecture: z.string(),
  training: z.record(z.string(), z.unknown()),
  metrics: z.object({
    heldoutAccuracy: z.number(),
    heldoutPerClassAccuracy: z.array(z.number()),
    heldoutSamples: z.number().int(),
    /** FD(features of training digits, features of held-out digits) for a few sample sizes. */
    referenceFrechet: z.array(z.object({ trainSamples: z.number().int(), heldoutSamples: z.number().int(), distance: z.number() })),
  }),
  parity: z.object({ maxAbsDiff: z.record(z.string(), z.number()), tolerance: z.number() }),
});
export type EvaluatorSpec = z.infer<typeof EvaluatorSpecSchema>;

export interface Classification {
  /** [count, classes] softmax probabilities. */
  probabilities: Float32Array;
  /** [count, featureDim] penultimate-layer features. */
  features: Float32Array;
  count: number;
  classes: number;
  featureDim: number;
}

/** What the MNIST metrics need from an evaluator (the ONNX one, or a fake in tests). */
export interface DigitClassifier {
  readonly classes: number;
  readonly featureDim: number;
  /** Images [count, 28, 28, 1] in [-1, 1]. */
  classify(images: Float32Array, count: number): Promise<Classification>;
}

/** Read and validate `<dir>/evaluator.json`. */
export async function readEvaluatorSpec(dir: string): Promise<EvaluatorSpec> {
  const path = join(dir, EVALUATOR_SPEC_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError('--evaluator', dir, `a folder with a readable ${EVALUATOR_SPEC_FILE} (${(err as Error).message}); train one with \`wganx eval --train-evaluator\``);
  }
  const parsed = EvaluatorSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidArgumentError(`${path}: ${issue.path.join('.') || '(root)'}`, 'invalid', issue.message);
  }
  return parsed.data;
}

/** The ONNX evaluator in a runtime session (CPU provider). */
export class OnnxDigitClassifier implements DigitClassifier {
  readonly classes: number;
  readonly featureDim: number;

  private constructor(
    readonly spec: EvaluatorSpec,
    private readonly session: Session,
  ) {
    this.classes = spec.classes.length;
    this.featureDim = spec.featureDim;
  }

  /** Open `<dir>/evaluator.onnx`, checking its sha256 against evaluator.json. */
  static async open(dir: string = DEFAULT_EVALUATOR_DIR, opts: { threads?: number } = {}): Promise<OnnxDigitClassifier> {
    const spec = await readEvaluatorSpec(dir);
    const path = join(dir, spec.file);
    const bytes = await readFile(path);
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== spec.sha256) throw new InvalidArgumentError(`${path} sha256`, sha, `${spec.sha256} (from ${EVALUATOR_SPEC_FILE}); the file was changed`);
    return OnnxDigitClassifier.fromBytes(bytes, spec, opts);
  }

  /** A session on ONNX bytes described by `spec` (no file, no hash check: for a freshly trained evaluator). */
  static async fromBytes(bytes: Uint8Array, spec: EvaluatorSpec, opts: { threads?: number } = {}): Promise<OnnxDigitClassifier> {
    let session: Session;
    try {
      session = await createSession(bytes, { providers: ['cpu'], threads: opts.threads ?? 2 });
    } catch (err) {
      throw new WganxError(`mnist evaluator: onnxruntime could not load ${spec.file}: ${runtimeMessage(err)}`);
    }
    return new OnnxDigitClassifier(spec, session);
  }

  async classify(images: Float32Array, count: number): Promise<Classification> {
    const { height, width, channels } = this.spec.input;
    const pixels = height * width * channels;
    if (images.length !== count * pixels) throw new InvalidArgumentError('images.length', images.length, `count·${height}·${width}·${channels} = ${count * pixels}`);
    const [probName, featName] = this.spec.outputs.map((o) => o.name);
    const probabilities = new Float32Array(count * this.classes);
    const features = new Float32Array(count * this.featureDim);
    for (let start = 0; start < count; start += CLASSIFY_BATCH) {
      const n = Math.min(CLASSIFY_BATCH, count - start);
      const input: TensorValue = { dtype: 'float32', data: images.subarray(start * pixels, (start + n) * pixels), dims: [n, height, width, channels] };
      let out: Record<string, TensorValue>;
      try {
        out = await this.session.run({ [this.spec.inputs[0].name]: input });
      } catch (err) {
        throw new WganxError(`mnist evaluator: onnxruntime failed on input ${this.spec.inputs[0].name} [${n},${height},${width},${channels}]: ${runtimeMessage(err)}`);
      }
      probabilities.set(out[probName].data as Float32Array, start * this.classes);
      features.set(out[featName].data as Float32Array, start * this.featureDim);
    }
    return { probabilities, features, count, classes: this.classes, featureDim: this.featureDim };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Check a classifier's ONNX outputs against tfjs's on the same images: for each output, the
 * largest |tfjs − onnxruntime| must be within `tolerance`·(1 + the largest |tfjs value|). Records
 * each difference in `maxAbsDiff`; throws naming `what`, the output and the figures otherwise.
 */
export function checkClassifierParity(what: string, outputs: readonly (readonly [string, ArrayLike<number>, ArrayLike<number>])[], tolerance: number, maxAbsDiff: Record<string, number>): void {
  for (const [name, ref, got] of outputs) {
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(ref[i] - got[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    maxAbsDiff[name] = diff;
    if (!(diff <= tolerance * (1 + scale))) throw new WganxError(`${what}: ONNX output ${name} differs from tfjs by ${diff} (allowed ${tolerance}·(1 + ${scale.toFixed(3)})); nothing written`);
  }
}

/** Index of the largest probability of each row. */
export function argmaxRows(probabilities: Float32Array, classes: number): Int32Array {
  const n = probabilities.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probabilities[i * classes + c] > probabilities[i * classes + best]) best = c;
    out[i] = best;
  }
  return out;
}
