/**
 * What a sampling refinement method is (one row of ./index.ts's table, one file each) and what it
 * may call: the critic's score of `G(z, y)` and its gradient with respect to `z`, behind
 * {@link CriticGraphs} (./graphs.ts implements it on the model's critic.onnx / refine.onnx
 * sessions; tests implement it with closed-form fakes). A method maps a batch of seeded rows —
 * latents, classes, and each row's `(seed, index)` — to refined latents; the generator then runs on
 * them. Each row's result depends on that row alone (and on model constants), never on the batch
 * it is computed in: refinement is a pure function of the request, like sampling itself.
 * Browser code: no `node:*` imports.
 */
import type { LatentDistribution } from '../../core/latent.js';

/** A numeric parameter of a method: bounds, default and help, read by the flags and the HTTP API alike. */
export interface RefineParam {
  /** The command-line flag (`wganx eval`, `wganx augment`). */
  readonly flag: string;
  /** Name of the flag's argument in help. */
  readonly arg: string;
  readonly help: string;
  /** An integer parameter (else a real number). */
  readonly int: boolean;
  readonly default: number;
  readonly min: number;
  readonly max: number;
  /** The minimum itself is refused (a step size of 0 refines nothing). */
  readonly exclusiveMin?: boolean;
}

/** The graphs a method runs beside the generator: `critic` (critic.onnx: scores) or `refine` (refine.onnx: scores and ∂score/∂z). */
export type RefineGraph = 'critic' | 'refine';

/** Seeded rows to refine: sample `indices[r]` of `seed` has latent row `r` of `z` and class `labels[r]`. */
export interface RefineRows {
  readonly seed: number;
  /** Latent index of each row (consecutive for a request, any for an augmentation data set's chunk). */
  readonly indices: ArrayLike<number>;
  /** Latents, row-major float32 [rows, dim]; never modified. */
  readonly z: Float32Array;
  /** One class per row (conditional models), else null. */
  readonly labels: Int32Array | null;
}

/** A batch's critic scores (float32 [rows]) and their gradients with respect to z (float32 [rows, dim]). */
export interface ScoreGradient {
  score: Float32Array;
  grad: Float32Array;
}

/**
 * The critic as refinement sees it: scores of `G(z, y)`, and their gradients with respect to `z`.
 * Rows are independent: a batch of any size gives each row what it alone would give.
 */
export interface CriticGraphs {
  readonly dim: number;
  readonly distribution: LatentDistribution;
  /** The critic's score D(G(z, y), y) of each row (higher = more like the data). */
  score(z: Float32Array, labels: Int32Array | null): Promise<Float32Array>;
  /** The score and ∂score/∂z of each row. */
  gradient(z: Float32Array, labels: Int32Array | null): Promise<ScoreGradient>;
  /** Fixed reference latents and classes, in independent pairs (rows 2r, 2r + 1) of one class each: model constants such as DOT's K_eff are measured on them. */
  reference(): { z: Float32Array; labels: Int32Array | null };
  /** A model constant, computed once per loaded model and kept (e.g. DOT's K_eff). */
  constant(key: string, compute: () => Promise<number>): Promise<number>;
}

export interface RefineMethod {
  /** One line for help texts and docs. */
  readonly help: string;
  readonly params: Readonly<Record<string, RefineParam>>;
  /** The graph the method needs beside the generator (null: none). */
  readonly graph: RefineGraph | null;
  /** Critic passes per sample (generator + critic forward, or forward + backward for `refine`): what the cost scales with. */
  passes(params: Readonly<Record<string, number>>): number;
  /** The refined latents of `rows` (float32 [rows, dim]; a new array). */
  run(rows: RefineRows, params: Readonly<Record<string, number>>, critic: CriticGraphs): Promise<Float32Array>;
}

/** The gradient methods' parameters (dot, ddls): one flag each, the defaults per method. */
export const STEP_PARAMS = {
  steps: { flag: '--refine-steps', arg: '<n>', help: 'dot, ddls: gradient steps per sample', int: true, default: 20, min: 1, max: 1000 },
  stepSize: { flag: '--refine-step-size', arg: '<η>', help: 'dot, ddls: step size (latent units)', int: false, default: 0.01, min: 0, max: 10, exclusiveMin: true },
} as const satisfies Readonly<Record<string, RefineParam>>;

/** Keep uniform latents inside the prior's support [−1, 1] (normal latents need no bound). */
export function clampToPrior(z: Float32Array, distribution: LatentDistribution): void {
  if (distribution !== 'uniform') return;
  for (let i = 0; i < z.length; i++) z[i] = Math.min(1, Math.max(-1, z[i]));
}
