/**
 * The latent matrix of one batch, built from its segments in order: the rows of a seeded segment
 * are the latents the core's `seededSamples` gives for its `(seed, start, count)` (the function
 * every sampling path calls; a request split over batches gets the same rows, since sample `i` of
 * seed `s` does not depend on the batch), raw rows (KServe, interpolation) are copied as given.
 * Runs on the session's thread or the latent thread, never on the event loop.
 *
 * @example
 *   buildLatents(3, [{ kind: 'seeded', seed: 7, start: 0, count: 2 }, { kind: 'raw', z }], manifest)
 *   // Float32Array(3 × dim): samples 0 and 1 of seed 7, then z
 */
import { seededSamples, type SamplingModel } from '../../core/seeded.js';
import type { Segment } from './protocol.js';

export function buildLatents(rows: number, segments: readonly Segment[], model: SamplingModel): Float32Array {
  const { dim } = model.latent;
  const z = new Float32Array(rows * dim);
  let row = 0;
  for (const seg of segments) {
    const count = seg.kind === 'seeded' ? seg.count : seg.z.length / dim;
    if (!Number.isInteger(count) || row + count > rows) throw new Error(`segments hold more than the batch's ${rows} rows`);
    // Only the latents are read: the classes came with the batch (drawn by the same function in the route).
    z.set(seg.kind === 'seeded' ? seededSamples(model, { seed: seg.seed, start: seg.start, n: count }).z : seg.z, row * dim);
    row += count;
  }
  if (row !== rows) throw new Error(`segments hold ${row} rows, the batch says ${rows}`);
  return z;
}
