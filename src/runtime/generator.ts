/**
 * A loaded generator: a manifest and a {@link Session}, on any platform. It builds the feeds the
 * one way every caller needs them (`z` float32 [rows, dim], the label int64/int32 [rows, 1] or
 * [rows]), and draws seeded samples with the core's one function for them (`seededSamples`:
 * latents from the counter-based sampler, classes from the label rule), the function the server
 * and `wganx augment` call too, so sample `i` of seed `s` is the same vector with the same class
 * on the server, in the browser and in an augmentation data set.
 *
 * A model that ships its critic (critic.onnx, refine.onnx) can also refine its samples by it
 * (`refine`: the method table of ./refine/index.ts, docs/refine.md); the critic's sessions open on
 * the first request that needs them, through the `open` the platform gives (./node.ts, ./web.ts).
 * Without `refine` (or with `none`), a sample is exactly what it always was.
 *
 * @example
 *   const g = await openGenerator('models/mnist-cgan');           // ./node.ts (or ./web.ts)
 *   const { data, dims, labels } = await g.sample({ seed: 7, n: 16, cls: 3 });
 *   const better = await g.sample({ seed: 7, n: 16, cls: 3, refine: { method: 'rank', k: 8 } });
 *   const walk = await g.interpolate(1, 2, 8);
 *   await g.dispose();
 */
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import type { ClassRef } from '../core/labels.js';
import type { LatentDistribution } from '../core/latent.js';
import type { Manifest } from '../core/manifest.js';
import { seededSamples, walkSamples, type SeededRequest } from '../core/seeded.js';
import type { DeviceChoice } from './devices.js';
import { criticIO, sessionGraphs, type SessionGraphs } from './refine/graphs.js';
import { checkRefineSupported, NO_REFINE, REFINE_METHODS, refineMethodsFor, resolveRefine, type RefineGraph, type RefineGraphs, type RefineMethodName, type RefineRequest, type RefineRows, type ResolvedRefine } from './refine/index.js';
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
    throw new InvalidArgumentError('labels', Array.from(labels), 'none: the model is not conditional');
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

/**
 * Samples `start … start+n−1` of `seed`, with classes given per sample, one for all, or by the
 * default rule; `refine` (default `none`) picks or moves each sample's latent by the critic.
 */
export interface SampleRequest extends SeededRequest {
  refine?: RefineRequest;
}

export interface SampleOutput extends GeneratorOutput {
  seed: number;
  start: number;
  /** The class of each sample (conditional models), else null. */
  labels: Int32Array | null;
  /** The refinement that ran, with every parameter (`none`: the raw samples). */
  refine: ResolvedRefine;
}

/** Opens a session on the model's critic.onnx or refine.onnx (the platform's: ./node.ts, ./web.ts). */
export type GraphOpener = (graph: RefineGraph) => Promise<Session>;

export class Generator<D extends string = string> {
  readonly io: GeneratorIO;
  /** Which of the critic's graphs this generator can open (files in the manifest, and an opener). */
  readonly graphs: RefineGraphs;
  private critic: SessionGraphs | null = null;

  constructor(
    readonly manifest: Manifest,
    private readonly session: Session,
    /** The device the session runs on and why faster ones were refused. */
    readonly choice: DeviceChoice<D>,
    /** Opens critic.onnx / refine.onnx when a refinement first needs them (none: no refinement). */
    private readonly open: GraphOpener | null = null,
  ) {
    this.io = generatorIO(manifest);
    const critic = manifest.critic;
    this.graphs = { critic: open !== null && critic !== null, refine: open !== null && critic?.refine != null };
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

  /** The refinement methods this model can run (`none` always; the others need its critic). */
  get refineMethods(): RefineMethodName[] {
    return refineMethodsFor(this.graphs);
  }

  /**
   * Samples `start … start+n−1` of `seed`, with their classes (given, or the core's default rule):
   * src/core/seeded.ts; refined by `req.refine` (./refine/index.ts). `computeMs` counts the
   * refinement too.
   */
  async sample(req: SampleRequest): Promise<SampleOutput> {
    const refine = this.checkRefine(req.refine);
    const { seed, start, z, labels } = seededSamples(this.manifest, req);
    if (refine.method === 'none') return { ...(await this.run(z, labels)), seed, start, labels, refine };
    const t0 = performance.now();
    const refined = await this.refineResolved({ seed, indices: counting(start, z.length / this.io.latent.dim), z, labels }, refine);
    const out = await this.run(refined, labels);
    return { ...out, computeMs: performance.now() - t0, seed, start, labels, refine };
  }

  /** A refinement request checked against the method table and this model's files (errors name `refine.…`). */
  checkRefine(req: RefineRequest | undefined, where = 'refine'): ResolvedRefine {
    const refine = resolveRefine(req, where);
    checkRefineSupported(refine, this.graphs, this.manifest.name, `${where}.method`);
    return refine;
  }

  /**
   * The refined latents of seeded rows (sample `indices[r]` of `seed`, latent row r of `z`, class
   * `labels[r]`): what `sample` runs the generator on. For callers that draw their own seeded rows
   * (an augmentation data set's chunks, the server's batches); `z` is not modified.
   */
  refineLatents(rows: RefineRows, req: RefineRequest): Promise<Float32Array> {
    return this.refineResolved(rows, this.checkRefine(req));
  }

  private async refineResolved(rows: RefineRows, refine: ResolvedRefine): Promise<Float32Array> {
    const n = rows.indices.length;
    if (rows.z.length !== n * this.io.latent.dim) throw new InvalidArgumentError('z.length', rows.z.length, `${n} rows of ${this.io.latent.dim} (one per index)`);
    if (refine.method === 'none') return rows.z.slice();
    return REFINE_METHODS[refine.method].run(rows, refine.params, this.criticGraphs());
  }

  /** The critic's graphs, set up on first use (their sessions open when a method first runs one). */
  private criticGraphs(): SessionGraphs {
    if (!this.critic) {
      this.critic = sessionGraphs({ manifest: this.manifest, io: this.io, critic: criticIO(this.manifest.critic!, this.io), run: (z, labels) => this.run(z, labels), open: this.open! });
    }
    return this.critic;
  }

  /** `steps` outputs on the straight line between the latents of samples 0 of `seedA` and `seedB`, all of one class. */
  async interpolate(seedA: number, seedB: number, steps: number, cls?: ClassRef): Promise<SampleOutput> {
    const { z, labels } = walkSamples(this.manifest, { seedA, seedB, steps, cls });
    return { ...(await this.run(z, labels)), seed: seedA, start: 0, labels, refine: NO_REFINE };
  }

  async dispose(): Promise<void> {
    const critic = this.critic;
    this.critic = null;
    try {
      await critic?.release();
    } finally {
      await this.session.release();
    }
  }
}

/** `start, start+1, …` (n numbers), as a request's sample indices. */
function counting(start: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = start + i;
  return out;
}
