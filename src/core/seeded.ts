/**
 * The one function that turns a seeded request — samples `start … start+n−1` of `seed`, with
 * classes given per sample, one for all, or neither — into what a generator runs on: the latents
 * (the counter-based sampler of ./latent.ts) and one class per sample (the rule of ./labels.ts).
 * Every path calls it: the runtime's `Generator.sample` (so the browser page, `wganx eval` and the
 * library), the server (its routes for the classes, its session or latent threads for the latents
 * of each batch's rows), and `wganx augment` (local and `--remote`). Sample `i` of seed `s` is
 * therefore the same vector with the same class wherever it is drawn.
 *
 * The request is checked at once (errors name `<where>.<field>`); the latents and the default
 * classes are drawn when first read, so a caller that needs only one of them (the server's route
 * needs the classes, its worker threads only the latents) pays for that one alone.
 *
 * @example
 *   const s = seededSamples(manifest, { seed: 7, start: 0, n: 16 });
 *   s.z        // Float32Array [16, dim]: samples 0…15 of seed 7
 *   s.labels   // Int32Array(16) of default classes (conditional models), else null
 *   seededSamples(manifest, { seed: 7, start: 5, n: 1 }).z // equals s.z.subarray(5 * dim, 6 * dim)
 */
import { InvalidArgumentError } from './errors.js';
import { defaultLabels, resolveLabels, type ClassRef } from './labels.js';
import { interpolateLatents, MAX_SAFE_COUNTER, sampleLatents } from './latent.js';
import type { Manifest } from './manifest.js';

/** What the function needs of a model: its name (for errors), its latent and its classes. */
export type SamplingModel = Pick<Manifest, 'name' | 'latent' | 'conditional'>;

export interface SeededRequest {
  /** Non-negative integer seed. */
  seed: number;
  /** Index of the first sample (default 0): sample i of a seed is the same in every request. */
  start?: number;
  /** Number of consecutive samples (≥ 1). */
  n: number;
  /** One class per sample (index or name). */
  labels?: ArrayLike<ClassRef>;
  /** One class for every sample. */
  cls?: ClassRef;
}

/** The latents and classes of a {@link SeededRequest}. */
export interface SeededSamples {
  readonly seed: number;
  readonly start: number;
  readonly n: number;
  /** Latents, row-major float32 [n, latent dim]; drawn on first read. */
  readonly z: Float32Array;
  /** The class of each sample (given, one for all, or the default rule), or null for an unconditional model. */
  readonly labels: Int32Array | null;
}

/**
 * The latents and classes of samples `start … start+n−1` of `seed` for `model`. Throws
 * {@link InvalidArgumentError} naming `<where>.seed`, `.start`, `.n`, `.labels…` or `.class`.
 */
export function seededSamples(model: SamplingModel, req: SeededRequest, where = ''): SeededSamples {
  const at = (field: string) => (where ? `${where}.${field}` : field);
  const { seed, n } = req;
  const start = req.start ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError(at('seed'), seed, `an integer in [0, ${MAX_SAFE_COUNTER}]`);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(at('n'), n, 'a positive integer');
  if (!Number.isSafeInteger(start) || start < 0 || start + n > MAX_SAFE_COUNTER) {
    throw new InvalidArgumentError(at('start'), start, `an integer from 0 to ${MAX_SAFE_COUNTER - n} (start + n must stay exact)`);
  }
  const c = model.conditional;
  // Given classes (or a refusal of them) are checked now; the default rule's are drawn when read.
  const given = !c || req.labels !== undefined || req.cls !== undefined;
  let labels: Int32Array | null | undefined = given ? resolveLabels(model, { n, seed, start, labels: req.labels, cls: req.cls }, where) : undefined;
  let z: Float32Array | undefined;
  const { dim, distribution } = model.latent;
  return {
    seed,
    start,
    n,
    get z() {
      return (z ??= sampleLatents({ seed, start, count: n, dim, distribution }));
    },
    get labels() {
      return labels === undefined ? (labels = defaultLabels(seed, start, n, c!.numClasses)) : labels;
    },
  };
}

export interface WalkRequest {
  seedA: number;
  seedB: number;
  /** Points on the line, both ends included (≥ 2). */
  steps: number;
  /** One class for every point (default: the class of sample 0 of `seedA`). */
  cls?: ClassRef;
}

/**
 * The latents and classes of a latent walk: `steps` points on the straight line from sample 0 of
 * `seedA` to sample 0 of `seedB` (./latent.ts's `interpolateLatents`), all of one class: the one
 * given, else sample 0 of `seedA`'s. Used by the runtime's `Generator.interpolate` and the server's
 * interpolate route.
 */
export function walkSamples(model: SamplingModel, req: WalkRequest, where = ''): { z: Float32Array; labels: Int32Array | null } {
  const { seedA, seedB, steps } = req;
  const z = interpolateLatents(seedA, seedB, steps, model.latent.dim, model.latent.distribution);
  const one = resolveLabels(model, { n: 1, seed: seedA, start: 0, cls: req.cls }, where);
  return { z, labels: one ? new Int32Array(steps).fill(one[0]) : null };
}
