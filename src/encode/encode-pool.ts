/**
 * Large response encodings off the event loop. One image per sample for 1,024 samples, or the
 * JSON text of a 1,024-row KServe output, costs a few hundred milliseconds of JavaScript
 * (`npm run bench:serve-large`, bench/RESULTS.md); done on the main thread it would stall every
 * other request. Grids
 * of many samples go there too. Small jobs (a few samples: what load tests send) stay on the main
 * thread, where a thread hop would cost more than the work, unless several arrive in the same
 * event-loop turn: a batch of single-sample requests finishes together, and their images then go to
 * a thread as one job (see {@link encodeEachBase64}).
 *
 * The worker threads (./encode-worker.ts) start on first use and do not keep the process alive
 * while idle.
 *
 * @example
 *   const images = await encodeEachBase64(data, [28, 28, 1], 1024, [-1, 1], { format: 'png', scale: 1 });
 *   const png = await encodeGridImage(data, [28, 28, 1], 1024, [-1, 1], { format: 'png', scale: 2 });
 *   const json = await numbersJson(result.data); // Buffer holding "[0.1,-0.25,…]"
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { WganxError } from '../core/errors.js';
import { encodeEach, encodeGrid, numberArrayJson, type ImageFormat } from './encode.js';
import { startWorker } from '../io/worker-thread.js';

/**
 * An encoding thread ended (crashed, exited, or sent an unreadable reply) with this job in flight.
 * The next job starts a fresh thread, so the request can be retried: the server answers 503 with
 * `Retry-After`, as for a crashed session thread (src/serve/http/app.ts).
 */
export class EncodeThreadLost extends WganxError {
  override name = 'EncodeThreadLost';
  constructor(readonly reason: string) {
    super(`the encoding thread stopped (${reason}); retry`);
  }
}

/** Jobs up to this many output pixels (images) or values (JSON) run on the main thread. */
const INLINE_PIXELS = 1 << 16;
const INLINE_VALUES = 1 << 16;
/** WebP and JPEG images go through sharp, whose set-up costs main-thread time per image (bench/RESULTS.md, 2026-12-07): only this many stay on the main thread. */
const INLINE_SHARP_IMAGES = 8;
const POOL_SIZE = Math.max(1, Math.min(2, availableParallelism() - 1));

type EachOptions = { format: ImageFormat; scale: number };
type GridOptions = EachOptions & { columns?: number };

/** What the encode worker is asked to do with `data`. */
export type EncodeJob =
  | { type: 'images'; data: Float32Array; rowShape: number[]; count: number; range: [number, number]; opts: EachOptions }
  | { type: 'grid'; data: Float32Array; rowShape: number[]; count: number; range: [number, number]; opts: GridOptions }
  | { type: 'json'; data: Float32Array };

/** Main thread → encode worker. */
export type EncodeRequest = EncodeJob & { id: number };

/** Encode worker → main thread: base64 images, or bytes (a grid image, JSON text). */
export type EncodeResponse = { id: number; images: string[] } | { id: number; bytes: Uint8Array } | { id: number; error: string };

interface Thread {
  worker: Worker;
  pending: Map<number, { resolve: (r: EncodeResponse) => void; reject: (e: Error) => void }>;
  /** Large jobs in flight: small ones are not queued behind them. */
  large: number;
}

const threads: Thread[] = [];
let nextId = 1;

function spawn(): Thread {
  const t: Thread = { worker: startWorker(new URL('./encode-worker.js', import.meta.url)), pending: new Map(), large: 0 };
  t.worker.unref();
  t.worker.on('message', (msg: EncodeResponse) => {
    const p = t.pending.get(msg.id);
    if (!p) return;
    t.pending.delete(msg.id);
    if (t.pending.size === 0) t.worker.unref();
    p.resolve(msg);
  });
  const fail = (err: EncodeThreadLost) => {
    const i = threads.indexOf(t);
    if (i >= 0) threads.splice(i, 1); // the next job starts a fresh thread
    for (const p of t.pending.values()) p.reject(err);
    t.pending.clear();
  };
  t.worker.on('error', (err) => fail(new EncodeThreadLost(`crashed: ${err.message}`)));
  t.worker.on('exit', (code) => fail(new EncodeThreadLost(`exited with code ${code}`)));
  // A reply that cannot be deserialised would leave its job waiting forever: give up on the thread.
  t.worker.on('messageerror', (err) => {
    fail(new EncodeThreadLost(`sent an unreadable reply: ${err.message}`));
    void t.worker.terminate();
  });
  return t;
}

/**
 * Stops the encoding threads; jobs still running on them fail ({@link EncodeThreadLost}), and the
 * next job starts a fresh thread. (Idle threads never keep a process alive, so servers need not call this.)
 */
export async function stopEncodeThreads(): Promise<void> {
  await Promise.all(threads.map((t) => t.worker.terminate()));
}

/**
 * The least busy thread, or a new one while fewer than POOL_SIZE run and all are busy. For small
 * jobs only a thread without a large job in flight, so that a 1,024-image response cannot hold up
 * small ones; null when there is none (they are then encoded on the main thread).
 */
function pickThread(small: boolean): Thread | null {
  const candidates = small ? threads.filter((x) => x.large === 0) : threads;
  const t = candidates.reduce<Thread | null>((best, x) => (best === null || x.pending.size < best.pending.size ? x : best), null);
  if ((t === null || t.pending.size > 0) && threads.length < POOL_SIZE) {
    const fresh = spawn();
    threads.push(fresh);
    return fresh;
  }
  return t;
}

