/**
 * One validation schema (zod) per endpoint, built from the server's limits. A failed parse
 * becomes an {@link InvalidArgumentError} naming the field (dotted path), the value and what is
 * allowed, which the app answers with 400 and a JSON body.
 *
 * @example
 *   const s = requestSchemas({ maxSamples: 1024, maxSteps: 64, maxScale: 16 });
 *   const body = parseInput(s.samplesBody, req.body, 'body');   // throws InvalidArgumentError
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../../core/errors.js';
import { MAX_SAFE_COUNTER } from '../../core/latent.js';
import { allowedByIssue } from '../../core/schema-wording.js';
import { MODEL_NAME_PATTERN } from '../../core/manifest.js';
import { ANIMATION_FORMATS, IMAGE_FORMATS } from '../../encode/encode.js';

/** npy: the output tensor alone (float32); npz: images or points, labels and indices (numpy.load). */
export const SAMPLE_FORMATS = [...IMAGE_FORMATS, 'json', 'npy', 'npz'] as const;
export type SampleFormat = (typeof SAMPLE_FORMATS)[number];
export const LAYOUTS = ['grid', 'list'] as const;
/** png: a strip of frames; gif/webp: an animation; json: the frames' values. */
export const INTERPOLATE_FORMATS = ['png', ...ANIMATION_FORMATS, 'json'] as const;
export type InterpolateFormat = (typeof INTERPOLATE_FORMATS)[number];

/** Frame delay of animations, ms. */
export const DELAY_RANGE = [10, 10_000] as const;
export const DEFAULT_SAMPLES = 16;
/** Point models: enough samples that a plot shows the distribution. */
export const DEFAULT_POINTS = 1000;

/** Samples a request that names no `n` gets. */
export function defaultSampleCount(kind: 'image' | 'points', maxSamples: number): number {
  return Math.min(kind === 'points' ? DEFAULT_POINTS : DEFAULT_SAMPLES, maxSamples);
}
export const DEFAULT_STEPS = 8;
/** The `refine` field of a samples request. */
export const REFINE_HELP =
  'refine each sample by the model\'s critic (docs/refine.md): { "method": "none" | "rank" | "dot" | "ddls", …its parameters }; GET /v1/models lists the methods each model can run and the server\'s limits';
/** Largest number of tensors in one KServe request (a generator has at most two inputs). */
const MAX_TENSORS = 8;
/** Largest rank of a KServe tensor shape. */
const MAX_RANK = 8;
/** Longest string accepted in names and ids. */
const MAX_NAME = 256;

export interface SchemaLimits {
  maxSamples: number;
  maxSteps: number;
  maxScale: number;
}

