/**
 * What an augmentation data set holds, as a pure function of its arguments and the model: which
 * latent index and class each sample has, which chunk of files it lands in, what those files are
 * called, and which chunks a shard writes. Nothing here depends on the batch size, the device or
 * the machine, so the same arguments always describe the same files, and the k shards of a data
 * set are disjoint parts whose union is the unsharded set.
 *
 * Samples are numbered 0…total−1 and cut into chunks of `--chunk` samples (one npz/tar/csv file
 * each); shard i of k writes chunks i, i+k, i+2k, …
 * - `--count n`: sample j is latent index j of `--seed`, with the core's default class (exactly
 *   what the server answers for `{seed, start: j, n: 1}`).
 * - `--per-class K`: sample j is the k-th sample (k = ⌊j / |classes|⌋) of the (j mod |classes|)-th
 *   selected class c, drawn at latent index k·C + c (C = the model's class count). Each class owns
 *   its own indices whatever the selection, and a larger K extends a smaller one.
 *
 * @example
 *   const plan = new Plan(flags, manifest);
 *   plan.sample(0)          // { index: 0, label: 3 }
 *   plan.ownedChunks()      // [0, 1, 2] (unsharded)
 */
import { InvalidArgumentError } from '../core/errors.js';
import { classFromText, classIndex } from '../core/labels.js';
import type { Manifest } from '../core/manifest.js';
import { seededSamples } from '../core/seeded.js';
import { formatSpec, formatsFor, type AugmentFormat, type FormatSpec } from './formats/index.js';

export interface PlanArgs {
  perClass?: number;
  count?: number;
  format: AugmentFormat;
  seed: number;
  shard?: string;
  chunk: number;
  scale: number;
  classes?: string[];
}

export interface Sample {
  /** Latent index (of `seed`). */
  index: number;
  /** Class index, or null for an unconditional model. */
  label: number | null;
}

/** One line of `manifest.jsonl` (less the sha256 of the sample's bytes). */
export interface ManifestLine {
  file: string;
  /** The sample's member of a tar shard. */
  member?: string;
  /** The sample's row in an npz/csv chunk. */
  row?: number;
  index: number;
  label?: number;
  labelName?: string;
  seed: number;
  model: string;
}

export interface Shard {
  i: number;
  k: number;
}

/** `i/k` → { i, k }, refusing anything but 0 ≤ i < k. */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const i = m ? Number(m[1]) : NaN;
  const k = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(i) || !Number.isSafeInteger(k) || k < 1 || i >= k) {
    throw new InvalidArgumentError('--shard', text, 'i/k with 0 ≤ i < k, e.g. 0/4, 1/4, 2/4 and 3/4 for four parts');
  }
  return { i, k };
}

/** A class name usable as a folder name as it is; anything else becomes `class-<index>`. */
function labelFolder(name: string, index: number): string {
  return /^[\p{L}\p{N}_ .-]{1,100}$/u.test(name) && name !== '.' && name !== '..' && !name.startsWith('.') ? name : `class-${index}`;
}

export class Plan {
  readonly total: number;
  readonly chunks: number;
  readonly shard: Shard | null;
  /** Selected class indices (per-class mode), in order. */
  readonly classes: number[] | null;
  /** The row of `--format` (./formats/index.ts). */
  readonly format: FormatSpec;
  private readonly folders: string[];

  constructor(
    readonly args: PlanArgs,
    readonly manifest: Manifest,
  ) {
    const { perClass, count } = args;
    const conditional = manifest.conditional;
    if ((perClass === undefined) === (count === undefined)) {
      throw new InvalidArgumentError('--per-class/--count', perClass ?? count ?? null, 'exactly one of --per-class K (samples per class) and --count N (samples in all)');
    }
    if (perClass !== undefined && !conditional) throw new InvalidArgumentError('--per-class', perClass, `nothing: model "${manifest.name}" is not conditional (use --count)`);
    if (args.classes !== undefined && perClass === undefined) throw new InvalidArgumentError('--classes', args.classes.join(','), 'nothing without --per-class');
    if (args.classes !== undefined && args.classes.length === 0) throw new InvalidArgumentError('--classes', '', 'at least one class name or index, comma-separated (leave the flag out for every class)');
    const kind = manifest.kind;
    this.format = formatSpec(args.format);
    const allowed = formatsFor(kind);
    if (!allowed.includes(args.format)) throw new InvalidArgumentError('--format', args.format, `one of ${allowed.join(', ')} for ${kind === 'points' ? 'a point' : 'an image'} model`);
    if (kind === 'points' && args.scale !== 1) throw new InvalidArgumentError('--scale', args.scale, '1 for a point model');
    if (perClass !== undefined) {
      // A class is named as in the manifest, or by its index when no class has that name.
      const picked = args.classes
        ? args.classes.map((n) => classIndex(manifest, classFromText(manifest, n), '--classes'))
        : conditional!.labels.map((_, c) => c);
      if (new Set(picked).size !== picked.length) throw new InvalidArgumentError('--classes', args.classes!.join(','), 'each class once');
      this.classes = picked.sort((a, b) => a - b);
      this.total = perClass * this.classes.length;
    } else {
      this.classes = null;
      this.total = count!;
    }
    if (!Number.isSafeInteger(this.total) || this.total > Number.MAX_SAFE_INTEGER / 2) throw new InvalidArgumentError('--count', this.total, 'fewer samples');
    this.chunks = Math.ceil(this.total / args.chunk);
    this.shard = args.shard === undefined ? null : parseShard(args.shard);
    this.folders = conditional ? conditional.labels.map((n, c) => labelFolder(n, c)) : [];
  }

