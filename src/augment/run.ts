/**
 * `augment()`: write a labelled, deterministic data set from a generator (./plan.ts says what it
 * holds). The main thread draws the latents and classes and runs the generator chunk by chunk;
 * writer threads encode and write each chunk meanwhile (./writers.ts), so the generator sets the
 * pace; each chunk's manifest lines are appended, in order, once its files are whole
 * (./state.ts), which is what a rerun resumes from.
 *
 * @example
 *   const r = await augment({ model: 'models/mnist-cgan', perClass: 1000, out: 'data/digits' });
 *   r.samplesPerSecond
 */
import { existsSync, rmSync } from 'node:fs';
import { makeFolderSync } from '../io/make-folder.js';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { resolveFlags, type FlagInput } from '../core/flags.js';
import { MANIFEST_FILE, type Manifest } from '../core/manifest.js';
import { seededSamples } from '../core/seeded.js';
import { createProgress } from '../io/progress.js';
import { readManifestFile } from '../runtime/model-folder.js';
import { openGenerator } from '../runtime/node.js';
import { refineFromFlags } from '../runtime/refine/flags.js';
import { checkRefineSupported, describeRefine, refineRequest, type ResolvedRefine } from '../runtime/refine/index.js';
import { VERSION } from '../version.js';
import { AUGMENT_FLAGS } from './flags.js';
import { Plan, type Sample } from './plan.js';
import { openRemote } from './remote.js';
import type { SampleSource } from './sources.js';
import { finishSummary, stopSummary, lockFolder, ManifestWriter, prepareFolder, type Identity } from './state.js';
import type { ChunkJob } from './write-chunk.js';
import { ChunkWriteError, WriterPool } from './writers.js';

export type AugmentOptions = FlagInput<typeof AUGMENT_FLAGS>;

export interface AugmentHooks {
  /** Status lines (default: stderr). */
  log?: (line: string) => void;
  /** A progress bar or periodic lines (default true). */
  progress?: boolean;
  /** Once aborted, no new chunk starts; the chunks in flight finish and the run can be resumed. */
  signal?: { readonly aborted: boolean };
  /** Writer threads (default: 1, or 2 from 4 cores). */
  writers?: number;
}

export interface AugmentResult {
  out: string;
  /** Samples of the whole data set, and of this run's part (its shard). */
  total: number;
  samples: number;
  /** Samples written by this run (the rest were whole already). */
  written: number;
  seconds: number;
  samplesPerSecond: number;
  /** Everything this run owns is written (false: stopped by the signal). */
  complete: boolean;
  manifest: string;
  summary: string;
}

/** The local generator; with a refinement, each batch's latents are refined by the critic first (src/runtime/refine). */
async function openLocal(model: string, device: string, threads: number, refine: ResolvedRefine, log: (line: string) => void): Promise<SampleSource> {
  // Idle onnxruntime threads sleep instead of spinning: the writer threads share these cores
  // (bench/RESULTS.md, 2026-12-07).
  const g = await openGenerator(model, { device, threads, spinning: false });
  for (const r of g.refused) log(`augment: device ${r.device} refused: ${r.reason}`);
  const request = refineRequest(refine);
  try {
    g.checkRefine(request);
  } catch (err) {
    await g.dispose();
    throw err;
  }
  return {
    manifest: g.manifest,
    sha256: g.manifest.export.sha256, // the runtime checked the file against it
    where: refine.method === 'none' ? g.device : `${g.device}, refined: ${describeRefine(refine)}`,
    async run(z, labels, rows) {
      if (refine.method !== 'none' && !rows) throw new InvalidArgumentError('rows', rows, "each row's seed and index (a refinement depends on them)");
      const latents = refine.method === 'none' ? z : await g.refineLatents({ seed: rows!.seed, indices: rows!.indices, z, labels }, request);
      const out = await g.run(latents, labels);
      return { data: out.data, rowShape: out.dims.slice(1) };
    },
    close: () => g.dispose(),
  };
}

/**
 * The latents and classes of `samples` (indices of one seed with the plan's classes), from the
 * core's `seededSamples` for each run of consecutive indices: what the server and the runtime give
 * for the same `(seed, start, n, labels)`.
 */
export function seededOf(manifest: Manifest, samples: readonly Sample[], seed: number): { z: Float32Array; labels: Int32Array | null } {
  const z = new Float32Array(samples.length * manifest.latent.dim);
  const labels = manifest.conditional ? new Int32Array(samples.length) : null;
  for (let k = 0; k < samples.length; ) {
    let run = 1;
    while (k + run < samples.length && samples[k + run].index === samples[k].index + run) run++;
    const part = samples.slice(k, k + run);
    const s = seededSamples(manifest, { seed, start: samples[k].index, n: run, labels: labels ? part.map((x) => x.label!) : undefined });
    z.set(s.z, k * manifest.latent.dim);
    if (labels) labels.set(s.labels!, k);
    k += run;
  }
  return { z, labels };
}

