/**
 * The bookkeeping that makes an augmentation run resumable: `summary.json` records the arguments
 * that shape the files (written first, with status `running`; `complete` at the end), and
 * `manifest.jsonl` gains one chunk's lines at a time, after that chunk's files are written. After
 * the process dies at any moment (a crash, SIGKILL; not a power loss: only the manifest is synced
 * to the disk), a rerun keeps the lines of the chunks that are whole, cuts a torn tail,
 * and writes every other chunk again (the same bytes, since they are a pure function of the
 * arguments). Shards keep their own `summary.i-of-k.json` and `manifest.i-of-k.jsonl`.
 *
 * One writer at a time: a run holds `.wganx-augment.lock` (a shard: `.wganx-augment.i-of-k.lock`,
 * src/io/folder-lock.ts) from before it reads the folder until it ends, so a second run of the
 * same part is refused instead of appending every line twice. A rerun keeps a manifest line only
 * when it is the line the plan gives for that position (file, index, class…) and its data file is
 * there; from the first line that is not, the rest is cut and written again.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { makeFolderSync } from '../io/make-folder.js';
import { open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { describeValue, InvalidArgumentError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { acquireLock, LockHeldError, type FolderLock } from '../io/folder-lock.js';
import type { Plan } from './plan.js';
import { ChunkWriteError } from './writers.js';

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
  /** The refinement by the critic (`{ method, …parameters }`), or null for raw samples (and data sets written before --refine existed). */
  refine: ({ method: string } & Record<string, unknown>) | null;
}

/** The flag behind each identity key, for the refusal's message. */
const FLAG_OF: Readonly<Record<keyof Identity, string>> = {
  model: '--model', modelSha256: '--model', perClass: '--per-class', count: '--count', classes: '--classes',
  format: '--format', seed: '--seed', scale: '--scale', chunk: '--chunk', shard: '--shard', refine: '--refine',
};

export interface Summary {
  tool: 'wganx augment';
  version: string;
  /** `running` while a run writes (or after a kill), `stopped` after a signal stopped it, `complete` at the end. */
  status: 'running' | 'stopped' | 'complete';
  identity: Identity;
  /** Samples in the whole data set, and in this run's part of it. */
  total: number;
  samples: number;
  /** Samples of this part on disk when a signal stopped the run (status `stopped`). */
  written?: number;
  startedAt: string;
  finishedAt?: string;
  seconds?: number;
  samplesPerSecond?: number;
  manifest: string;
  [key: string]: unknown;
}

const SUMMARY_FILE = /^summary(\.\d+-of-\d+)?\.json$/;

/** A sample's sha256 in a manifest line. */
const SHA256 = /^[0-9a-f]{64}$/;

/** The lock file of this run's part of the data set (hidden: not part of the data set). */
export function lockFile(plan: Plan): string {
  return plan.shard ? `.wganx-augment.${plan.shard.i}-of-${plan.shard.k}.lock` : '.wganx-augment.lock';
}

/**
 * Create `out` when new and take the lock of this run's part of it; refuse, naming `--out`, a
 * file, or a part another run is writing.
 */
export function lockFolder(out: string, plan: Plan): FolderLock {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new InvalidArgumentError('--out', out, 'a folder for the data set (it names a file)');
  try {
    makeFolderSync(out);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InvalidArgumentError('--out', out, `a folder that can be created (${e.code ?? e.message}${e.path ? ` at ${e.path}` : ''})`);
  }
  try {
    return acquireLock(join(out, lockFile(plan)));
  } catch (err) {
    if (!(err instanceof LockHeldError)) {
      const e = err as NodeJS.ErrnoException;
      throw e.code ? new ChunkWriteError(lockFile(plan), e.code, e.message) : err;
    }
    const { pid, host, since } = err.holder;
    const part = plan.shard ? `shard ${plan.shard.i}/${plan.shard.k} of ` : '';
    throw new InvalidArgumentError('--out', out, `a folder no other run is writing: another wganx augment (pid ${pid} on ${host}, since ${since}) is writing ${part}this data set (${lockFile(plan)}); let it finish, or rerun this command once it has ended to resume`);
  }
}

