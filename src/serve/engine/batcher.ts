/**
 * Dynamic batcher: merges queued requests into batches of up to `maxBatch` rows and runs them on
 * whichever session instance is idle — the role of Triton's dynamic batcher.
 *
 * A batch starts when an instance is idle and either `maxBatch` rows are queued or the oldest
 * request has waited `maxQueueDelayMs`. While every instance is busy, requests accumulate and
 * leave together; a full batch may wait in a busy instance's worker behind the running one.
 * A request larger than `maxBatch` is split over several batches; a request's
 * rows never depend on its neighbours because latents are drawn from (seed, index) in the worker.
 * The queue is bounded (`maxQueue` requests → {@link QueueFull}) and each request has a deadline
 * (→ {@link RequestTimeout}); the HTTP layer maps these domain errors to status codes.
 *
 * A refined request (`refine`: issue 35) never shares a batch and is never split: its rows go to a
 * session alone, as one batch whatever `maxBatch` says, and the worker refines them with the
 * runtime's own function before running the generator — the calls `Generator.sample` makes for the
 * same request, so the bytes are its bytes on any device. It queues in arrival order like any
 * request; plain requests behind a refined one still batch together meanwhile (a refined row costs
 * k or `steps` passes of a plain one).
 *
 * @example
 *   const b = new DynamicBatcher('ring', [instance], { maxBatch: 64, maxQueueDelayMs: 2, maxQueue: 1024, timeoutMs: 30000, dim: 2 });
 *   const { data } = await b.submit({ rows: 8, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null });
 */
import type { ResolvedRefine } from '../../runtime/refine/index.js';
import type { BatchCancel, BatchInput, InferenceBackend } from './instance.js';
import type { Segment } from './protocol.js';
import { ClientGone, InferenceFailed, ModelUnavailable, QueueFull, RequestTimeout } from './errors.js';

/** Batches a session may hold: the running one and one full batch waiting behind it. */
const PIPELINE_DEPTH = 2;
/**
 * A batch still running after this many request timeouts is taken as hung: its session is
 * abandoned (its thread ended) and the model reloads, instead of answering 504 forever while ready.
 */
const HUNG_BATCH_TIMEOUTS = 2;
/** Requests resolved per event-loop turn when a batch completes (see {@link DynamicBatcher.deliver}). */
const DELIVERY_CHUNK = 16;

export interface BatcherOptions {
  maxBatch: number;
  maxQueueDelayMs: number;
  maxQueue: number;
  timeoutMs: number;
  /** Latent dimension (to slice raw latents). */
  dim: number;
}

/**
 * What the batcher needs to learn that a request's client went away. An AbortSignal is one; the
 * HTTP routes pass a lighter object (see `clientSignal` in ../http/http-util.ts).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface SubmitRequest {
  rows: number;
  source: { kind: 'seeded'; seed: number; start: number } | { kind: 'raw'; z: Float32Array };
  /** One label per row for conditional models, else null. */
  labels: Int32Array | null;
  /** Refine the rows by the model's critic (a seeded source only; checked by the caller against the model and the server's limits). */
  refine?: ResolvedRefine;
  /** Aborted when the client goes away: the request leaves the queue. */
  signal?: CancelSignal;
}

export interface SubmitResult {
  /**
   * Row-major outputs, `rows × rowSize`. A request computed in one batch gets a view on that
   * batch's output (no copy), which other requests of the batch share: read it, never transfer it.
   */
  data: Float32Array;
  /** Shape of one row (e.g. [28, 28, 1] or [2]). */
  rowShape: number[];
  queueMs: number;
  computeMs: number;
}

export interface BatcherHooks {
  onBatch?(rows: number, computeMs: number): void;
  onQueueWait?(ms: number): void;
}

/** What a batcher has done since its model version was loaded (GET /v1/models shows them). */
export interface BatcherCounters {
  /** Requests accepted into the queue. */
  requests: number;
  /** Requests answered with their samples. */
  completed: number;
  /** Accepted requests that failed: timeout, client gone, inference error, unload. */
  failed: number;
  /** Requests refused at the door: queue full or model unloading (503). */
  rejected: number;
  /** Samples computed for completed requests. */
  samples: number;
  /** Batches run (successful or not). */
  batches: number;
}

