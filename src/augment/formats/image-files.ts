/**
 * `png`, `webp`, `jpeg`: one image file per sample, encoded as the server encodes them
 * (src/encode), upscaled by `--scale`. The sample's hash is that of its file.
 */
import { encodeEach, IMAGE_FORMATS, type ImageFormat } from '../../encode/encode.js';
import { sha256 } from './common.js';
import type { ChunkJob, FormatWriter, PutFile } from './spec.js';

export const writer: FormatWriter = {
  async write(job: ChunkJob, put: PutFile): Promise<string[]> {
    if (!(IMAGE_FORMATS as readonly string[]).includes(job.format)) throw new Error(`image-files.ts writes ${IMAGE_FORMATS.join(', ')}, not ${job.format}`);
    const images = await encodeEach(job.data, job.rowShape, job.indices.length, job.range, { format: job.format as ImageFormat, scale: job.scale });
    images.forEach((bytes, k) => put(job.files[k], bytes));
    return images.map(sha256);
  },
};
