/**
 * `tar`: WebDataset shards. Each sample is `<key>.png` (upscaled by `--scale`) and, for a
 * conditional model, `<key>.cls` (its class index as text); fixed timestamps and owners, so the
 * same chunk gives the same bytes. The sample's hash is that of its PNG member.
 */
import { pack } from 'tar-stream';
import { encodeEach } from '../../encode/encode.js';
import { ARCHIVE_TIME, sha256 } from './common.js';
import { FORMATS } from './index.js';
import type { ChunkJob, FormatWriter, PutFile } from './spec.js';

/** The member extension of a sample's image, as the table's row says (the plan's manifest lines name it). */
const IMAGE_MEMBER = FORMATS.tar.chunk.member;

async function tarBytes(members: { name: string; bytes: Uint8Array }[]): Promise<Uint8Array> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const m of members) p.entry({ name: m.name, size: m.bytes.length, mtime: ARCHIVE_TIME, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '' }, Buffer.from(m.bytes));
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export const writer: FormatWriter = {
  async write(job: ChunkJob, put: PutFile): Promise<string[]> {
    const images = await encodeEach(job.data, job.rowShape, job.indices.length, job.range, { format: IMAGE_MEMBER, scale: job.scale });
    const members = images.flatMap((bytes, k) => {
      const label = job.labels[k];
      const image = { name: `${job.keys[k]}.${IMAGE_MEMBER}`, bytes };
      return label === null ? [image] : [image, { name: `${job.keys[k]}.cls`, bytes: Buffer.from(String(label)) }];
    });
    put(job.files[0], await tarBytes(members));
    return images.map(sha256);
  },
};
