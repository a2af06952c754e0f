/**
 * Counter-based latent sampling.
 *
 * Sample `i` of seed `s` is a pure function of `(s, i)`: it does not depend on the batch it is
 * computed in, on the machine, or on the JavaScript engine's own random generator. The server, the
 * browser page and the augmentation writer therefore produce the same latent vector for the same
 * `(seed, index)`, and a data set can be cut into shards that never overlap.
 *
 * The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC 2011), the counter-based generator behind JAX's and PyTorch's CUDA sampling, written with
 * 32-bit integer arithmetic only so that Node and browsers agree bit for bit. Key = seed (two
 * 32-bit words), counter = (index low, index high, block, stream). Each block gives four uniforms,
 * turned into four standard normals with the Box–Muller transform.
 *
 * @example
 *   const z = sampleLatents({ seed: 7, start: 0, count: 64, dim: 100 }); // Float32Array(6400)
 *   sampleLatents({ seed: 7, start: 5, count: 1, dim: 100 }) // equals z.subarray(500, 600)
 */
import { InvalidArgumentError } from './errors.js';

export const LATENT_DISTRIBUTIONS = ['normal', 'uniform'] as const;
export type LatentDistribution = (typeof LATENT_DISTRIBUTIONS)[number];

/** Largest seed or index accepted: integers must be exact in a float64. */
export const MAX_SAFE_COUNTER = Number.MAX_SAFE_INTEGER;

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;
const PHILOX_ROUNDS = 10;
const TWO_POW_32 = 4294967296;
const INV_TWO_POW_32 = 1 / TWO_POW_32;
/** 2π, as Box–Muller's `2 * Math.PI * u` has always evaluated it (left to right). */
const TWO_PI = 2 * Math.PI;
/** Stream ids (the counter's last word) keep the sequences of each use independent. */
const STREAM = { normal: 0, uniform: 1, choice: 2, rank: 3, langevin: 4 } as const;

/**
 * The noise streams of sampling refinement (src/runtime/refine): `rank`'s candidate perturbations
 * ε(seed, i, j) and the Langevin noise ξ(seed, i, step), each independent of the latents.
 */
export const NOISE_STREAMS = ['rank', 'langevin'] as const;
export type NoiseStream = (typeof NOISE_STREAMS)[number];
/** Largest `slot` of {@link noiseNormals} (it shares a counter word with the block: 16 bits each). */
export const MAX_NOISE_SLOT = 0xffff;
/** Largest dimension of {@link noiseNormals} (4 normals a block, 2^16 blocks). */
export const MAX_NOISE_DIM = 4 * 0x10000;

/** High 32 bits of the unsigned 64-bit product a·b (a, b unsigned 32-bit), in 16-bit halves. */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * Philox4x32-10 block function: encrypts the 128-bit counter `ctr` under the 64-bit key and
 * writes four 32-bit words to `out` (from `at`). Allocation-free: it runs once per four latents.
 */
export function philox4x32(ctr: ArrayLike<number>, key0: number, key1: number, out: Uint32Array, at = 0): void {
  let c0 = ctr[0] >>> 0;
  let c1 = ctr[1] >>> 0;
  let c2 = ctr[2] >>> 0;
  let c3 = ctr[3] >>> 0;
  let k0 = key0 >>> 0;
  let k1 = key1 >>> 0;
  for (let r = 0; r < PHILOX_ROUNDS; r++) {
    const hi0 = mulhi(PHILOX_M0, c0);
    const lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi(PHILOX_M1, c2);
    const lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  out[at] = c0;
  out[at + 1] = c1;
  out[at + 2] = c2;
  out[at + 3] = c3;
}

function checkCounter(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(field, value, `an integer in [0, ${MAX_SAFE_COUNTER}]`);
  }
}

/** Uniform in the open interval (0, 1) from a 32-bit word: never 0, so log() is safe. (× 2^-32 is exactly ÷ 2^32.) */
function toUnit(word: number): number {
  return (word + 0.5) * INV_TWO_POW_32;
}

/** Box–Muller on (w0, w1) and (w2, w3) into `out[at …at+n−1]` (n ≤ 4); only the values that are kept are computed. */
function boxMuller(words: Uint32Array, n: number, out: Float32Array, at: number): void {
  const r0 = Math.sqrt(-2 * Math.log(toUnit(words[0])));
  const theta0 = TWO_PI * toUnit(words[1]);
  out[at] = r0 * Math.cos(theta0);
  if (n > 1) out[at + 1] = r0 * Math.sin(theta0);
  if (n > 2) {
    const r1 = Math.sqrt(-2 * Math.log(toUnit(words[2])));
    const theta1 = TWO_PI * toUnit(words[3]);
    out[at + 2] = r1 * Math.cos(theta1);
    if (n > 3) out[at + 3] = r1 * Math.sin(theta1);
  }
}

export interface LatentRequest {
  /** Non-negative integer seed. */
  seed: number;
  /** Index of the first sample. */
  start: number;
  /** Number of consecutive samples. */
  count: number;
  /** Latent dimension. */
  dim: number;
  /** `normal` (standard normal, default) or `uniform` (in [-1, 1)). */
  distribution?: LatentDistribution;
}

/**
 * Latent vectors for samples `start … start+count-1` of `seed`, row-major `[count, dim]`.
 * Deterministic and batch-independent (see module header).
 */
