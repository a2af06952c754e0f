/**
 * The shape of an augmentation format (a row of ./index.ts) and of the chunk its writer receives.
 * Types only: the table, the plan and the flags read these without loading an encoder.
 */

/** The model outputs a format can hold (the manifest's `kind`). */
export type ModelKind = 'image' | 'points';

export interface FormatSpec {
  /** One phrase for `--format`'s help. */
  readonly help: string;
  /** The extension of the files it writes (without the dot). */
  readonly ext: string;
  /** The model kinds it writes; `--format` refuses it for any other. */
  readonly kinds: readonly ModelKind[];
  /**
   * null: one file per sample, in one folder per class (ImageFolder's layout), written straight to
   * its final name. Otherwise `--chunk` samples a file, `<stem>-NNNNNN.<ext>`, written whole through
   * a temporary name; a sample is found in it as the member `<key>.<member>` (when `member` is
   * set) or as its row.
   */
  readonly chunk: null | { readonly stem: string; readonly member?: string };
  /** The writer's own file (loaded on first use: the table does not load sharp, fflate or tar-stream). */
  readonly load: () => Promise<FormatWriter>;
}

export interface ChunkJob {
  id: number;
  /** The data set folder (absolute). */
  out: string;
  format: string;
  /** Per sample: its file (one file per sample) or its chunk's file, relative to `out`. */
  files: string[];
  /** Per sample: its key (`<seed>-<index>`: a WebDataset key, no dots). */
  keys: string[];
  /** Row-major generator outputs, `count × rowSize`. */
  data: Float32Array;
  rowShape: number[];
  range: [number, number];
  scale: number;
  /** Per sample: class index, or null (unconditional). */
  labels: (number | null)[];
  /** Per sample: latent index. */
  indices: number[];
  seed: number;
}

/** Writes `bytes` to `file` (relative to the data set folder), whole or absent as the row says. */
export type PutFile = (file: string, bytes: Uint8Array) => void;

export interface FormatWriter {
  /**
   * Encode and write the chunk's files through `put`; return the sha256 of each sample's bytes
   * (what `manifest.jsonl` records: its file, its member, or its raw values).
   */
  write(job: ChunkJob, put: PutFile): Promise<string[]>;
}
