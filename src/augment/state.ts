/**
 * The bookkeeping that makes an augmentation run resumable: `summary.json` records the arguments
 * that shape the files (written first, with status `running`; `complete` at the end), and
 * `manifest.jsonl` gains one chunk's lines at a time, after that chunk's files are written. After
 * the process dies at any moment (a crash, SIGKILL; not a power loss: only the manifest is synced
 * to the disk), a rerun keeps the lines of the chunks that are whole, cuts a torn tail,
 * and writes every other chunk again (the same bytes, since they are a pure function of the
 * arguments). Shards keep their own `summary.i-of-k.json` and `manifest.i-of-k.jsonl`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { Plan } from './plan.js';

/** What the files depend on; a rerun must match it, key by key. */
export interface Identity {
  model: string;
  modelSha256: string | null;
  perClass: number | null;
  count: number | null;
  classes: number[] | null;
  format: string;
  seed: number;
  scale: number;
  chunk: number;
  shard: string | null;
}

/** The flag behind each identity key, for the refusal's message. */
const FLAG_OF: Readonly<Record<keyof Identity, string>> = {
  model: '--model', modelSha256: '--model', perClass: '--per-class', count: '--count', classes: '--classes',
  format: '--format', seed: '--seed', scale: '--scale', chunk: '--chunk', shard: '--shard',
};

export interface Summary {
  tool: 'wganx augment';
  version: string;
  status: 'running' | 'complete';
  identity: Identity;
  /** Samples in the whole data set, and in this run's part of it. */
  total: number;
  samples: number;
  startedAt: string;
  finishedAt?: string;
  seconds?: number;
  samplesPerSecond?: number;
  manifest: string;
  [key: string]: unknown;
}

const SUMMARY_FILE = /^summary(\.\d+-of-\d+)?\.json$/;

async function readSummary(path: string): Promise<Summary | null> {
  if (!existsSync(path)) return null;
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as Summary;
    return s.tool === 'wganx augment' ? s : null;
  } catch {
    return null;
  }
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Refuse a folder written with other arguments, naming the first flag that differs. */
function checkIdentity(out: string, file: string, was: Identity, now: Identity, ignore: (keyof Identity)[] = []): void {
  for (const key of Object.keys(FLAG_OF) as (keyof Identity)[]) {
    if (ignore.includes(key) || same(was[key], now[key])) continue;
    const what = key === 'modelSha256' ? `a model file with sha256 ${describeValue(was[key])}` : `${describeValue(was[key])}`;
    throw new InvalidArgumentError(FLAG_OF[key], key === 'modelSha256' ? now.modelSha256 : now[key], `${what}, the value ${out} was written with (${file}); use another --out, or the same arguments to resume`);
  }
}

export interface Resume {
  /** Owned chunks already whole (their lines are in the manifest). */
  doneChunks: number;
  /** Samples in those chunks. */
  doneSamples: number;
  /** Nothing left to do. */
  finished: boolean;
}

/**
 * Check the folder against the arguments, repair the manifest to its last whole chunk, and mark
 * the run as started. Throws InvalidArgumentError naming `--out` or the differing flag.
 */
export async function prepareFolder(out: string, plan: Plan, identity: Identity, version: string): Promise<Resume> {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new InvalidArgumentError('--out', out, 'a folder for the data set (it names a file)');
  const summaryName = plan.metaFile('summary');
  const manifestName = plan.metaFile('manifest');
  const summaryPath = join(out, summaryName);
  const manifestPath = join(out, manifestName);
  const mine = await readSummary(summaryPath);
  if (mine) checkIdentity(out, summaryName, mine.identity, identity);
  else if (existsSync(out)) {
    // Hidden files are not the data set's (e.g. another shard's summary being written atomically).
    const entries = readdirSync(out).filter((e) => !e.startsWith('.'));
    const summaries = entries.filter((e) => SUMMARY_FILE.test(e));
    if (summaries.length === 0 && entries.length > 0) {
      throw new InvalidArgumentError('--out', out, `a new or empty folder, or one written by wganx augment (it holds ${entries.length} other entries)`);
    }
    // Another shard of the same data set writes here too: the same arguments but the shard.
    for (const s of summaries) {
      const other = await readSummary(join(out, s));
      if (other) checkIdentity(out, s, other.identity, identity, ['shard']);
    }
  }

  // The manifest keeps the lines of whole chunks, in order; a torn or partial tail is cut.
  const owned = plan.ownedChunks();
  let doneChunks = 0;
  let doneSamples = 0;
  if (existsSync(manifestPath)) {
    const text = await readFile(manifestPath, 'utf8');
    let keep = 0;
    let pos = 0;
    while (doneChunks < owned.length) {
      const [a, b] = plan.chunkRange(owned[doneChunks]);
      const need = b - a;
      let end = pos;
      let got = 0;
      while (got < need) {
        const nl = text.indexOf('\n', end);
        if (nl < 0) break;
        try {
          JSON.parse(text.slice(end, nl));
        } catch {
          break;
        }
        end = nl + 1;
        got++;
      }
      if (got < need) break;
      pos = end;
      keep = end;
      doneChunks++;
      doneSamples += need;
    }
    const offset = Buffer.byteLength(text.slice(0, keep));
    if (offset < Buffer.byteLength(text)) await truncate(manifestPath, offset);
  }
  const finished = doneChunks === owned.length && mine?.status === 'complete';
  if (!finished) {
    const summary: Summary = {
      tool: 'wganx augment',
      version,
      status: 'running',
      identity,
      total: plan.total,
      samples: plan.ownedSamples(),
      startedAt: mine?.startedAt ?? new Date().toISOString(),
      manifest: manifestName,
    };
    await writeFileAtomic(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  }
  return { doneChunks, doneSamples, finished };
}

/** Appends one chunk's manifest lines at a time, each flushed to disk before the next chunk counts as done. */
export class ManifestWriter {
  private constructor(private readonly handle: Awaited<ReturnType<typeof open>>) {}

  static async open(path: string): Promise<ManifestWriter> {
    return new ManifestWriter(await open(path, 'a'));
  }

  async append(lines: object[]): Promise<void> {
    await this.handle.appendFile(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    await this.handle.sync();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Mark the run complete, with what it took. */
export async function finishSummary(out: string, plan: Plan, extra: Partial<Summary>): Promise<void> {
  const path = join(out, plan.metaFile('summary'));
  const summary = (await readSummary(path))!;
  await writeFileAtomic(path, `${JSON.stringify({ ...summary, ...extra, status: 'complete', finishedAt: new Date().toISOString() }, null, 2)}\n`);
}
