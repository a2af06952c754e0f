/**
 * Worker-thread entry: owns one onnxruntime-node InferenceSession, the only module of src/serve
 * that imports the runtime. ORT's `run()` blocks its thread for the whole inference, so it must
 * never run on the server's event loop.
 *
 * Protocol: see ./protocol.ts. One `load`, then any number of `run` messages, answered in order,
 * and a `close` last.
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { buildLatents } from './latent-batch.js';
import type { LatentResponse, SessionSpec, WorkerRequest, WorkerResponse } from './protocol.js';
import { ownMemory } from './worker-thread.js';

if (!parentPort) throw new Error('ort-worker.ts must run in a worker thread');
const port = parentPort;

let session: ort.InferenceSession | null = null;
let spec: SessionSpec | null = null;

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
  try {
    session = await ort.InferenceSession.create(msg.model, {
      executionProviders: msg.providers,
      intraOpNumThreads: msg.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // Idle intra-op threads sleep instead of spinning: the HTTP thread and sharp's threads share
      // these cores, and spinning workers starve them between batches.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    spec = msg.spec;
    msg.latents?.on('message', (r: LatentResponse) => {
      const waiter = awaiting.get(r.id);
      if (waiter) {
        awaiting.delete(r.id);
        waiter(r);
      } else drawn.set(r.id, r);
    });
    const missing = [spec.latent.name, ...(spec.label ? [spec.label.name] : [])].filter((n) => !session!.inputNames.includes(n));
    if (!session.outputNames.includes(spec.output.name)) missing.push(spec.output.name);
    if (missing.length > 0) {
      throw new Error(`the ONNX graph has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], the manifest names ${missing.map((m) => `"${m}"`).join(', ')} that it lacks`);
    }
    post({ type: 'loaded', inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
  } catch (err) {
    post({ type: 'error', id: null, message: `onnxruntime could not load ${msg.label} on [${msg.providers.join(', ')}]: ${describe(err)}` });
  }
}

async function run(msg: Extract<WorkerRequest, { type: 'run' }>): Promise<void> {
  try {
    if (!session || !spec) throw new Error('no session loaded');
    const { dim } = spec.latent;
    // z: float32 [rows, dim], drawn here or, with a latent thread, while the previous batch ran.
    const z = msg.segments ? buildLatents(msg.rows, msg.segments, spec.latent) : await prefetched(msg.id);
    if (z.length !== msg.rows * dim) throw new Error(`the latents hold ${z.length / dim} rows, the batch says ${msg.rows}`);
    const feeds: Record<string, ort.Tensor> = { [spec.latent.name]: new ort.Tensor('float32', z, [msg.rows, dim]) };
    if (spec.label) {
      const labels = msg.labels ?? new Int32Array(msg.rows);
      feeds[spec.label.name] =
        spec.label.dtype === 'int64'
          ? new ort.Tensor('int64', BigInt64Array.from(labels, (v) => BigInt(v)), [msg.rows, 1])
          : new ort.Tensor('int32', Int32Array.from(labels), [msg.rows, 1]);
    }
    const t0 = performance.now();
    const out = await session.run(feeds, [spec.output.name]);
    const computeMs = performance.now() - t0;
    const tensor = out[spec.output.name];
    if (tensor.type !== 'float32') throw new Error(`output "${spec.output.name}" is ${tensor.type}, expected float32`);
    const data = tensor.data as Float32Array;
    const owned = ownMemory(data); // ORT may hand out a view on a larger buffer
    post({ type: 'result', id: msg.id, data: owned, dims: [...tensor.dims], computeMs }, [owned.buffer as ArrayBuffer]);
  } catch (err) {
    post({ type: 'error', id: msg.id, message: `inference failed: ${describe(err)}` });
  }
}

/** Frees the session's native memory (and its GPU buffers) here, instead of in the thread's teardown. */
async function close(): Promise<void> {
  const s = session;
  session = null;
  try {
    await s?.release();
  } catch {
    // Nothing more to free: the thread stops next either way.
  }
  post({ type: 'closed' });
}

// Messages are handled strictly one at a time, so that a run never overlaps another on this session.
let chain: Promise<void> = Promise.resolve();
port.on('message', (msg: WorkerRequest) => {
  chain = chain.then(() => (msg.type === 'load' ? load(msg) : msg.type === 'close' ? close() : run(msg)));
});
