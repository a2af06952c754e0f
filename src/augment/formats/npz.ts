/**
 * `npz`: NumPy archives (stored, not deflated; fixed timestamps). `images.npy` (uint8 NHWC,
 * upscaled by `--scale`) or `points.npy` (float32, count × dim), `labels.npy` (int64, conditional
 * models) and `indices.npy` (int64 latent indices). The sample's hash is that of its raw uint8
 * pixels or float32 coordinates.
 */
import { zipSync } from 'fflate';
import { toUint8, upscale } from '../../core/image.js';
import { encodeNpy } from '../../encode/encode.js';
import { ARCHIVE_TIME, chunkLabels, sha256 } from './common.js';
import type { ChunkJob, FormatWriter, PutFile } from './spec.js';

/** Images as uint8 NHWC, upscaled by `scale`. */
function pixels(job: ChunkJob): { data: Uint8Array; shape: number[] } {
  const [h, w, c] = job.rowShape;
  const count = job.indices.length;
  const raw = toUint8(job.data, job.range);
  if (job.scale === 1) return { data: raw, shape: [count, h, w, c] };
  const tile = h * w * c;
  const big = new Uint8Array(count * tile * job.scale * job.scale);
  for (let k = 0; k < count; k++) {
    const img = upscale({ data: raw.subarray(k * tile, (k + 1) * tile), width: w, height: h, channels: c, columns: 1, rows: 1 }, job.scale);
    big.set(img.data, k * img.data.length);
  }
  return { data: big, shape: [count, h * job.scale, w * job.scale, c] };
}

function int64(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

export const writer: FormatWriter = {
  async write(job: ChunkJob, put: PutFile): Promise<string[]> {
    const count = job.indices.length;
    const labels = chunkLabels(job.labels);
    const entries: Record<string, Uint8Array> = {};
    let perSample: (k: number) => Uint8Array;
    if (job.rowShape.length === 3) {
      const { data, shape } = pixels(job);
      const tile = data.length / count;
      entries['images.npy'] = encodeNpy(data, shape);
      perSample = (k) => data.subarray(k * tile, (k + 1) * tile);
    } else {
      const width = job.data.length / count;
      entries['points.npy'] = encodeNpy(job.data, [count, width]);
      perSample = (k) => new Uint8Array(job.data.buffer, job.data.byteOffset + k * width * 4, width * 4);
    }
    if (labels) entries['labels.npy'] = encodeNpy(int64(labels), [count]);
    entries['indices.npy'] = encodeNpy(int64(job.indices), [count]);
    put(job.files[0], zipSync(Object.fromEntries(Object.entries(entries).map(([name, bytes]) => [name, [bytes, { level: 0, mtime: ARCHIVE_TIME }]])), { level: 0, mtime: ARCHIVE_TIME }));
    return Array.from({ length: count }, (_, k) => sha256(perSample(k)));
  },
};
