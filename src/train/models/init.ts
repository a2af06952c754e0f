/**
 * Seeded weight initialisation. tfjs's own initialisers draw from unseeded generators, so after
 * building a model we overwrite every weight from the run's `init` stream: the same seed then
 * gives the same starting networks on every run and machine.
 *
 * Rules (by weight name): `kernel` Glorot uniform; `gamma` and `moving_variance` ones; `bias`,
 * `beta` and `moving_mean` zeros (the Keras defaults). Label `embeddings` are *not* Keras's ±0.05:
 * an embedding multiplied into z (or concatenated with z or x) starts with unit variance, like
 * PyTorch's `nn.Embedding`, so that the label is as loud as the latent from the first step (with
 * ±0.05, `z ⊙ embed(y)` shrinks the generator's input twentyfold and the label is all but
 * ignored); the projection critic's embedding (`d_proj_…`) is Glorot uniform, as in Miyato &
 * Koyama's code.
 */
import * as tf from '@tensorflow/tfjs';
import { WganxError } from '../../core/errors.js';
import type { CounterRng } from '../../core/random.js';

/** Uniform on ±√3: zero mean, unit variance. */
const UNIT_VARIANCE_LIMIT = Math.sqrt(3);

/** (fanIn, fanOut) of a Dense `[in, out]` or Conv `[kh, kw, in, out]` kernel. */
function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 2) return [shape[0], shape[1]];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [receptive * shape[shape.length - 2], receptive * shape[shape.length - 1]];
}

function glorotUniform(shape: readonly number[], size: number, rng: CounterRng): Float32Array {
  const [fanIn, fanOut] = fans(shape);
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniform(size).map((u) => (2 * u - 1) * limit);
}

function initialValues(name: string, shape: readonly number[], rng: CounterRng): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const base = name.split('/').pop()!.replace(/_\d+$/, '');
  switch (base) {
    case 'kernel':
      return glorotUniform(shape, size, rng);
    case 'embeddings':
      if (name.includes('d_proj')) return glorotUniform(shape, size, rng);
      // Conditional batch norm (resnet): per-class scale starts at 1, shift at 0, as plain batch norm does.
      if (/_gamma\/embeddings$/.test(name)) return new Float32Array(size).fill(1);
      if (/_beta\/embeddings$/.test(name)) return new Float32Array(size);
      return rng.uniform(size).map((u) => (2 * u - 1) * UNIT_VARIANCE_LIMIT);
    case 'gamma':
    case 'moving_variance':
      return new Float32Array(size).fill(1);
    case 'bias':
    case 'beta':
    case 'moving_mean':
      return new Float32Array(size);
    default:
      throw new WganxError(`no seeded initialiser for weight "${name}"`);
  }
}

/** Overwrite every weight of `model` (in `model.weights` order) from `rng`. */
export function initWeights(model: tf.LayersModel, rng: CounterRng): void {
  const values = model.weights.map((w) => tf.tensor(initialValues(w.originalName, w.shape as number[], rng), w.shape as number[]));
  model.setWeights(values);
  tf.dispose(values);
}
