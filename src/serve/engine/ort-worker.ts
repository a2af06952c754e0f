/**
 * Worker-thread entry: owns one generator session of the runtime (src/runtime/node.ts). ORT's
 * `run()` blocks its thread for the whole inference, so it must never run on the server's event
 * loop. Device probes run here too, on a thread of their own, like the sessions they stand for.
 *
 * Protocol: see ./protocol.ts. One `load`, then any number of `run` messages, answered in order,
 * and a `close` (or `abandon`) last; or a single `probe`. The server never stops this thread
 * while it is inside onnxruntime's native run: a thread torn down there aborts the whole process
 * (the binding throws a C++ exception as its JavaScript environment goes away).
 *
 * A model folder with a critic gives its critic.onnx / refine.onnx bytes at load; the generator
 * opens sessions on them (same providers and threads) when a refined batch first needs one, so a
 * model that is never asked to refine never loads its critic.
 */
import { parentPort } from 'node:worker_threads';
import { createSession, Generator, probeNodeDevice } from '../../runtime/node.js';
import type { RefineGraph } from '../../runtime/refine/index.js';
import { refineRequest } from '../../runtime/refine/index.js';
import { runtimeMessage, type Session } from '../../runtime/session.js';
import { ownMemory } from '../../io/worker-thread.js';
import { buildLatents } from './latent-batch.js';
import type { LatentResponse, WorkerRequest, WorkerResponse } from './protocol.js';

if (!parentPort) throw new Error('ort-worker.ts must run in a worker thread');
const port = parentPort;

let generator: Generator | null = null;
/** Critic sessions opened at load (WebGPU) and not yet handed to the generator: close() releases them. */
const early = new Map<RefineGraph, Promise<Session>>();
/** Refined batches received and not yet finished, those of them whose requests failed (`cancel`), and the one running now. */
const refinedBatches = new Set<number>();
const cancelled = new Set<number>();
/** Set by `abandon`: runs still queued are answered with an error instead of run. */
let abandoned = false;
let refining: number | null = null;

/** Why a cancelled refinement stopped. */
const CANCELLED = 'the refinement was cancelled: its request failed (timed out or its client went away)';

/**
 * A critic session that refuses to run once the refined batch in progress has been cancelled: a
 * method runs the critic at least once per step or candidate batch, so a cancelled job stops within
 * one run instead of holding the session for all its steps.
 */
function cancellable(inner: Session): Session {
  return {
    get inputNames() {
      return inner.inputNames;
    },
    get outputNames() {
      return inner.outputNames;
    },
    run(feeds, outputs) {
      if (refining !== null && cancelled.has(refining)) return Promise.reject(new Error(CANCELLED));
      return inner.run(feeds, outputs);
    },
    release: () => inner.release(),
  };
}

/** Latents drawn ahead by the latent thread, by batch id, and runs waiting for theirs. */
const drawn = new Map<number, LatentResponse>();
const awaiting = new Map<number, (r: LatentResponse) => void>();

function prefetched(id: number): Promise<Float32Array> {
  const take = (r: LatentResponse) => {
    if ('error' in r) throw new Error(r.error);
    return r.z;
  };
  const ready = drawn.get(id);
  if (ready) {
    drawn.delete(id);
    return Promise.resolve().then(() => take(ready));
  }
  return new Promise<LatentResponse>((resolve) => awaiting.set(id, resolve)).then(take);
}

function post(msg: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim();
}

