/**
 * The DCGAN's resolution ladder: the side it starts from and how many ×2 up-samplings reach the
 * image side. The generator starts at the smallest side of at least {@link MIN_START_SIDE} that
 * doubles exactly to the image (4 for 16, 32, 64, 128; 7 for 28; 6 for 48); the critic walks the
 * same ladder down. Pure and free of tfjs: the config check reads it.
 *
 * @example
 *   dcganLadder(32) // { start: 4, ups: 3 }: 4 → 8 → 16 → 32
 *   dcganLadder(28) // { start: 7, ups: 2 }
 *   dcganLadder(30) // null: 15 is odd and above 7
 */
import { WganxError } from '../../core/errors.js';

/** Smallest start side: a 4×4 kernel of stride 2 still sees the whole start grid. */
export const MIN_START_SIDE = 4;

export const DCGAN_SIZE_RULE = `a side that halves exactly down to ${MIN_START_SIDE}–${2 * MIN_START_SIDE - 1} px (e.g. 16, 28, 32, 48, 64, 128)`;

export interface Ladder {
  /** Side of the generator's first feature map (the critic's last). */
  start: number;
  /** ×2 up-sampling layers in G, stride-2 convolutions in the critic (≥ 1). */
  ups: number;
}

export function dcganLadder(size: number): Ladder | null {
  if (!Number.isInteger(size) || size < 2 * MIN_START_SIDE) return null;
  let start = size;
  let ups = 0;
  while (start % 2 === 0 && start / 2 >= MIN_START_SIDE) {
    start /= 2;
    ups += 1;
  }
  return start < 2 * MIN_START_SIDE ? { start, ups } : null;
}

/** The ladder of a square `[S, S, C]` data shape, or an error naming the architecture and the rule. */
export function squareLadder(dataShape: readonly number[], arch: string): Ladder {
  const [size, width] = dataShape;
  const ladder = size === width ? dcganLadder(size) : null;
  if (!ladder) throw new WganxError(`the ${arch} nets need square images of ${DCGAN_SIZE_RULE}; got ${dataShape.join('×')}`);
  return ladder;
}

/** Channels of the feature map `level` steps above the start (level 0: the start map): base · 2^(ups − 1 − level). */
export function ladderChannels(base: number, ups: number, level: number): number {
  return base * 2 ** (ups - 1 - level);
}
