/**
 * Seeded weight initialisation. tfjs's own initialisers draw from unseeded generators, so after
 * building a model we overwrite every weight from the run's `init` stream: the same seed then
 * gives the same starting networks on every run and machine.
 *
 * Rules (the Keras defaults, by weight name): `kernel` Glorot uniform, `embeddings` uniform
 * ±0.05, `gamma` and `moving_variance` ones, `bias`, `beta` and `moving_mean` zeros.
 */
import * as tf from '@tensorflow/tfjs';
import { WganxError } from '../../core/errors.js';
import type { CounterRng } from '../random.js';

const EMBEDDING_INIT_LIMIT = 0.05;

/** (fanIn, fanOut) of a Dense `[in, out]` or Conv `[kh, kw, in, out]` kernel. */
function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 2) return [shape[0], shape[1]];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [receptive * shape[shape.length - 2], receptive * shape[shape.length - 1]];
}

function initialValues(name: string, shape: readonly number[], rng: CounterRng): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const base = name.split('/').pop()!.replace(/_\d+$/, '');
  switch (base) {
    case 'kernel': {
      const [fanIn, fanOut] = fans(shape);
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      return rng.uniform(size).map((u) => (2 * u - 1) * limit);
    }
    case 'embeddings':
      return rng.uniform(size).map((u) => (2 * u - 1) * EMBEDDING_INIT_LIMIT);
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
