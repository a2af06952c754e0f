/**
 * Command options declared once, as data. A table maps each option's name (the key of the typed
 * options object) to its flag, help text, default and allowed values; from it come the options'
 * TypeScript type ({@link FlagValues}), their defaults, the range checks that programmatic callers
 * and the CLI share ({@link resolveFlags}), and the CLI's flags (src/cli.ts turns each entry into
 * a commander option). No runtime imports: browsers may read a table too.
 *
 * @example
 *   const FLAGS = {
 *     maxBatch: { type: 'int', flag: '--max-batch', help: 'largest batch', default: 64, min: 1, max: 65536 },
 *     device: { type: 'choice', flag: '--device', help: 'where to run', default: 'auto', choices: ['auto', 'cpu'] },
 *   } as const satisfies FlagTable;
 *   type Options = FlagValues<typeof FLAGS>;      // { maxBatch: number; device: 'auto' | 'cpu' }
 *   resolveFlags(FLAGS, { maxBatch: 0 });         // throws: --max-batch: 0 is not allowed; expected an integer in [1, 65536]
 */
import { InvalidArgumentError } from './errors.js';

export interface Common {
  /** The long flag, e.g. `--max-batch`. */
  flag: string;
  /** Name of the flag's argument in help (`<n>`, `<dir>`). */
  arg?: string;
  help: string;
  /** Must be given (on the command line). */
  required?: boolean;
  /** Environment variable read when the flag is not given. */
  env?: string;
}

export type FlagSpec =
  | (Common & { type: 'int'; min: number; max: number; default?: number })
  | (Common & { type: 'number'; min: number; max: number; exclusiveMin?: boolean; exclusiveMax?: boolean; default?: number })
  | (Common & { type: 'string'; default?: string | null; nonEmpty?: boolean; negatable?: boolean; negatedHelp?: string })
  | (Common & { type: 'choice'; choices: readonly string[]; default?: string })
  | (Common & { type: 'boolean'; default: boolean; negatedHelp?: string })
  | (Common & { type: 'list'; default?: readonly string[] });

export type FlagTable = Readonly<Record<string, FlagSpec>>;

type BaseValue<S> = S extends { type: 'int' | 'number' }
  ? number
  : S extends { type: 'choice'; choices: readonly (infer C)[] }
    ? C
    : S extends { type: 'boolean' }
      ? boolean
      : S extends { type: 'list' }
        ? string[]
        : S extends { type: 'string'; negatable: true }
          ? string | false
          : string;

type ValueOf<S> = S extends { default: null } ? BaseValue<S> | null : S extends { default: unknown } ? BaseValue<S> : S extends { required: true } ? BaseValue<S> : BaseValue<S> | undefined;

/** The options object a table describes: an option with a default (or required) is always set. */
export type FlagValues<T extends FlagTable> = { -readonly [K in keyof T]: ValueOf<T[K]> };

/** What a caller may pass: any subset. */
export type FlagInput<T extends FlagTable> = Partial<FlagValues<T>>;

/** What an option allows, in words, for help and errors. */
export function allowedText(spec: FlagSpec): string {
  switch (spec.type) {
    case 'int':
      return `an integer in [${spec.min}, ${spec.max}]`;
    case 'number':
      return `a number in ${spec.exclusiveMin ? '(' : '['}${spec.min}, ${spec.max}${spec.exclusiveMax ? ')' : ']'}`;
    case 'choice':
      return `one of ${spec.choices.join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'list':
      return 'a comma-separated list';
    case 'string':
      return spec.nonEmpty ? 'a non-empty string' : 'a string';
  }
}

/** Check one value against its spec; throws {@link InvalidArgumentError} naming the flag. */
export function checkFlag(spec: FlagSpec, value: unknown): void {
  const bad = () => new InvalidArgumentError(spec.flag, value, allowedText(spec));
  switch (spec.type) {
    case 'int':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < spec.min || value > spec.max) throw bad();
      return;
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw bad();
      const lo = spec.exclusiveMin ? value > spec.min : value >= spec.min;
      const hi = spec.exclusiveMax ? value < spec.max : value <= spec.max;
      if (!lo || !hi) throw bad();
      return;
    }
    case 'choice':
      if (typeof value !== 'string' || !spec.choices.includes(value)) throw bad();
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw bad();
      return;
    case 'list':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw bad();
      return;
    case 'string':
      if (value === null && spec.default === null) return;
      if (value === false && spec.negatable) return;
      if (typeof value !== 'string' || (spec.nonEmpty && value.length === 0)) throw bad();
  }
}

/**
 * Parse a flag's text as the CLI receives it. Throws {@link InvalidArgumentError} naming the flag,
 * the text and what is allowed.
 */
export function parseFlagText(spec: FlagSpec, raw: string): unknown {
  let value: unknown = raw;
  if (spec.type === 'int') {
    value = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  } else if (spec.type === 'number') {
    value = raw.trim() === '' ? NaN : Number(raw);
  } else if (spec.type === 'list') {
    value = raw.split(',').map((s) => s.trim()).filter(Boolean);
  }
  if (typeof value === 'number' && Number.isNaN(value)) throw new InvalidArgumentError(spec.flag, raw, allowedText(spec));
  checkFlag(spec, value);
  return value;
}

/** The defaults of a table (options without one are left out). */
export function flagDefaults<T extends FlagTable>(table: T): FlagInput<T> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) if (spec.default !== undefined) out[key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  return out as FlagInput<T>;
}

/**
 * Fill in defaults and check every given value: what programmatic callers and the CLI both go
 * through. Unknown keys are refused; missing required options are refused.
 */
export function resolveFlags<T extends FlagTable>(table: T, given: FlagInput<T>): FlagValues<T> {
  const out: Record<string, unknown> = { ...flagDefaults(table) };
  for (const [key, value] of Object.entries(given)) {
    const spec = table[key];
    if (!spec) throw new InvalidArgumentError(key, value, `one of the options ${Object.keys(table).join(', ')}`);
    if (value === undefined) continue;
    checkFlag(spec, value);
    out[key] = value;
  }
  for (const [key, spec] of Object.entries(table)) {
    if (spec.required && out[key] === undefined) throw new InvalidArgumentError(spec.flag, undefined, `${allowedText(spec)} (required)`);
  }
  return out as FlagValues<T>;
}