export async function augment(given: AugmentOptions, hooks: AugmentHooks = {}): Promise<AugmentResult> {
  const log = hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const f = resolveFlags(AUGMENT_FLAGS, given);
  const refine = refineFromFlags(f);
  if (f.remote && refine.method !== 'none') throw new InvalidArgumentError('--refine', refine.method, 'none with --remote (the samples are refined where the critic runs: drop --remote to refine on this machine)');
  // The arguments are checked against the manifest (./plan.ts) before a session loads or a device is probed.
  let remote: SampleSource | null = null;
  let manifest: Manifest;
  if (f.remote) {
    remote = await openRemote({ url: f.remote, model: f.model, apiKey: f.apiKey ?? null, log });
    manifest = remote.manifest;
  } else {
    if (!existsSync(join(f.model, MANIFEST_FILE))) throw new InvalidArgumentError('--model', f.model, `a model folder holding ${MANIFEST_FILE} (e.g. models/<name>)`);
    manifest = (await readManifestFile(f.model)).manifest;
    // A model without a critic is refused now, before the folder is touched (the generator checks it again).
    const has = { critic: manifest.critic !== null, refine: manifest.critic?.refine != null };
    checkRefineSupported(refine, has, manifest.name, '--refine');
  }
  const plan = new Plan({ perClass: f.perClass, count: f.count, format: f.format, seed: f.seed, shard: f.shard, chunk: f.chunk, scale: f.scale, classes: f.classes }, manifest);
  const out = resolve(f.out);
  const identity: Identity = {
    model: manifest.name,
    modelSha256: remote ? remote.sha256 : manifest.export.sha256, // the runtime checks the local file against it
    perClass: f.perClass ?? null,
    count: f.count ?? null,
    classes: f.perClass !== undefined ? plan.classes : null,
    format: f.format,
    seed: f.seed,
    scale: f.scale,
    chunk: f.chunk,
    shard: plan.shard ? `${plan.shard.i}/${plan.shard.k}` : null,
    refine: refine.method === 'none' ? null : refineRequest(refine),
  };
  let lock;
  try {
    lock = lockFolder(out, plan);
  } catch (err) {
    await remote?.close();
    throw err instanceof ChunkWriteError ? outWriteError(err, null, plan.ownedSamples(), plan.metaFile('manifest')) : err;
  }
  try {
    return await writeSet(f, plan, identity, out, remote, refine, hooks, log);
  } finally {
    lock.release();
  }
}

/**
 * A failure to write under `--out` (a data file, the manifest, the summary, the lock), in one line
 * saying what is kept (`done`: samples whole and listed, null before the manifest was read).
 */
function outWriteError(err: ChunkWriteError, done: number | null, samples: number, manifestName: string): WganxError {
  const full = err.code === 'ENOSPC' || err.code === 'EDQUOT';
  const kept = done === null ? '' : `; ${done} of ${samples} samples are whole and listed in ${manifestName}`;
  return new WganxError(`--out: ${full ? 'the disk is full' : 'cannot write'} (${err.code ?? err.message}) writing ${err.file}${kept}; ${full ? 'free some space and ' : ''}run the same command again to finish`);
}

