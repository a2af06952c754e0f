/** Dynamic batcher against a fake session: batching, splitting, bounded queue, deadlines, drain. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamicBatcher } from '../../src/serve/engine/batcher.js';
import { ClientGone, InferenceFailed, ModelUnavailable, QueueFull, RequestTimeout } from '../../src/serve/engine/errors.js';
import type { BatchInput, BatchOutput, InferenceBackend } from '../../src/serve/engine/instance.js';

/**
 * Fake session: output row = [seed-or-raw marker, sample index, label]; records batch sizes; each
 * run resolves when `release()` is called (or at once with `auto`).
 */
class FakeBackend implements InferenceBackend {
  batches: number[] = [];
  /** Each batch's refinement method, or `plain`. */
  kinds: string[] = [];
  /** Refined batches called off by the batcher. */
  cancels = 0;
  /** Batches handed to this session, including those waiting behind the running one. */
  posted = 0;
  private gates: (() => void)[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  closed = false;
  constructor(private readonly auto = true) {}
  /** Like the worker: posted batches run one after another. */
  run(batch: BatchInput): Promise<BatchOutput> {
    this.posted++;
    batch.cancel?.onCancel(() => this.cancels++);
    const p = this.chain.then(() => this.runNow(batch));
    this.chain = p.catch(() => {});
    return p;
  }
  private async runNow(batch: BatchInput): Promise<BatchOutput> {
    this.batches.push(batch.rows);
    this.kinds.push(batch.refine?.method ?? 'plain');
    if (!this.auto) await new Promise<void>((r) => this.gates.push(r));
    const data = new Float32Array(batch.rows * 3);
    let row = 0;
    for (const s of batch.segments) {
      const count = s.kind === 'seeded' ? s.count : s.z.length;
      for (let k = 0; k < count; k++, row++) {
        data[row * 3] = s.kind === 'seeded' ? s.seed : -1;
        data[row * 3 + 1] = s.kind === 'seeded' ? s.start + k : s.z[k];
        data[row * 3 + 2] = batch.labels ? batch.labels[row] : -1;
      }
    }
    return { data, dims: [batch.rows, 3], computeMs: 0 };
  }
  release(): void {
    for (const g of this.gates.splice(0)) g();
  }
  get waiting(): number {
    return this.gates.length;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  private lostListener: ((err: Error) => void) | null = null;
  onLost(listener: (err: Error) => void): void {
    this.lostListener = listener;
  }
  /** As if the worker thread crashed. */
  crash(): void {
    this.lostListener?.(new Error('worker exited (code 1)'));
  }
}

const opts = { maxBatch: 8, maxQueueDelayMs: 5, maxQueue: 4, timeoutMs: 10_000, dim: 1 };
const tick = () => new Promise((r) => setTimeout(r, 1));

test('requests queued together leave in one batch, each gets exactly its rows', async () => {
  const be = new FakeBackend();
  // The third request fills the batch (6 rows): it leaves at once, never by the delay timer, so a
  // slow machine cannot split it (a GC pause between submits used to exceed a 5 ms delay).
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 100, maxBatch: 6, maxQueueDelayMs: 60_000 });
  const results = await Promise.all([
    b.submit({ rows: 2, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null }),
    b.submit({ rows: 3, source: { kind: 'seeded', seed: 2, start: 10 }, labels: null }),
    b.submit({ rows: 1, source: { kind: 'raw', z: new Float32Array([0.5]) }, labels: null }),
  ]);
  assert.deepEqual(be.batches, [6]);
  assert.deepEqual(Array.from(results[0].data), [1, 0, -1, 1, 1, -1]);
  assert.deepEqual(Array.from(results[1].data), [2, 10, -1, 2, 11, -1, 2, 12, -1]);
  assert.deepEqual(Array.from(results[2].data), [-1, 0.5, -1]);
  assert.deepEqual(results[0].rowShape, [3]);
});