interface Entry {
  req: SubmitRequest;
  taken: number;
  done: number;
  out: Float32Array | null;
  rowShape: number[];
  enqueuedAt: number;
  queueMs: number;
  computeMs: number;
  settled: boolean;
  resolve: (r: SubmitResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
  onAbort: (() => void) | null;
  /** Calls off the running batch of a refined request (set while it runs). */
  cancelBatch: (() => void) | null;
}

interface Slot {
  backend: InferenceBackend;
  /** Batches posted to this session and not finished (at most {@link PIPELINE_DEPTH}). */
  running: number;
  /** The session stopped on its own: no more batches go to it. */
  lost: boolean;
}

/** Told when a session of the batcher stops on its own; `all` when none is left to serve. */
export type SessionLostListener = (err: Error, all: boolean) => void;

export class DynamicBatcher {
  private readonly queue: Entry[] = [];
  private readonly slots: Slot[];
  private queuedRows = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  readonly counters: BatcherCounters = { requests: 0, completed: 0, failed: 0, rejected: 0, samples: 0, batches: 0 };
  /** Set when every session has stopped on its own: requests are refused with 503 from then on. */
  private broken: Error | null = null;
  private readonly lostListeners: SessionLostListener[] = [];
  private lastLost: { err: Error; all: boolean } | null = null;

  constructor(
    readonly model: string,
    backends: InferenceBackend[],
    private readonly opts: BatcherOptions,
    private readonly hooks: BatcherHooks = {},
  ) {
    this.slots = backends.map((backend) => ({ backend, running: 0, lost: false }));
    for (const slot of this.slots) slot.backend.onLost?.((err) => this.lose(slot, err));
  }

  /**
   * Calls `listener` whenever one of the sessions stops on its own (the registry then reloads the
   * model), and at once if one already has.
   */
  onSessionLost(listener: SessionLostListener): void {
    this.lostListeners.push(listener);
    const last = this.lastLost;
    if (last) queueMicrotask(() => listener(last.err, last.all));
  }

  private lose(slot: Slot, err: Error): void {
    slot.lost = true;
    const all = this.slots.every((s) => s.lost);
    this.lastLost = { err, all };
    if (all) {
      this.broken = err;
      for (const e of [...this.queue]) this.fail(e, this.brokenError());
    }
    for (const l of this.lostListeners) l(err, all);
  }

  private brokenError(): ModelUnavailable {
    return new ModelUnavailable(`model "${this.model}" stopped (${this.broken!.message}) and is loading again; retry`);
  }

  /** Requests waiting for (part of) their rows to be dispatched. */
  get queueLength(): number {
    return this.queue.length;
  }

  /** Batches running now. */
  get running(): number {
    return this.inFlight;
  }

  /**
   * The refusal of a full queue. Under overload it is thrown for most requests, so it is made
   * once: building an Error captures a stack trace, a cost paid for nothing here.
   */
  private queueFull: QueueFull | null = null;

  /** Why a request would be refused at the door now, or null. */
  private refusal(): Error | null {
    if (this.broken) return this.brokenError();
    if (this.closed) return new ModelUnavailable(`model "${this.model}" is being unloaded; retry`);
    if (this.queue.length >= this.opts.maxQueue) return (this.queueFull ??= new QueueFull(this.model, this.opts.maxQueue));
    return null;
  }

  /**
   * Throws what {@link submit} would refuse with right now (counted as rejected): lets the HTTP
   * layer turn a request away before it reads and parses its body.
   */
  admit(): void {
    const refused = this.refusal();
    if (refused) {
      this.counters.rejected++;
      throw refused;
    }
  }

  submit(req: SubmitRequest): Promise<SubmitResult> {
    const refused = this.refusal();
    if (refused) {
      this.counters.rejected++;
      return Promise.reject(refused);
    }
    if (req.signal?.aborted) return Promise.reject(new ClientGone());
    this.counters.requests++;
    return new Promise<SubmitResult>((resolve, reject) => {
      const e: Entry = {
        req, taken: 0, done: 0, out: null, rowShape: [], enqueuedAt: performance.now(), queueMs: -1, computeMs: 0,
        settled: false, resolve, reject, timer: null, onAbort: null, cancelBatch: null,
      };
      e.timer = setTimeout(() => this.fail(e, new RequestTimeout(this.model, this.opts.timeoutMs)), this.opts.timeoutMs);
      if (req.signal) {
        e.onAbort = () => this.fail(e, new ClientGone());
        req.signal.addEventListener('abort', e.onAbort, { once: true });
      }
      this.queue.push(e);
      this.queuedRows += req.rows;
      this.schedule();
    });
  }