/** Write a bookkeeping file, reporting a failure like a data file's (src/augment/run.ts names `--out`). */
async function writeMeta(out: string, name: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(join(out, name), text);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ChunkWriteError(name, e.code ?? null, e.message);
  }
}

/** `.summary.json.tmp-<pid>-<hex>` left by a run killed while writing it (src/io/atomic-write.ts). */
function removeStaleTemporaries(out: string, name: string): void {
  const prefix = `.${name}.tmp-`;
  for (const e of readdirSync(out)) if (e.startsWith(prefix)) rmSync(join(out, e), { force: true });
}

/** "0/2" → 2; null (unsharded) → 1. */
const partsOf = (shard: string | null) => (shard === null ? 1 : Number(shard.split('/')[1]));

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
    // A key a summary lacks (written before it existed) had the value that means "as before": null.
    if (ignore.includes(key) || same(was[key] ?? null, now[key])) continue;
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
  /** What was wrong with the manifest beyond a torn last line, when its lines were cut. */
  repaired: string | null;
}

/**
 * Check the folder against the arguments, repair the manifest to its last whole chunk, and mark
 * the run as started; the caller holds the part's lock ({@link lockFolder}). Throws
 * InvalidArgumentError naming `--out` or the differing flag, ChunkWriteError when the summary
 * cannot be written.
 */
export async function prepareFolder(out: string, plan: Plan, identity: Identity, version: string): Promise<Resume> {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new InvalidArgumentError('--out', out, 'a folder for the data set (it names a file)');
  const summaryName = plan.metaFile('summary');
  const manifestName = plan.metaFile('manifest');
  const summaryPath = join(out, summaryName);
  const manifestPath = join(out, manifestName);
  const mine = await readSummary(summaryPath);
  if (mine) checkIdentity(out, summaryName, mine.identity, identity);
  if (existsSync(out)) {
    // Hidden files are not the data set's (e.g. another shard's summary being written atomically).
    const entries = readdirSync(out).filter((e) => !e.startsWith('.'));
    const summaries = entries.filter((e) => SUMMARY_FILE.test(e));
    if (summaries.length === 0 && entries.length > 0) {
      throw new InvalidArgumentError('--out', out, `a new or empty folder, or one written by wganx augment (it holds ${entries.length} other entries)`);
    }
    // Another part of the same data set is here too: the same arguments, and the same number of parts.
    for (const s of summaries.filter((e) => e !== summaryName)) {
      const other = await readSummary(join(out, s));
      if (!other) continue;
      checkIdentity(out, s, other.identity, identity, ['shard']);
      const k = partsOf(other.identity.shard);
      if (k !== partsOf(identity.shard)) {
        const was = k === 1 ? 'no --shard: the folder holds an unsharded data set' : `a part i/${k} (0 ≤ i < ${k}): the folder holds shards of ${k} parts`;
        throw new InvalidArgumentError('--shard', identity.shard ?? '(none)', `${was} (${s}); use another --out for another split`);
      }
    }
    removeStaleTemporaries(out, summaryName);
  }

  // The manifest keeps the lines of whole chunks, in order, each the line the plan gives for its
  // place and with its data file present; from the first line that is not, the rest is cut.
  const owned = plan.ownedChunks();
  let doneChunks = 0;
  let doneSamples = 0;
  let repaired: string | null = null;
  if (existsSync(manifestPath)) {
    const text = await readFile(manifestPath, 'utf8');
    let keep = 0;
    let why: string | null = null;
    chunks: while (doneChunks < owned.length) {
      const chunk = owned[doneChunks];
      const [a, b] = plan.chunkRange(chunk);
      let end = keep;
      const files = new Set<string>();
      for (let j = a; j < b; j++) {
        const lineNo = doneSamples + (j - a) + 1;
        const nl = text.indexOf('\n', end);
        if (nl < 0) {
          if (end < text.length) why = `line ${lineNo} is cut short`;
          break chunks;
        }
        const want = plan.lineOf(plan.sample(j), j - a, chunk);
        let got: Record<string, unknown> | null = null;
        try {
          got = JSON.parse(text.slice(end, nl)) as Record<string, unknown>;
        } catch {
          // not JSON: torn
        }
        const { sha256, ...rest } = got ?? {};
        if (got === null || typeof sha256 !== 'string' || !SHA256.test(sha256) || JSON.stringify(rest) !== JSON.stringify(want)) {
          why = `line ${lineNo} is not sample ${want.index}${want.labelName === undefined ? '' : ` (${want.labelName})`} of ${want.file}`;
          break chunks;
        }
        files.add(want.file);
        end = nl + 1;
      }
      const missing = [...files].find((f) => !existsSync(join(out, f)));
      if (missing !== undefined) {
        why = `${missing}, listed from line ${doneSamples + 1}, is missing`;
        break;
      }
      keep = end;
      doneChunks++;
      doneSamples += b - a;
    }
    const offset = Buffer.byteLength(text.slice(0, keep));
    if (offset < Buffer.byteLength(text)) {
      await truncate(manifestPath, offset);
      // A torn last line is what any kill leaves; anything else is worth a word.
      if (why !== null && !why.endsWith('cut short')) repaired = `${manifestName}: ${why}; keeping the ${doneSamples} lines before it and writing the rest again`;
      else if (doneChunks === owned.length) repaired = `${manifestName}: lines after the last sample cut`;
    }
  }
  const finished = doneChunks === owned.length && mine?.status === 'complete';
  // A killed run's summary says `running` already: nothing to write then.
  if (!finished && (mine?.status !== 'running' || mine.version !== version)) {
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
    await writeMeta(out, summaryName, `${JSON.stringify(summary, null, 2)}\n`);
  }
  return { doneChunks, doneSamples, finished, repaired };
}

