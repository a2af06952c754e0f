/**
 * The model manifest: the one description of a generator that every module reads.
 *
 * It lives beside the ONNX file as `manifest.json` and, minus `export.sha256` (a file cannot hold
 * its own hash), inside the ONNX file's `metadata_props` under {@link MANIFEST_METADATA_KEY}, so a
 * bare `.onnx` is self-describing. Always read it through {@link parseManifest}.
 *
 * @example
 *   const manifest = parseManifest(JSON.parse(await readFile('models/ring/manifest.json', 'utf8')));
 *   manifest.latent.dim // 2 … 128
 */
import { z } from 'zod';
import { InvalidArgumentError } from './errors.js';
import { allowedByIssue } from './schema-wording.js';
import { LATENT_DISTRIBUTIONS } from './latent.js';

export const MANIFEST_SCHEMA_VERSION = 1;
/** The manifest's file name in a model folder, beside the ONNX file it names. */
export const MANIFEST_FILE = 'manifest.json';
/** Key of the manifest JSON in the ONNX file's metadata_props. */
export const MANIFEST_METADATA_KEY = 'wganx.manifest';

export const MODEL_KINDS = ['image', 'points'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export const TENSOR_DTYPES = ['float32', 'float16', 'int32', 'int64'] as const;
export type TensorDtype = (typeof TENSOR_DTYPES)[number];

/** Model names double as URL path segments and folder names: keep them plain. */
export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);
const dim = z.union([z.number().int().nonnegative(), z.string().min(1)]);

export const TensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(TENSOR_DTYPES),
  /** Dimensions; a string is a symbolic dimension (the batch is always `"batch"`). */
  shape: z.array(dim).min(1),
});
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

export const InputSpecSchema = TensorSpecSchema.extend({
  /** What the input carries: the latent vector `z` or the integer class label. */
  role: z.enum(['latent', 'label']),
});
export type InputSpec = z.infer<typeof InputSpecSchema>;

export const ParitySchema = z.object({
  /** Largest |tfjs − onnxruntime| over all outputs, per batch size tested. */
  maxAbsDiff: z.record(z.string(), z.number().nonnegative()),
  tolerance: z.number().positive(),
  inputsSeed: z.number().int().nonnegative(),
});
export type Parity = z.infer<typeof ParitySchema>;

export const TrainingProvenanceSchema = z
  .object({
    algorithm: z.string(),
    dataset: z.string(),
    steps: z.number().int().nonnegative(),
    hyperparameters: z.record(z.string(), z.unknown()),
    command: z.string(),
    backend: z.string(),
    durationSeconds: z.number().nonnegative(),
    metrics: z.record(z.string(), z.unknown()).default({}),
  })
  .passthrough();
export type TrainingProvenance = z.infer<typeof TrainingProvenanceSchema>;

export const ExportProvenanceSchema = z.object({
  tool: z.string(),
  opset: z.number().int().min(7),
  createdAt: z.string(),
  file: z.string().default('generator.onnx'),
  /** sha256 (hex) of the ONNX file; null inside the file itself. */
  sha256: Sha256Schema.nullable(),
  parity: ParitySchema,
  /** Optional float16 variant beside the float32 file. */
  fp16: z
    .object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(), maxAbsDiff: z.number().nonnegative() })
    .nullable()
    .default(null),
});
export type ExportProvenance = z.infer<typeof ExportProvenanceSchema>;

/** The trained critic's file in a model folder (optional: a folder without it works as before). */
export const CRITIC_FILE = 'critic.onnx';
/** The graph of the critic's score of G(z, y) and its gradient with respect to z (optional). */
export const REFINE_FILE = 'refine.onnx';
/** The critic's ONNX input and output names: `x` (a sample), `label` (conditional), `score`, `logits` (AC head). */
export const CRITIC_NAMES = { x: 'x', label: 'label', score: 'score', logits: 'logits' } as const;

export const RefineEntrySchema = z.object({
  file: z.string().default(REFINE_FILE),
  /** sha256 (hex) of the file; null inside the ONNX files' embedded manifest. */
  sha256: Sha256Schema.nullable(),
  /** The generator's output, `score` `[batch]` and `grad_z` `[batch, latent]`. */
  outputs: z.array(TensorSpecSchema).min(1),
  /** Largest |gradient − tf.grad's| on random inputs, and the bound it had to meet. */
  gradientCheck: z.object({ maxAbsDiff: z.number().nonnegative(), tolerance: z.number().positive() }),
});
export type RefineEntry = z.infer<typeof RefineEntrySchema>;

export const CriticEntrySchema = z.object({
  file: z.string().default(CRITIC_FILE),
  /** sha256 (hex) of the file; null inside the ONNX files' embedded manifest. */
  sha256: Sha256Schema.nullable(),
  /** `x` (the generator output's shape: images NHWC in [-1, 1], points in data coordinates) and, conditional, `label`. */
  inputs: z.array(TensorSpecSchema).min(1),
  /** `score` `[batch, 1]` (the Wasserstein potential: higher = more real) and, with an AC head, `logits` `[batch, K]`. */
  outputs: z.array(TensorSpecSchema).min(1),
  /** As the generator's; `tolerance` is the bound met: the export's tolerance × max(1, largest |output|). */
  parity: ParitySchema,
  refine: RefineEntrySchema.nullable().default(null),
});
export type CriticEntry = z.infer<typeof CriticEntrySchema>;