  /** Sample j of the data set (0 ≤ j < total). */
  sample(j: number): Sample {
    const conditional = this.manifest.conditional;
    if (this.classes) {
      const per = this.classes.length;
      const k = Math.floor(j / per);
      const c = this.classes[j % per];
      return { index: k * conditional!.numClasses + c, label: c };
    }
    // The class the server and the runtime give sample j of the seed (the core's seededSamples).
    return { index: j, label: conditional ? seededSamples(this.manifest, { seed: this.args.seed, start: j, n: 1 }).labels![0] : null };
  }

  /** The samples of chunk `c`: [first, end). */
  chunkRange(c: number): [number, number] {
    return [c * this.args.chunk, Math.min(this.total, (c + 1) * this.args.chunk)];
  }

  /** The chunks this run writes, in order. */
  ownedChunks(): number[] {
    const { shard } = this;
    const out: number[] = [];
    for (let c = shard ? shard.i : 0; c < this.chunks; c += shard ? shard.k : 1) out.push(c);
    return out;
  }

  /** Samples this run writes. */
  ownedSamples(): number {
    return this.ownedChunks().reduce((n, c) => n + this.chunkRange(c)[1] - this.chunkRange(c)[0], 0);
  }

  /** The folder of a class in image-file layouts (its name when that is a safe folder name). */
  labelFolder(label: number): string {
    return this.folders[label];
  }

  /** One file per sample (ImageFolder's layout: a folder per class), not chunk files. */
  get filePerSample(): boolean {
    return this.format.chunk === null;
  }

  /**
   * Where a sample's bytes go, relative to `--out`: its own file in a format of one file per
   * sample (in its class's folder), else its chunk's file.
   */
  fileOf(s: Sample, chunk: number): string {
    const { seed } = this.args;
    const { ext } = this.format;
    if (this.filePerSample) return s.label === null ? `${s.index}.${ext}` : `${this.labelFolder(s.label)}/${seed}-${s.index}.${ext}`;
    return this.chunkFile(chunk);
  }

  /** The file of a chunk in a chunked format: `<stem>-NNNNNN.<ext>`. */
  chunkFile(chunk: number): string {
    const { chunk: layout, ext } = this.format;
    if (layout === null) throw new Error(`--format ${this.args.format} writes one file per sample, not chunk files`);
    return `${layout.stem}-${String(chunk).padStart(6, '0')}.${ext}`;
  }

  /** The WebDataset key of a sample (no dots: loaders split member names at the first one). */
  key(s: Sample): string {
    return `${this.args.seed}-${s.index}`;
  }

  /**
   * The manifest line of sample `s`, the `row`-th of chunk `chunk`, less its `sha256`: what a
   * run appends and what a rerun checks the lines it keeps against.
   */
  lineOf(s: Sample, row: number, chunk: number): ManifestLine {
    const { seed } = this.args;
    const layout = this.format.chunk;
    const labels = this.manifest.conditional?.labels ?? null;
    return {
      file: this.fileOf(s, chunk),
      ...(layout === null ? {} : layout.member !== undefined ? { member: `${this.key(s)}.${layout.member}` } : { row }),
      index: s.index,
      ...(s.label === null ? {} : { label: s.label, labelName: labels![s.label] }),
      seed,
      model: this.manifest.name,
    };
  }

  /** `manifest.jsonl` / `summary.json`, or their shard's own (`manifest.1-of-4.jsonl`). */
  metaFile(base: 'manifest' | 'summary'): string {
    const ext = base === 'manifest' ? 'jsonl' : 'json';
    return this.shard ? `${base}.${this.shard.i}-of-${this.shard.k}.${ext}` : `${base}.${ext}`;
  }
}