  private finish(e: Entry): void {
    e.settled = true;
    if (e.timer) clearTimeout(e.timer);
    if (e.onAbort) e.req.signal?.removeEventListener('abort', e.onAbort);
    const i = this.queue.indexOf(e);
    if (i >= 0) {
      this.queue.splice(i, 1);
      this.queuedRows -= e.req.rows - e.taken;
    }
  }

  private fail(e: Entry, err: Error): void {
    if (e.settled) return;
    // A refined request's batch serves it alone: call it off, so that the session stops refining.
    e.cancelBatch?.();
    this.finish(e);
    this.counters.failed++;
    e.reject(err);
    this.notifyIdle();
  }

  private schedule(): void {
    while (this.queue.length > 0) {
      const idle = this.slots.find((s) => s.running === 0 && !s.lost);
      // A full batch may also be queued behind a running one, so that the worker starts it the
      // moment the current run ends instead of idling while the event loop answers (a thread
      // wake-up costs milliseconds on a loaded machine). Partial batches wait: they keep filling.
      const slot = idle ?? (this.queuedRows >= this.opts.maxBatch ? this.slots.find((s) => s.running < PIPELINE_DEPTH && !s.lost) : undefined);
      if (!slot) return;
      const waited = performance.now() - this.queue[0].enqueuedAt;
      if (this.queuedRows >= this.opts.maxBatch || waited >= this.opts.maxQueueDelayMs || this.closed) {
        this.dispatch(slot);
      } else {
        if (!this.timer) {
          this.timer = setTimeout(() => {
            this.timer = null;
            this.schedule();
          }, Math.max(0, this.opts.maxQueueDelayMs - waited));
        }
        return;
      }
    }
  }

