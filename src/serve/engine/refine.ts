/**
 * Refinement on the server (issue 35): which methods of the runtime's table (src/runtime/refine) a
 * loaded model may run here, and the check of a request's `refine` against the model's files and
 * the server's cost limits. A request's `refine` has the runtime's shape (`{ method, …params }`);
 * the cost of each method grows with one parameter, bounded by a flag like `--max-samples`:
 * {@link REFINE_LIMITS} maps the parameter to its flag, and a method whose bounded parameter's
 * limit is 0 is switched off. Errors name `<where>.method` or `<where>.<param>`, the value and what
 * is allowed (the HTTP layer answers 400).
 *
 * @example
 *   const r = servedRefine(model, { method: 'rank', k: 4 }, 'body.refine', engine.options);
 *   await engine.submit(model, { rows: n, source: { kind: 'seeded', seed, start }, labels, refine: r });
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { checkRefineSupported, NO_REFINE, REFINE_METHODS, resolveRefine, type RefineMethodName, type RefineRequest, type ResolvedRefine } from '../../runtime/refine/index.js';
import { SERVE_FLAGS, type ServeOptions } from '../options.js';
import type { LoadedModel } from './model.js';

/** The parameter a method's cost grows with, and the server option that bounds it. */
export const REFINE_LIMITS = {
  k: 'maxRefineK',
  steps: 'maxRefineSteps',
} as const satisfies Readonly<Record<string, keyof ServeOptions>>;

type Limits = Pick<ServeOptions, (typeof REFINE_LIMITS)[keyof typeof REFINE_LIMITS]>;

/** The bounded parameters of a method, with the server's limit and the flag that sets it. */
function boundsOf(method: RefineMethodName, limits: Limits): { param: string; limit: number; flag: string }[] {
  return Object.entries(REFINE_LIMITS)
    .filter(([param]) => Object.hasOwn(REFINE_METHODS[method].params, param))
    .map(([param, option]) => ({ param, limit: limits[option], flag: SERVE_FLAGS[option].flag }));
}

/** Whether the server's limits leave `method` on (none of its bounded parameters is limited to 0). */
function allowedHere(method: RefineMethodName, limits: Limits): boolean {
  return boundsOf(method, limits).every((b) => b.limit > 0);
}

/** The methods `model` can run on this server: its files allow them and no limit switches them off. */
export function servedRefineMethods(model: LoadedModel, limits: Limits): RefineMethodName[] {
  return model.refineMethods.filter((m) => allowedHere(m, limits));
}

/** What /v1/models says about refinement: the methods, and the limits of the bounded parameters. */
export function refineSummary(model: LoadedModel, limits: Limits) {
  return { methods: servedRefineMethods(model, limits), limits: Object.fromEntries(Object.entries(REFINE_LIMITS).map(([param, option]) => [param, limits[option]])) };
}

/**
 * `raw` (a request's `refine`; undefined: none) checked against the method table, `model`'s files
 * and the server's limits. Throws {@link InvalidArgumentError} naming `<where>.<field>`.
 */
export function servedRefine(model: LoadedModel, raw: unknown, where: string, limits: Limits): ResolvedRefine {
  if (raw === undefined) return NO_REFINE;
  let r: ResolvedRefine;
  try {
    r = resolveRefine(raw as RefineRequest, where);
  } catch (err) {
    // A bounded parameter outside the method's range: the range that holds here is the server's.
    const method = (raw as { method?: unknown } | null)?.method;
    if (err instanceof InvalidArgumentError && typeof method === 'string' && Object.hasOwn(REFINE_METHODS, method)) {
      const bound = boundsOf(method as RefineMethodName, limits).find((b) => err.field === `${where}.${b.param}`);
      const min = bound ? (REFINE_METHODS[method as RefineMethodName].params as Readonly<Record<string, { min: number }>>)[bound.param].min : 0;
      if (bound && bound.limit > 0) throw new InvalidArgumentError(err.field, err.value, `an integer in [${min}, ${bound.limit}] on this server (${bound.flag})`);
    }
    throw err;
  }
  checkRefineSupported(r, { critic: model.critic !== null, refine: model.refine !== null }, model.name, `${where}.method`);
  const given = raw as Readonly<Record<string, unknown>>;
  for (const { param, limit, flag } of boundsOf(r.method, limits)) {
    const value = r.params[param];
    if (limit === 0) {
      const can = servedRefineMethods(model, limits).join(', ');
      throw new InvalidArgumentError(`${where}.method`, r.method, `${can} for model ${model.name}: this server switches ${r.method} off (${flag} 0)`);
    }
    if (value > limit) {
      const which = given[param] === undefined ? ` (${r.method}'s default; ask for less)` : '';
      throw new InvalidArgumentError(`${where}.${param}`, value, `at most ${limit} on this server (${flag})${which}`);
    }
  }
  return r;
}