export const ManifestSchema = z
  .object({
    schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
    name: z.string().regex(MODEL_NAME_PATTERN),
    version: z.string().min(1),
    kind: z.enum(MODEL_KINDS),
    description: z.string().default(''),
    latent: z.object({
      dim: z.number().int().positive(),
      distribution: z.enum(LATENT_DISTRIBUTIONS),
    }),
    conditional: z
      .object({
        numClasses: z.number().int().min(2),
        labels: z.array(z.string()),
      })
      .refine((c) => c.labels.length === c.numClasses, { message: 'labels must have numClasses entries' })
      .refine((c) => new Set(c.labels).size === c.labels.length, { message: 'class names that differ (a name picks one class)', path: ['labels'] })
      .nullable(),
    inputs: z.array(InputSpecSchema).min(1),
    outputs: z.array(TensorSpecSchema).min(1),
    output: z.object({
      /** `NHWC` for images, `NC` for points (C = coordinates). */
      layout: z.enum(['NHWC', 'NC']),
      /**
       * Range of the generator's output: [-1, 1] for tanh images; for points, the data set's own
       * coordinates (point generators always output data coordinates, whatever scaling training
       * used inside), e.g. about [-1.1, 1.1] for the ring.
       */
      range: z.tuple([z.number(), z.number()]),
      /** Point models of a mixture: the data set's mode centres and their σ (plots draw them). */
      modes: z
        .object({ centres: z.array(z.tuple([z.number(), z.number()])), sigma: z.number().positive() })
        .nullable()
        .default(null),
    }),
    training: TrainingProvenanceSchema.nullable().default(null),
    export: ExportProvenanceSchema,
    /** The trained critic (`critic.onnx`), null for a model exported without it. */
    critic: CriticEntrySchema.nullable().default(null),
  })
  .superRefine((m, ctx) => {
    const latent = m.inputs.filter((i) => i.role === 'latent');
    const label = m.inputs.filter((i) => i.role === 'label');
    if (latent.length !== 1) ctx.addIssue({ code: 'custom', path: ['inputs'], message: 'exactly one input must have role "latent"' });
    if ((m.conditional === null) !== (label.length === 0)) {
      ctx.addIssue({ code: 'custom', path: ['inputs'], message: 'a conditional model has exactly one "label" input, an unconditional one none' });
    }
    if (m.kind === 'image' && m.output.layout !== 'NHWC') ctx.addIssue({ code: 'custom', path: ['output', 'layout'], message: 'image models use NHWC' });
    if (m.kind === 'points' && m.output.layout !== 'NC') ctx.addIssue({ code: 'custom', path: ['output', 'layout'], message: 'point models use NC' });
    if (m.critic) checkCritic(m.critic, m.conditional !== null, ctx);
  });

/** The critic's names: `x` first, then `label` exactly when the model is conditional; `score` first among the outputs. */
function checkCritic(critic: CriticEntry, conditional: boolean, ctx: z.RefinementCtx): void {
  const names = critic.inputs.map((i) => i.name);
  const expected = conditional ? [CRITIC_NAMES.x, CRITIC_NAMES.label] : [CRITIC_NAMES.x];
  if (names.join() !== expected.join()) ctx.addIssue({ code: 'custom', path: ['critic', 'inputs'], message: `the critic's inputs must be ${JSON.stringify(expected)}` });
  if (critic.outputs[0].name !== CRITIC_NAMES.score) ctx.addIssue({ code: 'custom', path: ['critic', 'outputs'], message: `the critic's first output must be "${CRITIC_NAMES.score}"` });
}
export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestInput = z.input<typeof ManifestSchema>;

/**
 * Validate an unknown value as a manifest. Throws {@link InvalidArgumentError} naming the first
 * bad field (as a dotted path), its value and the rule it breaks.
 */
export function parseManifest(value: unknown, source = 'manifest'): Manifest {
  const result = ManifestSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.map(String).join('.');
  const field = path ? `${source}.${path}` : source;
  let bad: unknown = value;
  for (const key of issue.path) bad = bad != null && typeof bad === 'object' ? (bad as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
  throw new InvalidArgumentError(field, bad, allowedByIssue(issue));
}

/** Image geometry `[height, width, channels]` of an image model's output. */
export function imageShape(manifest: Manifest): [number, number, number] {
  const shape = manifest.outputs[0].shape;
  const [, h, w, c] = shape;
  if (manifest.kind !== 'image' || shape.length !== 4 || ![h, w, c].every((d) => typeof d === 'number')) {
    throw new InvalidArgumentError('manifest.outputs[0].shape', shape, '[batch, height, width, channels] with fixed height, width and channels');
  }
  return [h as number, w as number, c as number];
}