test('a request larger than maxBatch is split over batches and reassembled in order, labels follow rows', async () => {
  const be = new FakeBackend();
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 100 });
  const labels = Int32Array.from({ length: 20 }, (_, i) => i % 3);
  const r = await b.submit({ rows: 20, source: { kind: 'seeded', seed: 9, start: 100 }, labels });
  assert.deepEqual(be.batches, [8, 8, 4]);
  for (let k = 0; k < 20; k++) assert.deepEqual(Array.from(r.data.subarray(k * 3, k * 3 + 3)), [9, 100 + k, k % 3]);
});

test('while the session is busy, requests accumulate and leave together (up to maxBatch)', async () => {
  const be = new FakeBackend(false);
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 100, maxQueueDelayMs: 0 });
  const first = b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null });
  await tick();
  assert.equal(be.waiting, 1);
  const rest = Array.from({ length: 10 }, (_, i) => b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: i + 1 }, labels: null }));
  be.release();
  await first;
  await tick();
  be.release();
  await tick();
  be.release();
  await Promise.all(rest);
  assert.deepEqual(be.batches, [1, 8, 2]);
});

test('a refined request never shares a batch and is never split (whatever maxBatch says); plain requests behind it batch together meanwhile', async () => {
  const be = new FakeBackend();
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 100, maxBatch: 8, maxQueueDelayMs: 50 });
  const refine = { method: 'rank' as const, params: { k: 4, sigma: 0.25 } };
  // Submitted in one turn, dispatched together once the delay has passed.
  const [a, r, c, big] = await Promise.all([
    b.submit({ rows: 2, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null }),
    b.submit({ rows: 3, source: { kind: 'seeded', seed: 2, start: 5 }, labels: Int32Array.from([0, 1, 2]), refine }),
    b.submit({ rows: 2, source: { kind: 'seeded', seed: 3, start: 0 }, labels: null }),
    b.submit({ rows: 10, source: { kind: 'seeded', seed: 4, start: 20 }, labels: null, refine }),
  ]);
  assert.deepEqual(be.batches, [4, 3, 10]);
  assert.deepEqual(be.kinds, ['plain', 'rank', 'rank']);
  assert.deepEqual(Array.from(a.data), [1, 0, -1, 1, 1, -1]);
  assert.deepEqual(Array.from(c.data), [3, 0, -1, 3, 1, -1]);
  assert.deepEqual(Array.from(r.data), [2, 5, 0, 2, 6, 1, 2, 7, 2]);
  for (let k = 0; k < 10; k++) assert.deepEqual(Array.from(big.data.subarray(k * 3, k * 3 + 3)), [4, 20 + k, -1]);
});

test('a refined request that times out or whose client goes away calls its running batch off; plain batches are never called off', async () => {
  const be = new FakeBackend(false);
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 100, maxQueueDelayMs: 0, timeoutMs: 50 });
  const refine = { method: 'dot' as const, params: { steps: 20, stepSize: 0.01 } };
  const timedOut = b.submit({ rows: 2, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null, refine });
  await assert.rejects(timedOut, RequestTimeout);
  assert.equal(be.cancels, 1);
  be.release();
  await b.idle();
  const controller = new AbortController();
  const gone = b.submit({ rows: 2, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null, refine, signal: controller.signal });
  await tick();
  controller.abort();
  await assert.rejects(gone, ClientGone);
  assert.equal(be.cancels, 2);
  be.release();
  await b.idle();
  const plain = b.submit({ rows: 2, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null });
  await assert.rejects(plain, RequestTimeout);
  be.release();
  await b.idle();
  assert.equal(be.cancels, 2);
  assert.deepEqual(be.kinds, ['dot', 'dot', 'plain']);
});

test('bounded queue: beyond maxQueue requests are refused with QueueFull (503 over HTTP); the queue then recovers', async () => {
  const be = new FakeBackend(false);
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueueDelayMs: 0 });
  const running = b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null });
  await tick(); // dispatched: no longer queued
  const queued = Array.from({ length: 4 }, (_, i) => b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: i }, labels: null }));
  await assert.rejects(b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 9 }, labels: null }), (e: unknown) => e instanceof QueueFull && e.limit === 4);
  be.release();
  await running;
  await tick();
  be.release();
  await Promise.all(queued);
  assert.equal(b.queueLength, 0);
});