  private dispatch(slot: Slot): void {
    const { maxBatch, dim } = this.opts;
    const parts: { e: Entry; offset: number; count: number; at: number }[] = [];
    const segments: Segment[] = [];
    let rows = 0;
    const now = performance.now();
    // A refined request at the head goes alone; otherwise the plain requests are taken in order,
    // passing over refined ones (they go alone when they reach the head).
    const refine = this.queue[0].req.refine;
    let i = 0;
    while (rows < maxBatch && i < this.queue.length) {
      const e = this.queue[i];
      if (!refine && e.req.refine) {
        i++;
        continue;
      }
      // A refined request runs whole: the runtime then cuts it as Generator.sample does, so its bytes
      // are Generator.sample's on any device (kernels whose last bits vary with the batch size included).
      const count = refine ? e.req.rows : Math.min(e.req.rows - e.taken, maxBatch - rows);
      const src = e.req.source;
      segments.push(
        src.kind === 'seeded'
          ? { kind: 'seeded', seed: src.seed, start: src.start + e.taken, count }
          : { kind: 'raw', z: src.z.subarray(e.taken * dim, (e.taken + count) * dim) },
      );
      if (e.queueMs < 0) {
        e.queueMs = now - e.enqueuedAt;
        this.hooks.onQueueWait?.(e.queueMs);
      }
      parts.push({ e, offset: e.taken, count, at: rows });
      e.taken += count;
      rows += count;
      this.queuedRows -= count;
      if (e.taken === e.req.rows) this.queue.splice(i, 1);
      else i++;
      if (refine) break;
    }
    let labels: Int32Array | null = null;
    if (parts.some((p) => p.e.req.labels)) {
      labels = new Int32Array(rows);
      for (const p of parts) if (p.e.req.labels) labels.set(p.e.req.labels.subarray(p.offset, p.offset + p.count), p.at);
    }
    const batch: BatchInput = refine ? { rows, segments, labels, refine, cancel: this.cancellation(parts[0].e) } : { rows, segments, labels };
    slot.running++;
    this.inFlight++;
    const hungAfter = this.opts.timeoutMs * HUNG_BATCH_TIMEOUTS;
    const watchdog = setTimeout(() => {
      slot.backend.abandon?.(new Error(`a batch of ${rows} rows ran for more than ${hungAfter} ms (${HUNG_BATCH_TIMEOUTS} × the request timeout); the session was restarted`));
    }, hungAfter);
    watchdog.unref();
    slot.backend
      .run(batch)
      .then((out) => {
        // Checked before any request is touched, so that a bad output fails the whole batch cleanly
        // (a throw after a request has been finished would leave it unanswered).
        if (out.dims[0] !== rows || out.data.length % rows !== 0) throw new Error(`the session returned ${out.dims[0]} rows (${out.data.length} values) for a batch of ${rows}`);
        const rowSize = out.data.length / rows;
        for (const { e } of parts) {
          if (e.out && e.out.length !== e.req.rows * rowSize) throw new Error(`the session returned rows of ${rowSize} values, an earlier batch of the same request ${e.out.length / e.req.rows}`);
        }
        this.hooks.onBatch?.(rows, out.computeMs);
        const rowShape = out.dims.slice(1);
        const completed: Entry[] = [];
        for (const { e, offset, count, at } of parts) {
          if (e.settled) continue;
          const rowsOut = out.data.subarray(at * rowSize, (at + count) * rowSize);
          if (e.out === null && count === e.req.rows) {
            e.out = rowsOut; // the whole request in this batch: a view, no copy
          } else {
            e.out ??= new Float32Array(e.req.rows * rowSize);
            e.out.set(rowsOut, offset * rowSize);
          }
          e.rowShape = rowShape;
          e.computeMs += out.computeMs;
          e.done += count;
          if (e.done === e.req.rows) {
            this.finish(e);
            this.counters.completed++;
            this.counters.samples += e.req.rows;
            completed.push(e);
          }
        }
        this.deliver(completed);
      })
      .catch((err: Error) => {
        for (const { e } of parts) this.fail(e, new InferenceFailed(`model "${this.model}": ${err.message}`));
      })
      .finally(() => {
        clearTimeout(watchdog);
        this.counters.batches++;
        slot.running--;
        this.inFlight--;
        this.schedule();
        this.notifyIdle();
      });
  }

  /** The cancel handle of a refined request's batch: called off when the request fails while it runs. */
  private cancellation(e: Entry): BatchCancel {
    let cancelled = false;
    let listener: (() => void) | null = null;
    e.cancelBatch = () => {
      e.cancelBatch = null;
      cancelled = true;
      listener?.();
    };
    return {
      get cancelled() {
        return cancelled;
      },
      onCancel(l) {
        listener = l;
      },
    };
  }

  /**
   * Resolve finished requests some at a time: each resolution runs its HTTP handler (JSON, small
   * encodings) as microtasks, and a batch of 1,024 single-sample requests at once would hold the
   * event loop for a long time. The chunk is not smaller because the small image jobs of one turn
   * go to the encoding thread as one message (see src/encode/encode-pool.ts): 16 per turn
   * instead of 4 cut the loop's busy time per batch-1 request, with the loop delay's p99 still low
   * under load (bench/RESULTS.md, 2026-11-27).
   */
  private deliver(entries: Entry[], from = 0): void {
    const end = Math.min(entries.length, from + DELIVERY_CHUNK);
    for (let i = from; i < end; i++) {
      const e = entries[i];
      e.resolve({ data: e.out!, rowShape: e.rowShape, queueMs: e.queueMs, computeMs: e.computeMs });
    }
    if (end < entries.length) setImmediate(() => this.deliver(entries, end));
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuse new requests, let queued and running ones finish, then close the sessions. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.schedule();
    await this.idle();
    await Promise.all(this.slots.map((s) => s.backend.close()));
  }

  /** Close now: fail whatever is queued (used when the drain timeout has passed). */
  async abort(reason: string): Promise<void> {
    this.closed = true;
    for (const e of [...this.queue]) this.fail(e, new ModelUnavailable(reason));
    await Promise.all(this.slots.map((s) => s.backend.close()));
  }
}