async function load(msg: Extract<WorkerRequest, { type: 'load' }>): Promise<void> {
  const { providers } = msg.device;
  // Idle intra-op threads sleep instead of spinning: the HTTP thread and sharp's threads share
  // these cores, and spinning workers starve them between batches.
  const options = { providers, threads: msg.threads, spinning: false };
  const { graphs } = msg;
  // critic.onnx / refine.onnx on the generator's device, opened when a refinement first needs one.
  const create = async (graph: RefineGraph): Promise<Session> => {
    const bytes = graphs[graph];
    if (!bytes) throw new Error(`the model folder has no ${graph}.onnx`);
    try {
      return cancellable(await createSession(bytes, options));
    } catch (err) {
      throw new Error(`onnxruntime could not load ${graph}.onnx on [${providers.join(', ')}]: ${runtimeMessage(err)}`);
    }
  };
  // WebGPU: sessions must not be created on two threads at once (the registry loads one model at a
  // time for that; a refined batch could not wait for it), so they are created now, during the
  // load. A failure is kept for the first refinement that needs the graph (the model still serves).
  if (providers.includes('webgpu')) {
    for (const graph of ['critic', 'refine'] as const) {
      if (!graphs[graph]) continue;
      const made = create(graph);
      await made.catch(() => {}); // a failure stays in `made`
      early.set(graph, made);
    }
  }
  const open = (graph: RefineGraph): Promise<Session> => {
    const made = early.get(graph);
    early.delete(graph); // handed to the generator, which releases it (or asks again after a failure)
    return made ?? create(graph);
  };
  try {
    let session;
    try {
      session = await createSession(msg.model, options);
    } catch (err) {
      throw new Error(runtimeMessage(err));
    }
    try {
      generator = new Generator(msg.manifest, session, msg.device, graphs.critic ? open : null);
    } catch (err) {
      await session.release();
      throw err;
    }
    msg.latents?.on('message', (r: LatentResponse) => {
      const waiter = awaiting.get(r.id);
      if (waiter) {
        awaiting.delete(r.id);
        waiter(r);
      } else drawn.set(r.id, r);
    });
    post({ type: 'loaded', inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
  } catch (err) {
    post({ type: 'error', id: null, message: `onnxruntime could not load ${msg.label} on [${providers.join(', ')}]: ${describe(err)}` });
  }
}

async function run(msg: Extract<WorkerRequest, { type: 'run' }>): Promise<void> {
  try {
    if (abandoned) throw new Error('the session was given up before this batch ran');
    if (!generator) throw new Error('no session loaded');
    const { latent } = generator.io;
    // z: float32 [rows, dim], drawn here or, with a latent thread, while the previous batch ran.
    const z = msg.segments ? buildLatents(msg.rows, msg.segments, generator.manifest) : await prefetched(msg.id);
    if (z.length !== msg.rows * latent.dim) throw new Error(`the latents hold ${z.length / latent.dim} rows, the batch says ${msg.rows}`);
    const labels = generator.io.label ? (msg.labels ?? new Int32Array(msg.rows)) : null;
    const out = msg.refine ? await refined(generator, msg, z, labels) : await generator.run(z, labels);
    const owned = ownMemory(out.data); // ORT may hand out a view on a larger buffer
    post({ type: 'result', id: msg.id, data: owned, dims: out.dims, computeMs: out.computeMs }, [owned.buffer as ArrayBuffer]);
  } catch (err) {
    post({ type: 'error', id: msg.id, message: `inference failed: ${describe(err)}` });
  } finally {
    refinedBatches.delete(msg.id);
    cancelled.delete(msg.id);
  }
}

/**
 * A refined batch: one request's seeded rows, refined by the runtime's own function and then run,
 * as `Generator.sample` does (so a row is what the runtime gives for it); `computeMs` counts both.
 */
async function refined(g: Generator, msg: Extract<WorkerRequest, { type: 'run' }>, z: Float32Array, labels: Int32Array | null) {
  const seg = msg.segments?.[0];
  if (!seg || msg.segments!.length !== 1 || seg.kind !== 'seeded') throw new Error('a refined batch holds one seeded segment');
  const t0 = performance.now();
  const indices = new Float64Array(seg.count);
  for (let i = 0; i < seg.count; i++) indices[i] = seg.start + i;
  refining = msg.id;
  try {
    if (cancelled.has(msg.id)) throw new Error(CANCELLED);
    const latents = await g.refineLatents({ seed: seg.seed, indices, z, labels }, refineRequest(msg.refine!));
    const out = await g.run(latents, labels);
    return { ...out, computeMs: performance.now() - t0 };
  } finally {
    refining = null;
  }
}

/** Frees the session's native memory (and its GPU buffers) here, instead of in the thread's teardown. */
async function close(): Promise<void> {
  const g = generator;
  generator = null;
  const unused = [...early.values()];
  early.clear();
  try {
    await g?.dispose();
    await Promise.allSettled(unused.map(async (s) => (await s).release()));
  } catch {
    // Nothing more to free: the thread stops next either way.
  }
  post({ type: 'closed' });
}

async function probe(msg: Extract<WorkerRequest, { type: 'probe' }>): Promise<void> {
  post({ type: 'probed', reason: await probeNodeDevice(msg.device) });
}

// Messages are handled strictly one at a time, so that a run never overlaps another on this session.
let chain: Promise<void> = Promise.resolve();
port.on('message', (msg: WorkerRequest) => {
  // A cancel is noted at once (the refinement it stops is running or queued on the chain).
  if (msg.type === 'cancel') {
    if (refinedBatches.has(msg.id)) cancelled.add(msg.id);
    return;
  }
  if (msg.type === 'abandon') {
    abandoned = true;
    for (const id of refinedBatches) cancelled.add(id);
    // A run waiting for latents from the latent thread (which is being ended) would wait forever.
    for (const [id, waiter] of awaiting) waiter({ id, error: 'the session was given up before its latents came' });
    awaiting.clear();
  }
  if (msg.type === 'run' && msg.refine) refinedBatches.add(msg.id);
  chain = chain.then(() => (msg.type === 'load' ? load(msg) : msg.type === 'probe' ? probe(msg) : msg.type === 'close' || msg.type === 'abandon' ? close() : run(msg)));
});
