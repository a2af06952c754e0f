/**
 * {@link CriticGraphs} on ONNX Runtime sessions: the critic's score of `G(z, y)` through the
 * generator's session and critic.onnx, and the score with its gradient ∂score/∂z through
 * refine.onnx (the generator and critic composed with their reverse-mode graph: ONNX Runtime has no
 * autograd). Sessions are opened when a method first needs them (`open`), so a model that never
 * refines never loads its critic. Batches are cut into runs of at most {@link CRITIC_ROWS} /
 * {@link REFINE_ROWS} rows (rows are independent, so the cut changes no result).
 * Browser code: no `node:*` imports (the page opens its sessions with ../web.ts).
 *
 * @example
 *   const graphs = sessionGraphs({ manifest, io, critic: manifest.critic, run: (z, l) => g.run(z, l), open });
 *   const { score, grad } = await graphs.gradient(z, labels);
 */
import { InvalidArgumentError, WganxError } from '../../core/errors.js';
import type { Manifest, TensorSpec } from '../../core/manifest.js';
import { seededSamples } from '../../core/seeded.js';
import type { GeneratorIO, GeneratorOutput } from '../generator.js';
import { generatorFeeds } from '../generator.js';
import { runtimeMessage, type Session, type TensorValue } from '../session.js';
import type { CriticGraphs, RefineGraph, ScoreGradient } from './method.js';

/** Rows per generator + critic.onnx run. */
export const CRITIC_ROWS = 1024;
/** Rows per refine.onnx run (its backward pass keeps every activation of G and D). */
export const REFINE_ROWS = 256;
/**
 * Reference latents (samples 0…N−1 of seed 0) on which model constants such as DOT's K_eff are
 * measured: N/2 independent pairs (rows 2r and 2r + 1), each of one class (r mod classes).
 */
export const REFERENCE_SAMPLES = 1024;
export const REFERENCE_SEED = 0;

/** The critic part of a manifest (the contract of issue 35: critic.onnx and, optionally, refine.onnx). */
export interface CriticManifest {
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  refine: { outputs: readonly TensorSpec[] } | null;
}

/** The names the graphs are fed and read by. */
export interface CriticIO {
  critic: { x: string; label: { name: string; dtype: 'int64' | 'int32'; rank: 1 | 2 } | null; score: string };
  refine: { score: string; grad: string } | null;
}

/** The critic's and refine graph's names from the manifest; throws naming the field when a piece is missing. */
export function criticIO(critic: CriticManifest, io: GeneratorIO): CriticIO {
  const x = critic.inputs.find((i) => i.dtype === 'float32');
  const label = critic.inputs.find((i) => i.dtype === 'int64' || i.dtype === 'int32') ?? null;
  if (!x) throw new InvalidArgumentError('manifest.critic.inputs', critic.inputs.map((i) => i.name), 'a float32 input for the samples');
  if ((label === null) !== (io.label === null)) throw new InvalidArgumentError('manifest.critic.inputs', critic.inputs.map((i) => i.name), io.label ? 'a class input (the generator is conditional)' : 'no class input (the generator is not conditional)');
  const score = critic.outputs.find((o) => o.name === 'score');
  if (!score) throw new InvalidArgumentError('manifest.critic.outputs', critic.outputs.map((o) => o.name), 'an output named "score"');
  let refine: CriticIO['refine'] = null;
  if (critic.refine) {
    const names = critic.refine.outputs.map((o) => o.name);
    if (!names.includes('score') || !names.includes('grad_z')) throw new InvalidArgumentError('manifest.critic.refine.outputs', names, 'outputs "score" and "grad_z" (beside the generator\'s output)');
    refine = { score: 'score', grad: 'grad_z' };
  }
  return {
    critic: { x: x.name, label: label ? { name: label.name, dtype: label.dtype as 'int64' | 'int32', rank: label.shape.length === 1 ? 1 : 2 } : null, score: score.name },
    refine,
  };
}

export interface SessionGraphsOptions {
  manifest: Manifest;
  io: GeneratorIO;
  critic: CriticIO;
  /** The generator on a batch (Generator.run). */
  run(z: Float32Array, labels: Int32Array | null): Promise<GeneratorOutput>;
  /** A session on critic.onnx or refine.onnx (called once per graph, when first needed). */
  open(graph: RefineGraph): Promise<Session>;
}

/** Float32 values of a graph's output, one per row ([rows] or [rows, 1]). */
function perRow(t: TensorValue | undefined, rows: number, what: string): Float32Array {
  if (!t || t.dtype !== 'float32' || t.data.length !== rows) throw new WganxError(`${what}: expected float32 with ${rows} values, got ${t ? `${t.dtype} [${t.dims.join(', ')}]` : 'nothing'}`);
  return t.data as Float32Array;
}

/** Run `session` with context in the error (model, graph, feed shapes). */
async function runGraph(session: Session, feeds: Record<string, TensorValue>, outputs: string[], what: string): Promise<Record<string, TensorValue>> {
  try {
    return await session.run(feeds, outputs);
  } catch (err) {
    const shapes = Object.entries(feeds).map(([n, t]) => `${n} ${t.dtype} [${t.dims.join(', ')}]`).join(', ');
    throw new WganxError(`${what}: the runtime failed on ${shapes}: ${runtimeMessage(err)}`);
  }
}