/**
 * Appends one chunk's manifest lines at a time, each flushed to disk before the next chunk counts
 * as done. A failed append (a full disk) is cut back off, so no torn line stays, and throws
 * ChunkWriteError naming the manifest.
 */
export class ManifestWriter {
  private constructor(
    private readonly handle: Awaited<ReturnType<typeof open>>,
    private readonly name: string,
    private size: number,
  ) {}

  static async open(out: string, name: string): Promise<ManifestWriter> {
    const handle = await open(join(out, name), 'a');
    return new ManifestWriter(handle, name, (await handle.stat()).size);
  }

  async append(lines: object[]): Promise<void> {
    const bytes = Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    try {
      await this.handle.appendFile(bytes);
      await this.handle.sync();
      this.size += bytes.length;
    } catch (err) {
      await this.handle.truncate(this.size).catch(() => {});
      const e = err as NodeJS.ErrnoException;
      throw new ChunkWriteError(this.name, e.code ?? null, e.message);
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Mark a run that a signal stopped: `stopped`, with how many of its samples are on disk. */
export async function stopSummary(out: string, plan: Plan, written: number): Promise<void> {
  const name = plan.metaFile('summary');
  const summary = (await readSummary(join(out, name)))!;
  await writeMeta(out, name, `${JSON.stringify({ ...summary, status: 'stopped', written, stoppedAt: new Date().toISOString() }, null, 2)}\n`);
}

/** Mark the run complete, with what it took. */
export async function finishSummary(out: string, plan: Plan, extra: Partial<Summary>): Promise<void> {
  const name = plan.metaFile('summary');
  const summary = (await readSummary(join(out, name)))!;
  const { written: _written, stoppedAt: _stoppedAt, ...rest } = summary;
  await writeMeta(out, name, `${JSON.stringify({ ...rest, ...extra, status: 'complete', finishedAt: new Date().toISOString() }, null, 2)}\n`);
}