/**
 * Runs `job` on `thread` (default: {@link pickThread} for a large job), on a copy of its data (the
 * caller keeps its array) unless `copy` is false (the job's array is ours to give).
 */
function submit(job: EncodeJob, thread: Thread | null = null, copy = true): Promise<EncodeResponse> {
  const large = thread === null;
  const t = thread ?? pickThread(false)!;
  const data = copy ? job.data.slice() : job.data;
  const request: EncodeRequest = { ...job, data, id: nextId++ };
  if (large) t.large++;
  return new Promise<EncodeResponse>((resolve, reject) => {
    t.pending.set(request.id, { resolve, reject });
    t.worker.ref(); // a job in flight keeps the process alive
    t.worker.postMessage(request, [data.buffer as ArrayBuffer]);
  })
    .finally(() => {
      if (large) t.large--;
    })
    .then((r) => {
      if ('error' in r) throw new Error(r.error);
      return r;
    });
}

/** A small per-sample image job waiting for the end of this event-loop turn. */
interface SmallImages {
  data: Float32Array;
  rowShape: readonly number[];
  count: number;
  range: readonly [number, number];
  opts: EachOptions;
  resolve: (images: string[]) => void;
  reject: (err: Error) => void;
}

let smallJobs: SmallImages[] = [];
/** How small image jobs were encoded since the process started (tests). */
export const smallImageStats = { inline: 0, coalesced: 0, threadJobs: 0 };

/**
 * {@link encodeEach}, as base64 strings; on a worker thread unless the job is small. Small jobs
 * wait for the end of the event-loop turn: alone, one is encoded on the main thread; several (a
 * batch of single-sample requests delivered together) go to a thread as one job per image kind,
 * which frees the event loop of their deflating and framing (bench/RESULTS.md, 2026-12-07),
 * unless every thread is busy with a large job (they are then encoded on the main thread, as before).
 */
export async function encodeEachBase64(data: Float32Array, rowShape: readonly number[], count: number, range: readonly [number, number], opts: EachOptions): Promise<string[]> {
  const [height, width] = rowShape;
  if (count * height * width * opts.scale * opts.scale <= INLINE_PIXELS && (opts.format === 'png' || count <= INLINE_SHARP_IMAGES)) {
    return new Promise<string[]>((resolve, reject) => {
      if (smallJobs.push({ data, rowShape, count, range, opts, resolve, reject }) === 1) setImmediate(flushSmallJobs);
    });
  }
  const r = await submit({ type: 'images', data, rowShape: [...rowShape], count, range: [range[0], range[1]], opts });
  return (r as { images: string[] }).images;
}

function flushSmallJobs(): void {
  const jobs = smallJobs;
  smallJobs = [];
  const thread = jobs.length > 1 ? pickThread(true) : null;
  if (thread === null) {
    for (const j of jobs) {
      smallImageStats.inline++;
      encodeEach(j.data, j.rowShape, j.count, j.range, j.opts).then((b) => j.resolve(b.map((x) => x.toString('base64'))), j.reject);
    }
    return;
  }
  // One thread job per kind of image (shape, range, format, scale): their rows side by side.
  const kinds = new Map<string, SmallImages[]>();
  for (const j of jobs) {
    const key = JSON.stringify([j.rowShape, j.range, j.opts.format, j.opts.scale]);
    const list = kinds.get(key);
    if (list) list.push(j);
    else kinds.set(key, [j]);
  }
  for (const group of kinds.values()) {
    const { rowShape, range, opts } = group[0];
    const tile = rowShape.reduce((a, b) => a * b, 1);
    const count = group.reduce((n, j) => n + j.count, 0);
    const data = new Float32Array(count * tile);
    let row = 0;
    for (const j of group) {
      data.set(j.data.subarray(0, j.count * tile), row * tile);
      row += j.count;
    }
    smallImageStats.coalesced += group.length;
    smallImageStats.threadJobs++;
    submit({ type: 'images', data, rowShape: [...rowShape], count, range: [range[0], range[1]], opts }, thread, false).then(
      (r) => {
        const images = (r as { images: string[] }).images;
        let at = 0;
        for (const j of group) {
          j.resolve(images.slice(at, at + j.count));
          at += j.count;
        }
      },
      (err: Error) => {
        for (const j of group) j.reject(err);
      },
    );
  }
}

/** {@link encodeGrid}; on a worker thread unless the grid is small (tiling many digits is milliseconds of JavaScript: bench/RESULTS.md). */
export async function encodeGridImage(data: Float32Array, rowShape: readonly number[], count: number, range: readonly [number, number], opts: GridOptions): Promise<Buffer> {
  const [height, width] = rowShape;
  if (count * height * width <= INLINE_PIXELS) return encodeGrid(data, rowShape, count, range, opts);
  const r = await submit({ type: 'grid', data, rowShape: [...rowShape], count, range: [range[0], range[1]], opts });
  return asBuffer((r as { bytes: Uint8Array }).bytes);
}

/** {@link numberArrayJson}; on a worker thread unless the array is small. */
export async function numbersJson(data: Float32Array): Promise<Buffer> {
  if (data.length <= INLINE_VALUES) return numberArrayJson(data);
  const r = await submit({ type: 'json', data });
  return asBuffer((r as { bytes: Uint8Array }).bytes);
}

/** A transferred Uint8Array as a Buffer over the same memory. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
