/**
 * The refinement flags that `wganx eval` and `wganx augment` share (`--refine <method>` and one
 * flag per parameter), built from the method table (./index.ts): the choices, help, bounds and
 * defaults come from the rows. A parameter flag that the chosen method does not take is refused.
 *
 * @example
 *   export const EVAL_FLAGS = { …, ...REFINE_FLAGS } as const satisfies FlagTable;
 *   refineFromFlags({ refine: 'rank', refineK: 4 })   // { method: 'rank', params: { k: 4, sigma: 0.02 } }
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { FlagSpec, FlagTable } from '../../core/flags.js';
import { REFINE_METHODS, REFINE_METHOD_NAMES, resolveRefine, type ResolvedRefine } from './index.js';
import type { RefineMethod, RefineParam } from './method.js';

const paramOf = (method: string, key: string): RefineParam => (REFINE_METHODS as Readonly<Record<string, RefineMethod>>)[method].params[key];

/** The parameter of that name in the table (every method that has it declares it alike: test/runtime/refine.test.ts). */
function param(key: string): { p: RefineParam; methods: string[] } {
  const methods = REFINE_METHOD_NAMES.filter((m) => Object.hasOwn(REFINE_METHODS[m].params, key));
  return { p: paramOf(methods[0], key), methods };
}

type NumberFlag = Extract<FlagSpec, { type: 'int' | 'number' }>;

/** The flag of parameter `key`: its bounds, and per method its default in the help. */
function paramFlag(key: string): NumberFlag {
  const { p, methods } = param(key);
  const defaults = methods.map((m) => `${m} ${paramOf(m, key).default}`).join(', ');
  const help = `${p.help} (default: ${defaults})`;
  return p.int ? { type: 'int', flag: p.flag, arg: p.arg, min: p.min, max: p.max, help } : { type: 'number', flag: p.flag, arg: p.arg, min: p.min, max: p.max, exclusiveMin: p.exclusiveMin, help };
}

export const REFINE_FLAGS = {
  refine: {
    type: 'choice', flag: '--refine', arg: '<method>', choices: REFINE_METHOD_NAMES, default: 'none',
    help: `refine each sample by the model's critic (docs/refine.md): ${REFINE_METHOD_NAMES.map((m) => `${m}: ${REFINE_METHODS[m].help}`).join('; ')}`,
  },
  refineK: paramFlag('k'),
  refineSigma: paramFlag('sigma'),
  refineSteps: paramFlag('steps'),
  refineStepSize: paramFlag('stepSize'),
} as const satisfies FlagTable;

/** The parameter key of each parameter flag. */
const FLAG_PARAM = { refineK: 'k', refineSigma: 'sigma', refineSteps: 'steps', refineStepSize: 'stepSize' } as const;

export type RefineFlagValues = { refine?: string } & { [K in keyof typeof FLAG_PARAM]?: number };

/** The request the flags describe; a parameter flag the method does not take is refused, naming the flag. */
export function refineFromFlags(values: RefineFlagValues): ResolvedRefine {
  const method = values.refine ?? 'none';
  const req: Record<string, unknown> = { method };
  for (const [option, key] of Object.entries(FLAG_PARAM) as [keyof typeof FLAG_PARAM, string][]) {
    const value = values[option];
    if (value === undefined) continue;
    const { p, methods } = param(key);
    if (!methods.includes(method)) throw new InvalidArgumentError(p.flag, value, `only with --refine ${methods.join(' or ')} (not ${method})`);
    req[key] = value;
  }
  return resolveRefine(req as { method: string });
}
