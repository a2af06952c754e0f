/**
 * The lookup every extension-point table shares (architectures, augmentation formats, …): the
 * row of a name, or an error naming the flag, the value and the table's names.
 *
 * @example
 *   const row = tableRow(ARCHS, '--arch', name);
 */
import { InvalidArgumentError } from './errors.js';

export function tableRow<T>(table: Readonly<Record<string, T>>, flag: string, name: string): T {
  if (!Object.hasOwn(table, name)) throw new InvalidArgumentError(flag, name, `one of ${Object.keys(table).join(', ')}`);
  return table[name];
}