function int(min: number, max: number) {
  const error = `an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** Query-string integers arrive as text: digits become numbers, anything else fails as a non-number. */
function queryInt(min: number, max: number) {
  return z.preprocess((v) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?(e[+-]?\d+)?\s*$/i.test(v) ? Number(v) : v), int(min, max));
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `one of ${values.join(', ')}` });
}

// Any integer: the model's own range (0 to numClasses − 1, with its names) is checked by classIndex,
// whose error lists both.
const CLASS_REF = 'a class index (integer) or a class name';
const classIndexSchema = z.number({ error: CLASS_REF }).int({ error: CLASS_REF }).min(-MAX_SAFE_COUNTER, { error: CLASS_REF }).max(MAX_SAFE_COUNTER, { error: CLASS_REF });
const classRef = z.union([classIndexSchema, z.string().min(1).max(MAX_NAME)], { error: CLASS_REF });

export const modelNameSchema = z
  .string()
  .max(64, { error: `a model name (${MODEL_NAME_PATTERN})` })
  .regex(MODEL_NAME_PATTERN, { error: `a model name (${MODEL_NAME_PATTERN})` });

export function requestSchemas(limits: SchemaLimits) {
  const n = int(1, limits.maxSamples);
  const seed = int(0, MAX_SAFE_COUNTER);
  const scale = int(1, limits.maxScale);
  const samplesBody = z.strictObject({
    n: n.optional().describe(`number of samples (default ${DEFAULT_SAMPLES} for image models, ${DEFAULT_POINTS} for point models, at most the server's limit)`),
    seed: seed.optional().describe('seed of the latent sampler; random (and returned) when left out'),
    start: seed.default(0).describe('index of the first sample: sample i of a seed is the same in every request'),
    labels: z.array(classRef, { error: 'an array of class indices or names' }).max(limits.maxSamples).optional().describe('one class per sample (conditional models)'),
    class: classRef.optional().describe('one class for every sample (conditional models)'),
    format: oneOf(SAMPLE_FORMATS).default('png').describe('png/webp/jpeg: a grid (or a scatter plot); json: one entry per sample; npy: the float32 output tensor, NHWC (or n × dim) in the manifest\'s output range, no labels; npz: a NumPy archive of images (or points), labels (int64, conditional models) and indices (int64)'),
    layout: oneOf(LAYOUTS).default('grid').describe('grid: one image; list: JSON with one entry per sample'),
    scale: scale.default(1).describe('integer upscaling factor of images (nearest neighbour)'),
    columns: int(1, limits.maxSamples).optional().describe('grid columns (default ⌈√n⌉)'),
    // Checked by the runtime's method table (src/serve/engine/refine.ts), whose errors name refine.<field>.
    refine: z.unknown().optional().describe(REFINE_HELP),
  });
  const samplesQuery = z.strictObject({
    n: queryInt(1, limits.maxSamples).optional(),
    seed: queryInt(0, MAX_SAFE_COUNTER).default(0),
    start: queryInt(0, MAX_SAFE_COUNTER).default(0),
    // Text: a class name when the model has one spelt so, else digits are an index (classFromText in src/core/labels.ts).
    class: z.string({ error: 'a class index or name' }).min(1, { error: 'a class index or name' }).max(MAX_NAME, { error: 'a class index or name' }).optional(),
    scale: queryInt(1, limits.maxScale).default(1),
    columns: queryInt(1, limits.maxSamples).optional(),
  });
  const interpolateBody = z.strictObject({
    seedA: seed.describe('seed of the first end point (its sample 0)'),
    seedB: seed.describe('seed of the last end point (its sample 0)'),
    steps: int(2, limits.maxSteps).default(DEFAULT_STEPS).describe('frames including both ends'),
    class: classRef.optional(),
    format: oneOf(INTERPOLATE_FORMATS).default('png').describe('png/… strip, gif/webp animation, or json'),
    scale: scale.default(1),
    delayMs: int(DELAY_RANGE[0], DELAY_RANGE[1]).default(100).describe('animation frame delay'),
    refine: z.unknown().optional().describe('not taken: only { "method": "none" } (a walk\'s frames are points on a line, not seeded samples; refine its ends with /samples)'),
  });
  const inferTensor = z.object({
    name: z.string({ error: 'a tensor name' }).min(1).max(MAX_NAME),
    shape: z.array(int(0, 1 << 30), { error: 'an array of non-negative integers' }).max(MAX_RANK, { error: `at most ${MAX_RANK} dimensions` }),
    datatype: z.string({ error: 'a KServe datatype such as FP32 or INT64' }).max(16),
    parameters: z.object({ binary_data_size: int(0, 1 << 30).optional() }).passthrough().optional(),
    data: z.unknown().optional(),
  });
  const inferRequest = z.object({
    id: z.string({ error: 'a string' }).max(MAX_NAME).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    inputs: z.array(inferTensor, { error: 'an array of input tensors' }).min(1, { error: 'at least one input tensor' }).max(MAX_TENSORS),
    outputs: z
      .array(z.object({ name: z.string().min(1).max(MAX_NAME), parameters: z.object({ binary_data: z.boolean({ error: 'true or false' }).optional() }).passthrough().optional() }))
      .max(MAX_TENSORS)
      .optional(),
  });
  return { samplesBody, samplesQuery, interpolateBody, inferRequest };
}

export type RequestSchemas = ReturnType<typeof requestSchemas>;
export type SamplesBody = z.infer<RequestSchemas['samplesBody']>;
export type SamplesQuery = z.infer<RequestSchemas['samplesQuery']>;
export type InterpolateBody = z.infer<RequestSchemas['interpolateBody']>;
export type InferRequest = z.infer<RequestSchemas['inferRequest']>;

/**
 * Parse or throw InvalidArgumentError naming `<where>.<path>`, the value and what is allowed;
 * `alsoKnown`: fields taken before the schema sees the input, listed with the schema's own.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string, alsoKnown: readonly string[] = []): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  let bad: unknown = value;
  for (const key of issue.path) bad = bad != null && typeof bad === 'object' ? (bad as Record<PropertyKey, unknown>)[key as PropertyKey] : undefined;
  let path = issue.path.map(String);
  let allowed = allowedByIssue(issue);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    path = [...path, key];
    bad = (bad as Record<string, unknown>)[key];
    const known = [...(schema instanceof z.ZodObject ? Object.keys(schema.shape) : []), ...alsoKnown].join(', ');
    allowed = `no field "${key}"; known fields: ${known}`;
  } else if (issue.code === 'invalid_type' && bad === undefined) {
    allowed = `${allowed} (required)`;
  }
  const field = [where, ...path].filter(Boolean).join('.');
  throw new InvalidArgumentError(field, bad, allowed);
}