export function sampleLatents(req: LatentRequest): Float32Array {
  const { seed, start, count, dim } = req;
  const distribution = req.distribution ?? 'normal';
  checkCounter('seed', seed);
  checkCounter('start', start);
  if (!Number.isSafeInteger(count) || count < 0) throw new InvalidArgumentError('count', count, 'a non-negative integer');
  if (!Number.isSafeInteger(dim) || dim < 1) throw new InvalidArgumentError('dim', dim, 'a positive integer');
  if (!LATENT_DISTRIBUTIONS.includes(distribution)) {
    throw new InvalidArgumentError('distribution', distribution, `one of ${LATENT_DISTRIBUTIONS.join(', ')}`);
  }
  checkCounter('start + count', start + count);
  const key0 = seed % TWO_POW_32;
  const key1 = Math.floor(seed / TWO_POW_32);
  const stream = STREAM[distribution];
  const out = new Float32Array(count * dim);
  const ctr = new Uint32Array(4);
  const words = new Uint32Array(4);
  const blocks = Math.ceil(dim / 4);
  const normal = distribution === 'normal';
  for (let k = 0; k < count; k++) {
    const index = start + k;
    ctr[0] = index % TWO_POW_32;
    ctr[1] = Math.floor(index / TWO_POW_32);
    ctr[3] = stream;
    for (let b = 0, at = k * dim; b < blocks; b++, at += 4) {
      ctr[2] = b;
      philox4x32(ctr, key0, key1, words);
      const n = Math.min(4, dim - b * 4);
      if (normal) {
        boxMuller(words, n, out, at);
      } else {
        for (let j = 0; j < n; j++) out[at + j] = toUnit(words[j]) * 2 - 1;
      }
    }
  }
  return out;
}

/**
 * `dim` standard normals for `(seed, index, slot)` of a refinement noise stream, written to
 * `out[at …at+dim−1]`: a pure function of its arguments like the latents, but never equal to them
 * (another stream id in the counter). Counter = (index low, index high, slot·2^16 + block, stream).
 * Used by src/runtime/refine only: `rank`'s perturbation j of sample i, DDLS's noise of a step.
 */
export function noiseNormals(stream: NoiseStream, seed: number, index: number, slot: number, dim: number, out: Float32Array, at = 0): void {
  checkCounter('seed', seed);
  checkCounter('index', index);
  if (!NOISE_STREAMS.includes(stream)) throw new InvalidArgumentError('stream', stream, `one of ${NOISE_STREAMS.join(', ')}`);
  if (!Number.isSafeInteger(slot) || slot < 0 || slot > MAX_NOISE_SLOT) throw new InvalidArgumentError('slot', slot, `an integer in [0, ${MAX_NOISE_SLOT}]`);
  if (!Number.isSafeInteger(dim) || dim < 1 || dim > MAX_NOISE_DIM) throw new InvalidArgumentError('dim', dim, `an integer in [1, ${MAX_NOISE_DIM}]`);
  if (!(at >= 0 && at + dim <= out.length)) throw new InvalidArgumentError('at', at, `an offset with ${dim} values left in out (length ${out.length})`);
  const key0 = seed % TWO_POW_32;
  const key1 = Math.floor(seed / TWO_POW_32);
  const ctr = [index % TWO_POW_32, Math.floor(index / TWO_POW_32), 0, STREAM[stream]];
  const words = new Uint32Array(4);
  for (let b = 0; b * 4 < dim; b++) {
    ctr[2] = (slot * 0x10000 + b) >>> 0;
    philox4x32(ctr, key0, key1, words);
    boxMuller(words, Math.min(4, dim - b * 4), out, at + b * 4);
  }
}

/**
 * A uniform number in (0, 1) for `(seed, index, salt)`, independent of the latents: used where a
 * deterministic per-sample choice is needed (e.g. the class label of augmentation sample `i`).
 */
export function uniformAt(seed: number, index: number, salt = 0): number {
  checkCounter('seed', seed);
  checkCounter('index', index);
  checkCounter('salt', salt);
  const words = new Uint32Array(4);
  const ctr = [index % TWO_POW_32, Math.floor(index / TWO_POW_32), salt % TWO_POW_32, STREAM.choice];
  philox4x32(ctr, seed % TWO_POW_32, Math.floor(seed / TWO_POW_32), words);
  return toUnit(words[0]);
}

/**
 * Points on the straight line (linear interpolation) between the latents of `(seedA, 0)` and
 * `(seedB, 0)`, `steps` rows including both ends, row-major `[steps, dim]`.
 */
export function interpolateLatents(seedA: number, seedB: number, steps: number, dim: number, distribution: LatentDistribution = 'normal'): Float32Array {
  if (!Number.isSafeInteger(steps) || steps < 2) throw new InvalidArgumentError('steps', steps, 'an integer ≥ 2');
  const a = sampleLatents({ seed: seedA, start: 0, count: 1, dim, distribution });
  const b = sampleLatents({ seed: seedB, start: 0, count: 1, dim, distribution });
  const out = new Float32Array(steps * dim);
  for (let s = 0; s < steps; s++) {
    const t = s / (steps - 1);
    for (let j = 0; j < dim; j++) out[s * dim + j] = (1 - t) * a[j] + t * b[j];
  }
  return out;
}
