/**
 * `csv` (point models): a header (`x,y` for 2-D points, else `x0,x1,…`; `label` for conditional
 * models; `seed,index`), then one row per sample, the coordinates at float32 precision. The
 * sample's hash is that of its raw float32 coordinates.
 */
import { chunkLabels, sha256 } from './common.js';
import type { ChunkJob, FormatWriter, PutFile } from './spec.js';

export const writer: FormatWriter = {
  async write(job: ChunkJob, put: PutFile): Promise<string[]> {
    const count = job.indices.length;
    const labels = chunkLabels(job.labels);
    const width = job.data.length / count;
    const coords = width === 2 ? ['x', 'y'] : Array.from({ length: width }, (_, d) => `x${d}`);
    const rows = [[...coords, ...(labels ? ['label'] : []), 'seed', 'index'].join(',')];
    const hashes: string[] = [];
    for (let k = 0; k < count; k++) {
      const point = job.data.subarray(k * width, (k + 1) * width);
      hashes.push(sha256(new Uint8Array(point.buffer, point.byteOffset, point.byteLength)));
      rows.push([...Array.from(point, String), ...(labels ? [String(labels[k])] : []), String(job.seed), String(job.indices[k])].join(','));
    }
    put(job.files[0], Buffer.from(`${rows.join('\n')}\n`));
    return hashes;
  },
};
