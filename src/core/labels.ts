/**
 * Class labels of a conditional generator's samples: the contract that sample `i` of seed `s`
 * gets the same class on the server, in the browser and in an augmentation data set.
 *
 * A request may give one class per sample, one class for all, or neither; then sample `i` of seed
 * `s` gets the deterministic default class `⌊uniformAt(s, i, LABEL_SALT) · K⌋`, drawn from a
 * counter-based stream independent of the latents (see ./latent.ts), so it does not depend on the
 * batch or on where the sample is drawn.
 *
 * @example
 *   defaultLabel(7, 0, 10)                                   // the class of sample 0 of seed 7
 *   resolveLabels(manifest, { n: 4, seed: 7, start: 0 })      // Int32Array(4) of default classes
 *   resolveLabels(manifest, { n: 2, seed: 7, start: 0, cls: 'cat' }, 'body') // Int32Array [0, 0]
 */
import { InvalidArgumentError } from './errors.js';
import { uniformAt } from './latent.js';
import type { Manifest } from './manifest.js';

/** Salt of {@link uniformAt} for a sample's default class (independent of the latents). */
export const LABEL_SALT = 0;

/** A class given by index or by name. */
export type ClassRef = number | string;

/** The default class of sample `index` of `seed` for a model with `numClasses` classes. */
export function defaultLabel(seed: number, index: number, numClasses: number): number {
  return Math.min(numClasses - 1, Math.floor(uniformAt(seed, index, LABEL_SALT) * numClasses));
}

/** Default classes of samples `start … start+n−1` of `seed`. */
export function defaultLabels(seed: number, start: number, n: number, numClasses: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = defaultLabel(seed, start + i, numClasses);
  return out;
}

/** A class given as index or name → its index; anything else throws naming `field`. */
export function classIndex(manifest: Pick<Manifest, 'conditional'>, value: ClassRef, field: string): number {
  const c = manifest.conditional;
  if (!c) throw new InvalidArgumentError(field, value, 'nothing: the model is not conditional');
  const allowed = `a class index from 0 to ${c.numClasses - 1} or one of the names ${c.labels.map((l) => JSON.stringify(l)).join(', ')}`;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < c.numClasses) return value;
    throw new InvalidArgumentError(field, value, allowed);
  }
  const i = c.labels.indexOf(value);
  if (i < 0) throw new InvalidArgumentError(field, value, allowed);
  return i;
}

/**
 * A class given as text (a query string, a command-line list): the class of that name when the
 * model has one (class folders named by numbers sort as text: "10" before "2"), else digits are an
 * index, else a name (which {@link classIndex} refuses, listing the model's). JSON says which it
 * means: 2 or "2".
 */
export function classFromText(manifest: Pick<Manifest, 'conditional'>, text: string): ClassRef {
  if (manifest.conditional?.labels.includes(text)) return text;
  return /^\d+$/.test(text) ? Number(text) : text;
}

export interface LabelRequest {
  n: number;
  seed: number;
  start: number;
  /** One class per sample. */
  labels?: ArrayLike<ClassRef>;
  /** One class for every sample. */
  cls?: ClassRef;
}

/**
 * One class per sample: given per sample, one for all, or (conditional models without either) the
 * default rule. Null for unconditional models, which refuse both. Errors name `<where>.labels` or
 * `<where>.class`.
 */
export function resolveLabels(manifest: Pick<Manifest, 'name' | 'conditional'>, req: LabelRequest, where = ''): Int32Array | null {
  const { n, seed, start, labels, cls } = req;
  const at = (field: string) => (where ? `${where}.${field}` : field);
  const c = manifest.conditional;
  if (!c) {
    if (labels !== undefined) throw new InvalidArgumentError(at('labels'), labels, `nothing: model "${manifest.name}" is not conditional`);
    if (cls !== undefined) throw new InvalidArgumentError(at('class'), cls, `nothing: model "${manifest.name}" is not conditional`);
    return null;
  }
  if (labels !== undefined && cls !== undefined) throw new InvalidArgumentError(at('class'), cls, 'left out when labels is given');
  if (labels !== undefined) {
    if (labels.length !== n) throw new InvalidArgumentError(at('labels'), labels, `exactly n = ${n} labels, one per sample (${labels.length} given)`);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = classIndex(manifest, labels[i], at(`labels.${i}`));
    return out;
  }
  if (cls !== undefined) return new Int32Array(n).fill(classIndex(manifest, cls, at('class')));
  return defaultLabels(seed, start, n, c.numClasses);
}