test('a request past its deadline fails with RequestTimeout (504) and leaves the queue; an aborted one leaves too', async () => {
  const be = new FakeBackend(false);
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 10, maxQueueDelayMs: 0, timeoutMs: 30 });
  const blocker = b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null });
  blocker.catch(() => {});
  await tick();
  const late = b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 1 }, labels: null });
  const ac = new AbortController();
  const aborted = b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 2 }, labels: null, signal: ac.signal });
  ac.abort();
  await assert.rejects(aborted, (e: unknown) => e instanceof ClientGone);
  await assert.rejects(late, (e: unknown) => e instanceof RequestTimeout);
  await assert.rejects(blocker, (e: unknown) => e instanceof RequestTimeout);
  assert.equal(b.queueLength, 0);
  be.release();
});

test('close() finishes queued and running requests, then closes the sessions and refuses new ones', async () => {
  const be = new FakeBackend(false);
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 10, maxQueueDelayMs: 1000 });
  const p = b.submit({ rows: 2, source: { kind: 'seeded', seed: 3, start: 0 }, labels: null });
  const closing = b.close();
  await tick();
  assert.equal(be.waiting, 1, 'close dispatches at once instead of waiting out the delay');
  await assert.rejects(b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null }), (e: unknown) => e instanceof ModelUnavailable);
  assert.equal(be.closed, false);
  be.release();
  assert.equal((await p).data[0], 3);
  await closing;
  assert.equal(be.closed, true);
});

test('a failing session or a wrong-sized output fails its batch with 500 and the batcher keeps serving', async () => {
  let call = 0;
  const be: InferenceBackend = {
    async run(batch) {
      call++;
      if (call === 1) throw new Error('boom');
      // Second run: one row short (this used to reject inside the result handler, unhandled).
      const rows = call === 2 ? batch.rows - 1 : batch.rows;
      return { data: new Float32Array(rows), dims: [rows, 1], computeMs: 0 };
    },
    async close() {},
  };
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 10 });
  await assert.rejects(b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null }), (e: unknown) => e instanceof InferenceFailed && /boom/.test(e.message));
  await assert.rejects(b.submit({ rows: 3, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null }), (e: unknown) => e instanceof InferenceFailed && /returned 2 rows \(2 values\) for a batch of 3/.test(e.message));
  assert.equal((await b.submit({ rows: 2, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null })).data.length, 2);
  await tick(); // a batch is counted once its requests are answered
  assert.deepEqual(b.counters, { requests: 3, completed: 1, failed: 2, rejected: 0, samples: 2, batches: 3 });
});

test('a request split over batches whose rows change size fails with 500 (never mixed rows, never a hang)', async () => {
  let call = 0;
  const be: InferenceBackend = {
    async run(batch) {
      const size = ++call === 1 ? 3 : 2; // the second batch's rows are shorter
      return { data: new Float32Array(batch.rows * size), dims: [batch.rows, size], computeMs: 0 };
    },
    async close() {},
  };
  const b = new DynamicBatcher('m', [be], { ...opts, maxBatch: 4, maxQueue: 10, maxQueueDelayMs: 0 });
  const split = b.submit({ rows: 6, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null }); // batches of 4 and 2 rows
  await assert.rejects(split, (e: unknown) => e instanceof InferenceFailed && /rows of 2 values, an earlier batch of the same request 3/.test(e.message));
});

test('counters: accepted, completed, failed and rejected requests, samples and batches', async () => {
  const be = new FakeBackend(false);
  const b = new DynamicBatcher('m', [be], { ...opts, maxQueue: 1, maxQueueDelayMs: 0, timeoutMs: 10_000 });
  const first = b.submit({ rows: 3, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null });
  await tick();
  const ac = new AbortController();
  const second = b.submit({ rows: 2, source: { kind: 'seeded', seed: 0, start: 3 }, labels: null, signal: ac.signal });
  await assert.rejects(b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 5 }, labels: null }), (e: unknown) => e instanceof QueueFull);
  ac.abort();
  await assert.rejects(second, (e: unknown) => e instanceof ClientGone);
  be.release();
  await first;
  await tick();
  assert.deepEqual(b.counters, { requests: 2, completed: 1, failed: 1, rejected: 1, samples: 3, batches: 1 });
});