/** {@link CriticGraphs} that own their sessions: `release()` closes the ones opened. */
export interface SessionGraphs extends CriticGraphs {
  release(): Promise<void>;
}

export function sessionGraphs(opts: SessionGraphsOptions): SessionGraphs {
  const { manifest, io, critic } = opts;
  const dim = io.latent.dim;
  const sessions = new Map<RefineGraph, Promise<Session>>();
  const constants = new Map<string, Promise<number>>();
  const session = (graph: RefineGraph) => {
    let s = sessions.get(graph);
    if (!s) {
      s = opts.open(graph);
      sessions.set(graph, s);
      s.catch(() => sessions.delete(graph)); // a failed open may be retried
    }
    return s;
  };
  let reference: { z: Float32Array; labels: Int32Array | null } | null = null;

  async function scoreRun(z: Float32Array, labels: Int32Array | null): Promise<Float32Array> {
    const rows = z.length / dim;
    const g = await opts.run(z, labels);
    const feeds: Record<string, TensorValue> = { [critic.critic.x]: { dtype: 'float32', data: g.data, dims: g.dims } };
    const l = critic.critic.label;
    if (l && labels) {
      const dims = l.rank === 1 ? [rows] : [rows, 1];
      feeds[l.name] = l.dtype === 'int64' ? { dtype: 'int64', data: BigInt64Array.from(labels, (v) => BigInt(v)), dims } : { dtype: 'int32', data: Int32Array.from(labels), dims };
    }
    const out = await runGraph(await session('critic'), feeds, [critic.critic.score], `model ${manifest.name}: critic.onnx`);
    return perRow(out[critic.critic.score], rows, `model ${manifest.name}: critic.onnx output "${critic.critic.score}"`).slice();
  }

  async function gradientRun(z: Float32Array, labels: Int32Array | null): Promise<ScoreGradient> {
    const r = critic.refine!;
    const rows = z.length / dim;
    const out = await runGraph(await session('refine'), generatorFeeds(io, z, labels), [r.score, r.grad], `model ${manifest.name}: refine.onnx`);
    const grad = out[r.grad];
    if (!grad || grad.dtype !== 'float32' || grad.data.length !== rows * dim) throw new WganxError(`model ${manifest.name}: refine.onnx output "${r.grad}": expected float32 [${rows}, ${dim}], got ${grad ? `${grad.dtype} [${grad.dims.join(', ')}]` : 'nothing'}`);
    return { score: perRow(out[r.score], rows, `model ${manifest.name}: refine.onnx output "${r.score}"`).slice(), grad: (grad.data as Float32Array).slice() };
  }

  /** `fn` on runs of at most `max` rows, the results concatenated. */
  async function inRuns<T extends Float32Array | ScoreGradient>(z: Float32Array, labels: Int32Array | null, max: number, fn: (z: Float32Array, l: Int32Array | null) => Promise<T>): Promise<T> {
    const rows = z.length / dim;
    if (rows <= max) return fn(z, labels);
    const parts: T[] = [];
    for (let a = 0; a < rows; a += max) {
      const b = Math.min(rows, a + max);
      parts.push(await fn(z.subarray(a * dim, b * dim), labels ? labels.subarray(a, b) : null));
    }
    const join = (xs: Float32Array[]) => {
      const out = new Float32Array(xs.reduce((s, x) => s + x.length, 0));
      let at = 0;
      for (const x of xs) {
        out.set(x, at);
        at += x.length;
      }
      return out;
    };
    if (parts[0] instanceof Float32Array) return join(parts as Float32Array[]) as T;
    const sg = parts as ScoreGradient[];
    return { score: join(sg.map((p) => p.score)), grad: join(sg.map((p) => p.grad)) } as T;
  }

  return {
    dim,
    distribution: io.latent.distribution,
    score(z, labels) {
      return inRuns(z, labels, CRITIC_ROWS, scoreRun);
    },
    gradient(z, labels) {
      if (!critic.refine) throw new WganxError(`model ${manifest.name}: no refine.onnx (the gradient graph) in its folder`);
      return inRuns(z, labels, REFINE_ROWS, gradientRun);
    },
    reference() {
      if (!reference) {
        const k = manifest.conditional?.numClasses;
        const labels = k ? Array.from({ length: REFERENCE_SAMPLES }, (_, i) => (i >> 1) % k) : undefined;
        const s = seededSamples(manifest, { seed: REFERENCE_SEED, start: 0, n: REFERENCE_SAMPLES, labels });
        reference = { z: s.z, labels: s.labels };
      }
      return reference;
    },
    constant(key, compute) {
      let c = constants.get(key);
      if (!c) {
        c = compute();
        constants.set(key, c);
        c.catch(() => constants.delete(key));
      }
      return c;
    },
    async release() {
      const opened = [...sessions.values()];
      sessions.clear();
      // A session that failed to open has nothing to release.
      await Promise.allSettled(opened.map(async (s) => (await s).release()));
    },
  };
}
