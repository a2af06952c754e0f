/**
 * A loaded generator: a manifest and a {@link Session}, on any platform. It builds the feeds the
 * one way every caller needs them (`z` float32 [rows, dim], the label int64/int32 [rows, 1] or
 * [rows]), and draws seeded samples with the core's one function for them (`seededSamples`:
 * latents from the counter-based sampler, classes from the label rule), the function the server
 * and `wganx augment` call too, so sample `i` of seed `s` is the same vector with the same class
 * on the server, in the browser and in an augmentation data set.
 *
 * @example
 *   const g = await openGenerator('models/mnist-cgan');           // ./node.ts (or ./web.ts)
 *   const { data, dims, labels } = await g.sample({ seed: 7, n: 16, cls: 3 });
 *   const walk = await g.interpolate(1, 2, 8);
 *   await g.dispose();
 */
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import type { ClassRef } from '../core/labels.js';
import type { LatentDistribution } from '../core/latent.js';
import type { Manifest } from '../core/manifest.js';
import { seededSamples, walkSamples, type SeededRequest } from '../core/seeded.js';
import type { DeviceChoice } from './devices.js';
import { runtimeMessage, type Session, type TensorValue } from './session.js';

/** The graph's inputs and output as the manifest names them. */
export interface GeneratorIO {
  latent: { name: string; dim: number; distribution: LatentDistribution };
  /** The class input of a conditional model: its integer type and rank ([rows, 1] or [rows]). */
  label: { name: string; dtype: 'int64' | 'int32'; rank: 1 | 2; numClasses: number } | null;
  output: { name: string };
}

/** The graph's inputs and output from a manifest; only float32 latents and outputs and integer labels run. */
export function generatorIO(manifest: Manifest): GeneratorIO {
  const latent = manifest.inputs.find((i) => i.role === 'latent')!;
  const label = manifest.inputs.find((i) => i.role === 'label') ?? null;
  if (latent.dtype !== 'float32') throw new InvalidArgumentError('manifest.inputs.latent.dtype', latent.dtype, 'float32');
  if (label && label.dtype !== 'int64' && label.dtype !== 'int32') throw new InvalidArgumentError('manifest.inputs.label.dtype', label.dtype, 'int64 or int32');
  const output = manifest.outputs[0];
  if (output.dtype !== 'float32') throw new InvalidArgumentError('manifest.outputs[0].dtype', output.dtype, 'float32 (serve the float32 file)');
  return {
    latent: { name: latent.name, dim: manifest.latent.dim, distribution: manifest.latent.distribution },
    label: label ? { name: label.name, dtype: label.dtype as 'int64' | 'int32', rank: label.shape.length === 1 ? 1 : 2, numClasses: manifest.conditional!.numClasses } : null,
    output: { name: output.name },
  };
}

/** The feeds of one run: `rows` latent rows and, for a conditional model, one class per row. */
export function generatorFeeds(io: GeneratorIO, z: Float32Array, labels: Int32Array | null): Record<string, TensorValue> {
  const { dim } = io.latent;
  const rows = z.length / dim;
  if (!Number.isInteger(rows) || rows < 1) throw new InvalidArgumentError('z.length', z.length, `a positive multiple of the latent dimension ${dim}`);
  const feeds: Record<string, TensorValue> = { [io.latent.name]: { dtype: 'float32', data: z, dims: [rows, dim] } };
  if (io.label) {
    const k = io.label.numClasses;
    if (!labels || labels.length !== rows) throw new InvalidArgumentError('labels', labels?.length ?? null, `${rows} class indices (one per row) for a conditional model`);
    for (let i = 0; i < rows; i++) {
      if (!(labels[i] >= 0 && labels[i] < k)) throw new InvalidArgumentError(`labels.${i}`, labels[i], `a class index from 0 to ${k - 1}`);
    }
    const dims = io.label.rank === 1 ? [rows] : [rows, 1];
    feeds[io.label.name] = io.label.dtype === 'int64' ? { dtype: 'int64', data: BigInt64Array.from(labels, (v) => BigInt(v)), dims } : { dtype: 'int32', data: Int32Array.from(labels), dims };
  } else if (labels) {
    throw new InvalidArgumentError('labels', `${labels.length} labels`, 'none: the model is not conditional');
  }
  return feeds;
}

export interface GeneratorOutput {
  /** Row-major outputs, `rows × rowSize` floats, in the manifest's output range and layout. */
  data: Float32Array;
  /** [rows, …row shape]. */
  dims: number[];
  /** Milliseconds the runtime's run() took. */
  computeMs: number;
}

/** Samples `start … start+n−1` of `seed`, with classes given per sample, one for all, or by the default rule. */
export type SampleRequest = SeededRequest;

export interface SampleOutput extends GeneratorOutput {
  seed: number;
  start: number;
  /** The class of each sample (conditional models), else null. */
  labels: Int32Array | null;
}

export class Generator<D extends string = string> {
  readonly io: GeneratorIO;

  constructor(
    readonly manifest: Manifest,
    private readonly session: Session,
    /** The device the session runs on and why faster ones were refused. */
    readonly choice: DeviceChoice<D>,
  ) {
    this.io = generatorIO(manifest);
    const missing = [this.io.latent.name, ...(this.io.label ? [this.io.label.name] : [])].filter((n) => !session.inputNames.includes(n));
    if (!session.outputNames.includes(this.io.output.name)) missing.push(this.io.output.name);
    if (missing.length > 0) {
      throw new WganxError(`the ONNX graph has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], the manifest names ${missing.map((m) => `"${m}"`).join(', ')} that it lacks`);
    }
  }

  get device(): D {
    return this.choice.device;
  }

  get refused() {
    return this.choice.refused;
  }

  /** Run the generator on latents `z` (float32 [rows, dim]) and, for a conditional model, one class per row. */
  async run(z: Float32Array, labels: Int32Array | null = null): Promise<GeneratorOutput> {
    const feeds = generatorFeeds(this.io, z, labels);
    const name = this.io.output.name;
    const t0 = performance.now();
    let out: Record<string, TensorValue>;
    try {
      out = await this.session.run(feeds, [name]);
    } catch (err) {
      const shapes = Object.entries(feeds).map(([n, t]) => `${n} ${t.dtype} [${t.dims.join(', ')}]`).join(', ');
      throw new WganxError(`model ${this.manifest.name}: the runtime failed on ${shapes}: ${runtimeMessage(err)}`);
    }
    const computeMs = performance.now() - t0;
    const tensor = out[name];
    if (tensor.dtype !== 'float32') throw new WganxError(`model ${this.manifest.name}: output "${name}" is ${tensor.dtype}, expected float32`);
    return { data: tensor.data as Float32Array, dims: [...tensor.dims], computeMs };
  }

  /** Samples `start … start+n−1` of `seed`, with their classes (given, or the core's default rule): src/core/seeded.ts. */
  async sample(req: SampleRequest): Promise<SampleOutput> {
    const { seed, start, z, labels } = seededSamples(this.manifest, req);
    return { ...(await this.run(z, labels)), seed, start, labels };
  }

  /** `steps` outputs on the straight line between the latents of samples 0 of `seedA` and `seedB`, all of one class. */
  async interpolate(seedA: number, seedB: number, steps: number, cls?: ClassRef): Promise<SampleOutput> {
    const { z, labels } = walkSamples(this.manifest, { seedA, seedB, steps, cls });
    return { ...(await this.run(z, labels)), seed: seedA, start: 0, labels };
  }

  dispose(): Promise<void> {
    return this.session.release();
  }
}
