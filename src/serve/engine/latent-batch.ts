/**
 * The latent matrix of one batch, built from its segments in order: seeded runs of rows are drawn
 * with the core's Philox sampler, raw rows (KServe, interpolation) are copied as given.
 *
 * @example
 *   buildLatents(3, [{ kind: 'seeded', seed: 7, start: 0, count: 2 }, { kind: 'raw', z }], { dim: 100, distribution: 'normal' })
 *   // Float32Array(300): samples 0 and 1 of seed 7, then z
 */
import { sampleLatents, type LatentDistribution } from '../../core/latent.js';
import type { Segment } from './protocol.js';

export function buildLatents(rows: number, segments: readonly Segment[], latent: { dim: number; distribution: LatentDistribution }): Float32Array {
  const { dim, distribution } = latent;
  const z = new Float32Array(rows * dim);
  let row = 0;
  for (const seg of segments) {
    const count = seg.kind === 'seeded' ? seg.count : seg.z.length / dim;
    if (!Number.isInteger(count) || row + count > rows) throw new Error(`segments hold more than the batch's ${rows} rows`);
    z.set(seg.kind === 'seeded' ? sampleLatents({ seed: seg.seed, start: seg.start, count, dim, distribution }) : seg.z, row * dim);
    row += count;
  }
  if (row !== rows) throw new Error(`segments hold ${row} rows, the batch says ${rows}`);
  return z;
}