test('a session that stops on its own gets no more batches; with none left, requests get 503 and listeners hear of it', async () => {
  const a = new FakeBackend();
  const c = new FakeBackend(false);
  const b = new DynamicBatcher('m', [a, c], { ...opts, maxBatch: 2, maxQueue: 10, maxQueueDelayMs: 0 });
  const heard: [string, boolean][] = [];
  b.onSessionLost((err, all) => heard.push([err.message, all]));
  a.crash();
  assert.deepEqual(heard, [['worker exited (code 1)', false]]);
  const ps = Array.from({ length: 3 }, (_, i) => b.submit({ rows: 2, source: { kind: 'seeded', seed: 0, start: i * 2 }, labels: null }));
  let done = false;
  const all = Promise.all(ps).finally(() => (done = true));
  while (!done) {
    c.release();
    await tick();
  }
  await all;
  assert.deepEqual([a.batches.length, c.batches.length], [0, 3], 'every batch went to the session left');
  // The last session stops while a request waits: it and every later one get 503 with Retry-After.
  const blocker = b.submit({ rows: 2, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null });
  await tick();
  const queued = b.submit({ rows: 1, source: { kind: 'seeded', seed: 1, start: 2 }, labels: null }); // less than a batch: stays queued
  c.crash();
  assert.deepEqual(heard[1], ['worker exited (code 1)', true]);
  const stopped = (e: unknown) => e instanceof ModelUnavailable && /model "m" stopped \(worker exited \(code 1\)\) and is loading again/.test(e.message);
  await assert.rejects(queued, stopped);
  // A listener that comes later (the registry subscribes once the load has finished) still hears of it.
  const late = await new Promise<[string, boolean]>((resolve) => b.onSessionLost((err, all) => resolve([err.message, all])));
  assert.deepEqual(late, ['worker exited (code 1)', true]);
  await assert.rejects(b.submit({ rows: 1, source: { kind: 'seeded', seed: 2, start: 0 }, labels: null }), stopped);
  c.release(); // the fake's running batch still completes; a real crashed session rejects it
  await blocker;
});

test('a full batch waits in a busy worker behind the running one; partial batches keep filling', async () => {
  const be = new FakeBackend(false);
  const b = new DynamicBatcher('m', [be], { ...opts, maxBatch: 4, maxQueue: 100, maxQueueDelayMs: 0 });
  const full = Array.from({ length: 3 }, (_, i) => b.submit({ rows: 4, source: { kind: 'seeded', seed: 0, start: i * 4 }, labels: null }));
  await tick();
  assert.equal(be.posted, 2, 'the running batch and one full batch behind it');
  const partial = b.submit({ rows: 1, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null });
  await tick();
  assert.equal(be.posted, 2, 'a partial batch is not posted to a busy worker');
  for (let i = 0; i < 4; i++) {
    be.release();
    await tick();
  }
  await Promise.all([...full, partial]);
  assert.deepEqual(be.batches, [4, 4, 4, 1]);
});

test('several instances run batches side by side', async () => {
  const a = new FakeBackend(false);
  const c = new FakeBackend(false);
  const b = new DynamicBatcher('m', [a, c], { ...opts, maxBatch: 2, maxQueue: 10, maxQueueDelayMs: 0 });
  const ps = Array.from({ length: 4 }, (_, i) => b.submit({ rows: 2, source: { kind: 'seeded', seed: 0, start: i * 2 }, labels: null }));
  await tick();
  assert.equal(a.waiting + c.waiting, 2);
  for (let i = 0; i < 3; i++) {
    a.release();
    c.release();
    await tick();
  }
  await Promise.all(ps);
  assert.equal(a.batches.length + c.batches.length, 4);
});
