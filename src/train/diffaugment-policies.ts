/**
 * The DiffAugment policies `--diffaugment` accepts, apart from ./diffaugment.ts so that reading
 * the flag table does not load TensorFlow.js.
 */
import { InvalidArgumentError } from '../core/errors.js';

export const DIFFAUGMENT_POLICIES = ['color', 'translation', 'cutout'] as const;
export type DiffAugmentPolicy = (typeof DIFFAUGMENT_POLICIES)[number];

/** Largest translation, as a fraction of the side (the authors' 1/8). */
export const TRANSLATION_RATIO = 0.125;
/** Side of the cutout square, as a fraction of the side (the authors' 1/2). */
export const CUTOUT_RATIO = 0.5;

/** `color,translation` → the policies in canonical order; `none` or '' → []. Names the flag otherwise. */
export function parseDiffAugment(value: string): DiffAugmentPolicy[] {
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '' && p !== 'none');
  for (const p of parts) {
    if (!(DIFFAUGMENT_POLICIES as readonly string[]).includes(p)) {
      throw new InvalidArgumentError('--diffaugment', value, `a comma-separated subset of ${DIFFAUGMENT_POLICIES.join(', ')} (or none)`);
    }
  }
  return DIFFAUGMENT_POLICIES.filter((p) => parts.includes(p));
}