/** The run proper, holding the lock of its part of `out`. */
async function writeSet(f: ReturnType<typeof resolveFlags<typeof AUGMENT_FLAGS>>, plan: Plan, identity: Identity, out: string, remote: SampleSource | null, refine: ResolvedRefine, hooks: AugmentHooks, log: (line: string) => void): Promise<AugmentResult> {
  const manifest = plan.manifest;
  const writers = hooks.writers ?? (availableParallelism() >= 4 ? 2 : 1);
  const owned = plan.ownedChunks();
  const samples = plan.ownedSamples();
  const manifestName = plan.metaFile('manifest');
  let state;
  try {
    state = await prepareFolder(out, plan, identity, VERSION);
  } catch (err) {
    await remote?.close();
    throw err instanceof ChunkWriteError ? outWriteError(err, null, samples, manifestName) : err;
  }
  if (state.repaired) log(`augment: ${state.repaired}`);
  const manifestPath = join(out, manifestName);
  const summaryPath = join(out, plan.metaFile('summary'));
  const base = { out, total: plan.total, samples, manifest: manifestPath, summary: summaryPath };
  if (state.finished) {
    await remote?.close();
    log(`nothing to do: ${out} already holds the complete data set (${samples} samples${plan.shard ? `, shard ${identity.shard}` : ''})`);
    return { ...base, written: 0, seconds: 0, samplesPerSecond: 0, complete: true };
  }
  const source = remote ?? (await openLocal(f.model, f.device, f.threads, refine, log));
  try {
    log(`augment: ${samples} samples of ${manifest.name} (${source.where}) → ${out}${plan.shard ? ` (shard ${identity.shard} of ${plan.total})` : ''}${state.doneSamples ? `; resuming after ${state.doneSamples} whole` : ''}`);
    if (plan.filePerSample) {
      makeFolderSync(out);
      for (const c of plan.classes ?? (manifest.conditional ? manifest.conditional.labels.map((_, i) => i) : [])) makeFolderSync(join(out, plan.labelFolder(c)));
    }

    const range = manifest.output.range;
    const lines = await ManifestWriter.open(out, manifestName);
    const pool = new WriterPool(writers);
    const progress = hooks.progress === false ? null : createProgress({ label: 'augment', unit: 'samples', total: samples, start: state.doneSamples });
    const t0 = performance.now();
    let written = 0;
    let done = state.doneSamples;
    let nextId = 0;
    /** Chunks being written, oldest first: their lines are appended in this order. */
    const inFlight: { chunk: number; samples: Sample[]; files: string[]; keys: string[]; written: Promise<string[]> }[] = [];
    let failure: unknown = null;

    const settleOldest = async () => {
      const c = inFlight[0];
      const sha = await c.written;
      inFlight.shift();
      await lines.append(c.samples.map((s, k) => ({ ...plan.lineOf(s, k, c.chunk), sha256: sha[k] })));
      done += c.samples.length;
      written += c.samples.length;
      progress?.update(done);
    };

    try {
      for (let next = state.doneChunks; next < owned.length && !hooks.signal?.aborted; next++) {
        const chunk = owned[next];
        const [a, b] = plan.chunkRange(chunk);
        const chunkSamples = Array.from({ length: b - a }, (_, k) => plan.sample(a + k));
        // Generate the chunk, --batch samples per run; the writer threads meanwhile write earlier chunks.
        let data: Float32Array | null = null;
        let rowShape: number[] = [];
        for (let s = 0; s < chunkSamples.length; s += f.batch) {
          const part = chunkSamples.slice(s, s + f.batch);
          const { z, labels } = seededOf(manifest, part, f.seed);
          const res = await source.run(z, labels, { seed: f.seed, indices: part.map((x) => x.index) });
          const rowSize = res.data.length / part.length;
          data ??= new Float32Array(chunkSamples.length * rowSize);
          data.set(res.data, s * rowSize);
          rowShape = res.rowShape;
        }
        const files = chunkSamples.map((x) => plan.fileOf(x, chunk));
        const keys = chunkSamples.map((x) => plan.key(x));
        const job: ChunkJob = { id: nextId++, out, format: f.format, files, keys, data: data!, rowShape, range: [range[0], range[1]], scale: f.scale, labels: chunkSamples.map((x) => x.label), indices: chunkSamples.map((x) => x.index), seed: f.seed };
        const entry = { chunk, samples: chunkSamples, files, keys, written: pool.write(job) };
        entry.written.catch(() => {}); // awaited in order below
        inFlight.push(entry);
        while (inFlight.length > writers) await settleOldest();
      }
      while (inFlight.length > 0) await settleOldest();
    } catch (err) {
      failure = err;
    } finally {
      progress?.stop();
      // Later chunks may still be writing: let them end, without lines (a rerun writes them again).
      const settled = await Promise.allSettled(inFlight.map((c) => c.written));
      try {
        await lines.close();
      } finally {
        await pool.close();
      }
      // A chunk that failed may have left its samples' files cut short: remove them (chunk files are renamed into place whole).
      if (plan.filePerSample) {
        settled.forEach((r, i) => {
          if (r.status === 'rejected') for (const file of inFlight[i].files) rmSync(join(out, file), { force: true });
        });
      }
    }
    if (failure) throw failure instanceof ChunkWriteError ? outWriteError(failure, done, samples, manifestName) : failure;
    const seconds = (performance.now() - t0) / 1000;
    const samplesPerSecond = written / Math.max(seconds, 1e-6);
    const complete = done === samples;
    try {
      if (complete) await finishSummary(out, plan, { seconds: Math.round(seconds * 10) / 10, samplesPerSecond: Math.round(samplesPerSecond) });
      else await stopSummary(out, plan, done);
    } catch (err) {
      throw err instanceof ChunkWriteError ? outWriteError(err, done, samples, manifestName) : err;
    }
    log(complete ? `wrote ${written} samples in ${seconds.toFixed(1)} s (${samplesPerSecond.toFixed(0)} samples/s); ${out} holds all ${samples}` : `stopped after ${done} of ${samples} samples; run the same command again to finish`);
    return { ...base, written, seconds, samplesPerSecond, complete };
  } finally {
    await source.close();
  }
}
