/**
 * Sampling refinement by the critic (issue 35): the method table. A row is a method — its help,
 * its parameters (flag, bounds, default), the graph it needs beside the generator (critic.onnx or
 * refine.onnx) and its function — one file each; `Generator.sample({ …, refine })`, `wganx eval
 * --refine`, `wganx augment --refine` and the flags (./flags.ts) all read this table, and a name
 * outside it is refused listing the table. docs/refine.md describes the methods, their
 * determinism and their cost.
 *
 * @example
 *   const r = resolveRefine({ method: 'rank', k: 4 });   // { method: 'rank', params: { k: 4, sigma: 0.02 } }
 *   const out = await generator.sample({ seed: 0, n: 16, refine: { method: 'dot', steps: 20 } });
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { tableRow } from '../../core/table.js';
import { ddls } from './ddls.js';
import { dot } from './dot.js';
import type { RefineGraph, RefineMethod, RefineParam } from './method.js';
import { none } from './none.js';
import { rank } from './rank.js';

export type { CriticGraphs, RefineGraph, RefineMethod, RefineParam, RefineRows, ScoreGradient } from './method.js';

export const REFINE_METHODS = { none, rank, dot, ddls } as const satisfies Readonly<Record<string, RefineMethod>>;
export type RefineMethodName = keyof typeof REFINE_METHODS;
export const REFINE_METHOD_NAMES = Object.keys(REFINE_METHODS) as RefineMethodName[];

/** What a caller asks for: a method and any of its parameters (the rest take the row's defaults). */
export type RefineRequest = { readonly method: string } & { readonly [param: string]: unknown };

/** A request checked against the table: the method and every one of its parameters. */
export interface ResolvedRefine {
  readonly method: RefineMethodName;
  readonly params: Readonly<Record<string, number>>;
}

export const NO_REFINE: ResolvedRefine = Object.freeze({ method: 'none', params: Object.freeze({}) });

/** The row of `name`, or an error naming `field` and listing the table. */
export function refineMethod(name: string, field = 'refine.method'): RefineMethod {
  return tableRow<RefineMethod>(REFINE_METHODS, field, name);
}

function allowed(p: RefineParam): string {
  return `${p.int ? 'an integer' : 'a number'} in ${p.exclusiveMin ? '(' : '['}${p.min}, ${p.max}]`;
}

/** Check one parameter's value; throws naming `field`. */
export function checkRefineParam(p: RefineParam, value: unknown, field: string): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && (p.int ? Number.isSafeInteger(value) : true) && (p.exclusiveMin ? value > p.min : value >= p.min) && value <= p.max;
  if (!ok) throw new InvalidArgumentError(field, value, allowed(p));
  return value as number;
}

/**
 * A request (undefined: `none`) checked against the table: the method's row must exist, every
 * given parameter must be one of its own and in bounds; the others take their defaults. Errors
 * name `<where>.method` or `<where>.<param>`.
 */
export function resolveRefine(req: RefineRequest | undefined, where = 'refine'): ResolvedRefine {
  if (req === undefined) return NO_REFINE;
  if (req === null || typeof req !== 'object') throw new InvalidArgumentError(where, req, `an object { method: ${REFINE_METHOD_NAMES.join(' | ')}, …parameters }`);
  const name = req.method;
  if (typeof name !== 'string') throw new InvalidArgumentError(`${where}.method`, name, `one of ${REFINE_METHOD_NAMES.join(', ')}`);
  const row = refineMethod(name, `${where}.method`);
  const own = Object.keys(row.params);
  for (const key of Object.keys(req)) {
    if (key === 'method' || req[key] === undefined) continue;
    if (!own.includes(key)) throw new InvalidArgumentError(`${where}.${key}`, req[key], own.length ? `only ${own.join(', ')} for method ${name}` : `no parameters for method ${name}`);
  }
  const params: Record<string, number> = {};
  for (const [key, p] of Object.entries(row.params)) params[key] = req[key] === undefined ? p.default : checkRefineParam(p, req[key], `${where}.${key}`);
  return { method: name as RefineMethodName, params };
}

/** Which graphs a model folder ships beside its generator. */
export type RefineGraphs = Readonly<Record<RefineGraph, boolean>>;

/** The methods a model with these graphs can run (`none` always). */
export function refineMethodsFor(has: RefineGraphs): RefineMethodName[] {
  return REFINE_METHOD_NAMES.filter((m) => REFINE_METHODS[m].graph === null || has[REFINE_METHODS[m].graph!]);
}

const GRAPH_FILE: Readonly<Record<RefineGraph, string>> = { critic: 'critic.onnx', refine: 'refine.onnx' };

/** Refuse a method whose graph the model lacks: the error names `field`, the method and what this model can do. */
export function checkRefineSupported(r: ResolvedRefine, has: RefineGraphs, model: string, field = 'refine.method'): void {
  const graph = REFINE_METHODS[r.method].graph;
  if (graph === null || has[graph]) return;
  const can = refineMethodsFor(has).join(', ');
  const why = has.critic || has.refine ? `its folder has no ${GRAPH_FILE[graph]}` : 'this model has no critic (no critic.onnx in its folder: export it again from its checkpoint, wganx export --checkpoint, to add one)';
  throw new InvalidArgumentError(field, r.method, `${can} for model ${model}: ${why}`);
}

/** A resolved refinement as a request again (`{ method, …params }`): what summaries record and callers pass on. */
export function refineRequest(r: ResolvedRefine): RefineRequest {
  return { method: r.method, ...r.params };
}

/** `rank k=8 sigma=0.02`: a resolved request in one line (logs, summaries). */
export function describeRefine(r: ResolvedRefine): string {
  return [r.method, ...Object.entries(r.params).map(([k, v]) => `${k}=${v}`)].join(' ');
}
