/**
 * Seeded, checkpointable randomness for training.
 *
 * Every random number a training run uses (weight initialisation, data samples, latents, the
 * interpolation weights of the gradient penalty, labels) comes from a {@link CounterRng}: a
 * Philox4x32-10 stream (src/core/latent.ts) whose whole state is three integers. Saving
 * `state()` in a checkpoint and restoring it with {@link CounterRng.fromState} continues the
 * exact same sequence, which is what makes a resumed run bit-identical to an uninterrupted one.
 * Nothing in src/train may call `Math.random` or an unseeded `tf.random*`.
 *
 * @example
 *   const rng = new CounterRng(7, STREAMS.latent);
 *   const z = rng.normal(64 * 100);        // Float32Array, standard normal
 *   const saved = rng.state();             // { seed: 7, stream: 1, counter: 1600 }
 *   CounterRng.fromState(saved).normal(4)  // continues where rng is now
 */
import { philox4x32 } from './latent.js';
import { InvalidArgumentError } from './errors.js';

const TWO_POW_32 = 4294967296;
/** Fourth counter word, distinct from the ones src/core/latent.ts uses (0, 1, 2). */
const TRAIN_DOMAIN = 0x77676e78; // "wgnx"

/** One stream per use, so that changing e.g. the batch size of one use leaves the others alone. */
export const STREAMS = {
  init: 1,
  data: 2,
  latent: 3,
  penalty: 4,
  labels: 5,
  /** DiffAugment's parameters (`--diffaugment`); runs saved before it existed never drew from it. */
  augment: 6,
} as const;
export type StreamName = keyof typeof STREAMS;

export interface RngState {
  seed: number;
  stream: number;
  /** Philox blocks consumed so far (each block gives four 32-bit words). */
  counter: number;
}

export class CounterRng {
  private readonly words = new Uint32Array(4);
  private readonly ctr = new Uint32Array(4);

  constructor(
    readonly seed: number,
    readonly stream: number,
    private counter = 0,
  ) {
    for (const [field, v] of [['seed', seed], ['stream', stream], ['counter', counter]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError(field, v, 'a non-negative safe integer');
    }
  }

  static fromState(s: RngState): CounterRng {
    return new CounterRng(s.seed, s.stream, s.counter);
  }

  state(): RngState {
    return { seed: this.seed, stream: this.stream, counter: this.counter };
  }

  /** Next Philox block into `this.words`. */
  private block(): Uint32Array {
    const c = this.counter++;
    this.ctr[0] = c % TWO_POW_32;
    this.ctr[1] = Math.floor(c / TWO_POW_32);
    this.ctr[2] = this.stream;
    this.ctr[3] = TRAIN_DOMAIN;
    philox4x32(this.ctr, this.seed % TWO_POW_32, Math.floor(this.seed / TWO_POW_32), this.words);
    return this.words;
  }

  /** `n` uniforms in the open interval (0, 1); consumes ⌈n/4⌉ blocks. */
  uniform(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 4) {
      const w = this.block();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (w[j] + 0.5) / TWO_POW_32;
    }
    return out;
  }

  /** `n` standard normals (Box–Muller on pairs of words); consumes ⌈n/4⌉ blocks. */
  normal(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 4) {
      const w = this.block();
      for (let p = 0; p < 2; p++) {
        const u1 = (w[2 * p] + 0.5) / TWO_POW_32;
        const u2 = (w[2 * p + 1] + 0.5) / TWO_POW_32;
        const r = Math.sqrt(-2 * Math.log(u1));
        const t = 2 * Math.PI * u2;
        if (i + 2 * p < n) out[i + 2 * p] = r * Math.cos(t);
        if (i + 2 * p + 1 < n) out[i + 2 * p + 1] = r * Math.sin(t);
      }
    }
    return out;
  }

  /** `n` integers uniform in [0, max); consumes ⌈n/4⌉ blocks. */
  int(n: number, max: number): Int32Array {
    if (!Number.isSafeInteger(max) || max < 1 || max > TWO_POW_32) throw new InvalidArgumentError('max', max, 'an integer in [1, 2^32]');
    const out = new Int32Array(n);
    for (let i = 0; i < n; i += 4) {
      const w = this.block();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = Math.floor((w[j] / TWO_POW_32) * max);
    }
    return out;
  }
}

/** The run's streams, all keyed by the run seed. */
export type RunRngs = Record<StreamName, CounterRng>;

export function createRunRngs(seed: number): RunRngs {
  const out = {} as RunRngs;
  for (const name of Object.keys(STREAMS) as StreamName[]) out[name] = new CounterRng(seed, STREAMS[name]);
  return out;
}

export function rngStates(rngs: RunRngs): Record<StreamName, RngState> {
  const out = {} as Record<StreamName, RngState>;
  for (const name of Object.keys(rngs) as StreamName[]) out[name] = rngs[name].state();
  return out;
}

export function restoreRunRngs(states: Record<StreamName, RngState>): RunRngs {
  const out = {} as RunRngs;
  for (const name of Object.keys(STREAMS) as StreamName[]) {
    const s = states[name];
    // A stream added after the checkpoint was written was never drawn from: it starts afresh.
    if (!s && name === 'augment') {
      out[name] = new CounterRng(states.init.seed, STREAMS[name]);
      continue;
    }
    if (!s || s.stream !== STREAMS[name]) throw new InvalidArgumentError(`checkpoint.rng.${name}`, s, `a saved state of stream ${STREAMS[name]}`);
    out[name] = CounterRng.fromState(s);
  }
  return out;
}
