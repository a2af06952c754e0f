/**
 * Parity verification: run the original tfjs model and the exported ONNX (the runtime's
 * onnxruntime-node session, CPU) on the same random inputs and report the largest absolute
 * difference per batch size.
 *
 * Inputs: latent-like float inputs get standard normals from the core's Philox sampler (seed
 * `seed`); label inputs get uniformly drawn class indices in [0, numClasses).
 */
import * as tf from '@tensorflow/tfjs';
import { sampleLatents, uniformAt } from '../core/latent.js';
import type { InputSpec } from '../core/manifest.js';
import { ParityError } from '../core/errors.js';
import { createSession } from '../runtime/node.js';
import type { TensorValue } from '../runtime/session.js';

export interface ParityOptions {
  batches: number[];
  seed: number;
  /** Number of classes for label inputs (the Embedding's inputDim). */
  numClasses?: number;
}

export interface ParityReport {
  /** Largest |tfjs − onnxruntime| over all outputs, keyed by batch size. */
  maxAbsDiff: Record<string, number>;
  /** Largest |tfjs output| over all outputs, keyed by batch size (the size float32 rounds relative to). */
  maxAbsOutput: Record<string, number>;
}

export interface ParityInputs {
  tfjs: tf.Tensor[];
  /** The same values as runtime feeds, by ONNX input name. */
  onnx: Record<string, TensorValue>;
}

/**
 * The random inputs alone, as ORT feeds (no tfjs model needed: comparing two ONNX files on the
 * parity check's inputs, ./optimize-folder.ts), and the raw values of each input in order.
 */
export function parityFeeds(specs: InputSpec[], batch: number, seed: number, numClasses = 2): { onnx: Record<string, TensorValue>; values: (number[] | Float32Array)[] } {
  const feeds: Record<string, TensorValue> = {};
  const values: (number[] | Float32Array)[] = [];
  specs.forEach((spec, i) => {
    const inner = spec.shape.slice(1).map(Number);
    const size = inner.reduce((a, b) => a * b, 1);
    const shape = [batch, ...inner];
    if (spec.role === 'label') {
      const labels = Array.from({ length: batch * size }, (_, k) => Math.min(numClasses - 1, Math.floor(uniformAt(seed, k, i) * numClasses)));
      values.push(labels);
      feeds[spec.name] = { dtype: 'int64', data: BigInt64Array.from(labels, (v) => BigInt(v)), dims: shape };
    } else {
      const data = sampleLatents({ seed: seed + i, start: 0, count: batch, dim: size });
      values.push(data);
      feeds[spec.name] = spec.dtype === 'int32' ? { dtype: 'int32', data: Int32Array.from(data, Math.round), dims: shape } : { dtype: 'float32', data, dims: shape };
    }
  });
  return { onnx: feeds, values };
}

/** The same random inputs, as tfjs tensors (in the model's input order) and as ORT feeds. */
export function makeParityInputs(model: tf.LayersModel, specs: InputSpec[], batch: number, seed: number, numClasses = 2): ParityInputs {
  const { onnx, values } = parityFeeds(specs, batch, seed, numClasses);
  const tfjs = specs.map((spec, i) => {
    const shape = [batch, ...spec.shape.slice(1).map(Number)];
    const dtype = spec.role === 'label' ? (model.inputs[i].dtype === 'int32' ? 'int32' : 'float32') : spec.dtype === 'int32' ? 'int32' : 'float32';
    return tf.tensor(values[i], shape, dtype);
  });
  return { tfjs, onnx };
}

function countNaN(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) n++;
  return n;
}

function countInfinite(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === Infinity || values[i] === -Infinity) n++;
  return n;
}

/** Largest absolute difference; a NaN on one side only counts as infinite. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (!(Number.isNaN(x) && Number.isNaN(y))) return Number.POSITIVE_INFINITY;
      continue;
    }
    const d = Math.abs(x - y);
    if (d > m) m = d;
  }
  return m;
}

/** Compare tfjs and onnxruntime on `bytes` for each batch size. */
export async function checkParity(model: tf.LayersModel, bytes: Uint8Array, inputs: InputSpec[], opts: ParityOptions): Promise<ParityReport> {
  const session = await createSession(bytes, { providers: ['cpu'], threads: 1 });
  const maxAbs: Record<string, number> = {};
  const maxOut: Record<string, number> = {};
  try {
    for (const batch of opts.batches) {
      const feeds = makeParityInputs(model, inputs, batch, opts.seed, opts.numClasses);
      try {
        const predicted = model.predict(feeds.tfjs.length === 1 ? feeds.tfjs[0] : feeds.tfjs);
        const expected = Array.isArray(predicted) ? predicted : [predicted];
        const got = await session.run(feeds.onnx);
        let worst = 0;
        let largest = 0;
        session.outputNames.forEach((name, i) => {
          const reference = expected[i].dataSync();
          const exported = got[name].data as Float32Array;
          // A model that outputs NaN fails, even where both sides agree on it.
          const [nanTfjs, nanOnnx] = [countNaN(reference), countNaN(exported)];
          if (nanTfjs + nanOnnx > 0) {
            expected.forEach((t) => t.dispose());
            throw new ParityError(`output "${name}" holds NaN at batch ${batch} (${nanTfjs} of ${reference.length} values in tfjs, ${nanOnnx} in onnxruntime); nothing was written`);
          }
          // Likewise an infinite one (Infinity − Infinity would pass as a NaN difference).
          const [infTfjs, infOnnx] = [countInfinite(reference), countInfinite(exported)];
          if (infTfjs + infOnnx > 0) {
            expected.forEach((t) => t.dispose());
            throw new ParityError(`the model's output "${name}" is infinite at batch ${batch} (${infTfjs} of ${reference.length} values in tfjs, ${infOnnx} in onnxruntime); nothing was written`);
          }
          worst = Math.max(worst, maxAbsDiff(reference, exported));
          for (let k = 0; k < reference.length; k++) largest = Math.max(largest, Math.abs(reference[k]));
        });
        expected.forEach((t) => t.dispose());
        maxAbs[String(batch)] = worst;
        maxOut[String(batch)] = largest;
      } finally {
        feeds.tfjs.forEach((t) => t.dispose());
      }
    }
  } finally {
    await session.release();
  }
  return { maxAbsDiff: maxAbs, maxAbsOutput: maxOut };
}
