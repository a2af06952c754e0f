/**
 * The formats `wganx augment --format` writes, one row each ({@link FormatSpec}: extension, the
 * model kinds it holds, one file per sample or chunk files, its writer). Every consumer reads this
 * table: the flag table (`../flags.ts`: choices and help), the plan (`../plan.ts`: which kinds a
 * format allows, file names, manifest lines), the run (`../run.ts`: class folders, clean-up of a
 * failed chunk) and the writer threads (`../write-chunk.ts`: the writer and how its files are put).
 * An unknown name is an error that lists the table; nothing falls through to a default writer.
 *
 * Adding a format is a row here plus its writer file (exporting `writer`, a {@link FormatWriter});
 * test/augment/formats.test.ts fails when a row lacks a piece (its writer, a kind, files where the
 * plan says).
 *
 * @example
 *   formatSpec('tar').chunk        // { stem: 'shard', member: 'png' }
 *   const writer = await formatSpec('npz').load();   // writer.write(job, put) → sha256 per sample
 */
import { tableRow } from '../../core/table.js';
import type { FormatSpec, ModelKind } from './spec.js';

export const FORMATS = {
  png: { help: 'PNG files, a folder per class', ext: 'png', kinds: ['image'], chunk: null, load: async () => (await import('./image-files.js')).writer },
  webp: { help: 'WebP files, a folder per class', ext: 'webp', kinds: ['image'], chunk: null, load: async () => (await import('./image-files.js')).writer },
  jpeg: { help: 'JPEG files, a folder per class', ext: 'jpeg', kinds: ['image'], chunk: null, load: async () => (await import('./image-files.js')).writer },
  npz: { help: 'NumPy .npz chunks', ext: 'npz', kinds: ['image', 'points'], chunk: { stem: 'part' }, load: async () => (await import('./npz.js')).writer },
  tar: { help: 'WebDataset .tar shards', ext: 'tar', kinds: ['image'], chunk: { stem: 'shard', member: 'png' }, load: async () => (await import('./tar.js')).writer },
  csv: { help: 'CSV chunks (point models)', ext: 'csv', kinds: ['points'], chunk: { stem: 'part' }, load: async () => (await import('./csv.js')).writer },
} as const satisfies Record<string, FormatSpec>;

export type AugmentFormat = keyof typeof FORMATS;
export const AUGMENT_FORMATS = Object.keys(FORMATS) as AugmentFormat[];

/** The row of `name`, or an error that lists the table. */
export function formatSpec(name: string): FormatSpec {
  return tableRow<FormatSpec>(FORMATS, '--format', name);
}

/** The formats that hold a model of `kind`, in table order. */
export function formatsFor(kind: ModelKind): AugmentFormat[] {
  return AUGMENT_FORMATS.filter((f) => (FORMATS[f].kinds as readonly ModelKind[]).includes(kind));
}

export type { ChunkJob, FormatSpec, FormatWriter, ModelKind, PutFile } from './spec.js';
