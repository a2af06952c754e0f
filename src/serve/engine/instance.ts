/**
 * One ONNX Runtime session in its own worker thread, behind a promise API.
 *
 * @example
 *   const inst = await SessionInstance.create({ model: bytes, manifest, device: cpuChoice, threads: 1, label: 'ring' });
 *   const { data, dims } = await inst.run({ rows: 2, segments: [{ kind: 'seeded', seed: 1, start: 0, count: 2 }], labels: null });
 *   await inst.close();
 */
import { MessageChannel, type Worker } from 'node:worker_threads';
import { GpuTurns } from './gpu-turns.js';
import type { Manifest } from '../../core/manifest.js';
import type { DeviceChoice, NodeDevice } from '../../runtime/devices.js';
import type { ResolvedRefine } from '../../runtime/refine/index.js';
import type { CriticBytes, LatentRequest, Segment, WorkerRequest, WorkerResponse } from './protocol.js';
import { startWorker } from '../../io/worker-thread.js';

export interface BatchInput {
  rows: number;
  segments: Segment[];
  /** One label per row (conditional models), or null. */
  labels: Int32Array | null;
  /** Refine the rows by the critic first: then the batch is one request's rows, one seeded segment. */
  refine?: ResolvedRefine;
  /** A refined batch's request failed: the session stops refining it (the run then rejects). */
  cancel?: BatchCancel;
}

/** How the batcher calls off a refined batch whose request failed (its rows serve nobody any more). */
export interface BatchCancel {
  readonly cancelled: boolean;
  /** `listener` is called once, when the batch is called off (never if it is not). */
  onCancel(listener: () => void): void;
}

export interface BatchOutput {
  /** Row-major output, `rows × rowSize` floats. */
  data: Float32Array;
  dims: number[];
  computeMs: number;
}

/** What the batcher needs from a session: the seam that tests fake. */
export interface InferenceBackend {
  run(batch: BatchInput): Promise<BatchOutput>;
  close(): Promise<void>;
  /** Calls `listener` once if the session stops on its own (its thread crashed or exited), never after close(). */
  onLost?(listener: (err: Error) => void): void;
  /** Stop a session that no longer answers at once, as if it had crashed (its lost listeners hear `reason`). */
  abandon?(reason: Error): void;
}

interface Pending {
  resolve: (out: BatchOutput) => void;
  reject: (err: Error) => void;
}

export interface InstanceOptions {
  model: Uint8Array;
  /** critic.onnx and refine.onnx, when the model folder has them (default: none). */
  graphs?: CriticBytes;
  manifest: Manifest;
  /** The device this session runs on (its execution providers). */
  device: DeviceChoice<NodeDevice>;
  threads: number;
  /** For messages: model name and file. */
  label: string;
  /**
   * Draw latents on a second thread, overlapping the session's runs (default: on for GPU
   * providers, where a batch takes about as long as drawing its latents; off for the CPU, whose
   * cores the session's own threads already use). Only batches posted while another is in flight
   * go there; a batch alone is drawn by the session thread (no overlap to gain, one hop less).
   */
  latentThread?: boolean;
}

/** How long close() waits for the worker to finish its posted runs and release the session. */
const CLOSE_TIMEOUT_MS = 2000;

export class SessionInstance implements InferenceBackend {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private dead: Error | null = null;
  private readonly lostListeners: ((err: Error) => void)[] = [];
  /** Why the session stopped on its own, if it did. */
  private lost: Error | null = null;
  private closing: Promise<void> | undefined;
  /** Batches whose latents the latent thread drew (tests, benches). */
  private drawnAhead = 0;
  /** Why the session was abandoned (its thread is being ended), if it was. */
  private abandoned: Error | null = null;
  /** The threads being stopped (see {@link stopThreads}). */
  private stopping: Promise<void> | undefined;

  /** Turns on the process's WebGPU device, shared by every WebGPU session (see {@link run}). */
  private static readonly gpuTurns = new GpuTurns<SessionInstance>();

  private constructor(
    private readonly worker: Worker,
    /** Draws latents ahead of the session (see {@link InstanceOptions.latentThread}), or null. */
    private readonly sampler: Worker | null,
    /** Runs must not overlap with other sessions' (WebGPU: one device context per process). */
    private readonly exclusive: boolean,
  ) {}

  /** Start a worker and load the model; rejects with ORT's reason when the model cannot load. */
  static async create(opts: InstanceOptions): Promise<SessionInstance> {
    const worker = startWorker(new URL('./ort-worker.js', import.meta.url));
    const { providers } = opts.device;
    const latentThread = opts.latentThread ?? providers.some((p) => p !== 'cpu');
    const sampler = latentThread ? startWorker(new URL('./latent-worker.js', import.meta.url)) : null;
    const inst = new SessionInstance(worker, sampler, providers.includes('webgpu'));
    try {
      await new Promise<void>((resolve, reject) => {
        const onMessage = (msg: WorkerResponse) => {
          worker.off('error', onError);
          worker.off('exit', onExit);
          if (msg.type === 'loaded') resolve();
          else reject(new Error(msg.type === 'error' ? msg.message : `unexpected worker message ${msg.type}`));
        };
        const onError = (err: Error) => reject(new Error(`worker for ${opts.label} failed: ${err.message}`));
        const onExit = (code: number) => reject(new Error(`worker for ${opts.label} exited with code ${code} while loading`));
        worker.once('message', onMessage);
        worker.once('error', onError);
        worker.once('exit', onExit);
        // Each worker gets its own copy, transferred (Uint8Array.prototype.slice copies even for a
        // Node Buffer, whose own slice() is a view on memory that must not be detached).
        const model = Uint8Array.prototype.slice.call(opts.model);
        const copy = (b: Uint8Array | null | undefined) => (b ? Uint8Array.prototype.slice.call(b) : null);
        const graphs: CriticBytes = { critic: copy(opts.graphs?.critic), refine: copy(opts.graphs?.refine) };
        const buffers = [model.buffer, ...[graphs.critic, graphs.refine].filter((b) => b !== null).map((b) => b.buffer)] as ArrayBuffer[];
        let latents = null;
        if (sampler) {
          const channel = new MessageChannel();
          const { name, latent, conditional } = opts.manifest;
          const init: LatentRequest = { type: 'init', port: channel.port1, model: { name, latent, conditional } };
          sampler.postMessage(init, [channel.port1]);
          latents = channel.port2;
        }
        const msg: WorkerRequest = { type: 'load', model, graphs, manifest: opts.manifest, device: opts.device, threads: opts.threads, label: opts.label, latents };
        worker.postMessage(msg, latents ? [...buffers, latents] : buffers);
      });
    } catch (err) {
      await Promise.all([worker.terminate(), sampler?.terminate()]);
      throw err;
    }
    inst.listen(opts.label);
    return inst;
  }

  private listen(label: string): void {
    this.worker.on('message', (msg: WorkerResponse) => {
      if ((msg.type !== 'result' && msg.type !== 'error') || msg.id === null) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'result') p.resolve({ data: msg.data, dims: msg.dims, computeMs: msg.computeMs });
      else p.reject(new Error(msg.message));
    });
    this.worker.on('error', (err) => this.fail(new Error(`worker for ${label} crashed: ${err.message}`), 'gone'));
    this.worker.on('exit', (code) => this.fail(new Error(`worker for ${label} exited (code ${code})`), 'gone'));
    this.sampler?.on('error', (err) => this.fail(new Error(`latent thread for ${label} crashed: ${err.message}`)));
    this.sampler?.on('exit', (code) => this.fail(new Error(`latent thread for ${label} exited (code ${code})`)));
  }

  run(batch: BatchInput): Promise<BatchOutput> {
    if (!this.exclusive) return this.post(batch);
    // Runs of different sessions on the shared GPU context must not overlap; this session's own
    // runs may queue in its worker behind each other (the batcher pipelines full batches).
    const turns = SessionInstance.gpuTurns;
    return turns.acquire(this).then(() => {
      const run = this.post(batch);
      run.then(() => turns.release(), () => turns.release());
      return run;
    });
  }

  private post(batch: BatchInput): Promise<BatchOutput> {
    if (this.dead) return Promise.reject(this.dead);
    if (batch.cancel?.cancelled) return Promise.reject(new Error('the batch was called off before it was posted'));
    const id = this.nextId++;
    return new Promise<BatchOutput>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      batch.cancel?.onCancel(() => {
        if (!this.pending.has(id) || this.dead) return;
        const msg: WorkerRequest = { type: 'cancel', id };
        this.worker.postMessage(msg);
      });
      const transfer: ArrayBuffer[] = [];
      // Raw latents are copied into the worker's batch anyway: transfer them instead of cloning.
      const segments = batch.segments.map((s) => (s.kind === 'raw' ? { kind: 'raw' as const, z: s.z.slice() } : s));
      for (const s of segments) if (s.kind === 'raw') transfer.push(s.z.buffer as ArrayBuffer);
      // A refined batch is drawn here (its worker needs each row's seed and index anyway).
      if (this.sampler && this.pending.size > 1 && !batch.refine) {
        // The latent thread draws this batch while the session still runs an earlier one. (With
        // nothing else in flight, the session thread draws it itself: the same work, one hop less.)
        this.drawnAhead++;
        const draw: LatentRequest = { type: 'sample', id, rows: batch.rows, segments };
        this.sampler.postMessage(draw, transfer);
        const msg: WorkerRequest = { type: 'run', id, rows: batch.rows, segments: null, labels: batch.labels };
        this.worker.postMessage(msg);
      } else {
        const msg: WorkerRequest = { type: 'run', id, rows: batch.rows, segments, labels: batch.labels, ...(batch.refine ? { refine: batch.refine } : {}) };
        this.worker.postMessage(msg, transfer);
      }
    });
  }

  /** The threads stopped (or were given up): fail what is pending, tell the listeners, stop the rest. */
  private fail(cause: Error, session: 'busy' | 'gone' = 'busy'): void {
    const err = this.abandoned ?? cause;
    const unexpected = this.dead === null; // close() sets `dead` before it stops the threads
    this.dead ??= err;
    // Whichever thread is left has nothing to do without the other. Stopped before the pending runs
    // fail: a busy WebGPU thread keeps the device's turn, which their failure would hand on.
    if (unexpected) void this.stopThreads(session);
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
    if (unexpected) {
      this.lost = err;
      for (const l of this.lostListeners.splice(0)) l(err);
    }
  }

  /**
   * Stop the threads. Ending the session thread while it is inside onnxruntime's native run aborts
   * the whole process (the binding throws a C++ exception as the thread's JavaScript environment is
   * torn down), so a thread that may be busy (`busy`: an abandoned session, a latent thread that
   * died under a running session, a close that timed out) is asked to skip its queue and release
   * its session (`abandon`), and ended once it says `closed`, however long its run takes (it holds
   * the process open meanwhile: an exit would end it too). An idle or exited one is ended at once.
   */
  private stopThreads(session: 'busy' | 'idle' | 'gone'): Promise<void> {
    this.stopping ??= (async () => {
      const sampler = this.sampler?.terminate();
      if (session !== 'busy') {
        await Promise.all([this.worker.terminate(), sampler]);
        return;
      }
      const worker = this.worker;
      // A WebGPU thread still inside its run keeps the device's turn until it is free.
      const turns = this.exclusive ? SessionInstance.gpuTurns : null;
      let holding = turns?.extend(this) ?? false;
      const free = () => {
        worker.off('message', onMessage);
        worker.off('exit', free);
        if (holding) turns!.release();
        holding = false;
      };
      const onMessage = (msg: WorkerResponse) => {
        if (msg.type !== 'closed') return;
        free();
        void worker.terminate();
      };
      worker.on('message', onMessage);
      worker.once('exit', free);
      const msg: WorkerRequest = { type: 'abandon' };
      worker.postMessage(msg);
      // A close that timed out leaves runs pending: they fail now (their results are not awaited).
      const dead = this.dead ?? new Error('session closed');
      for (const p of this.pending.values()) p.reject(dead);
      this.pending.clear();
      await sampler;
    })();
    return this.stopping;
  }

  /**
   * Give up a session that stopped answering: its requests fail and its listeners hear of it now,
   * since a thread stuck in a native call only stops (and says so) once that call returns.
   */
  abandon(reason: Error): void {
    if (this.dead !== null || this.abandoned !== null) return;
    this.abandoned = reason;
    this.fail(reason);
  }

  onLost(listener: (err: Error) => void): void {
    const lost = this.lost;
    if (lost) queueMicrotask(() => listener(lost)); // it stopped before anyone listened
    else if (this.dead === null) this.lostListeners.push(listener);
  }

  /** Resolves when the session thread has ended (tests: an abandoned one ends once its run returns). */
  get threadEnded(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.worker.threadId === -1) resolve();
      else this.worker.once('exit', () => resolve());
    });
  }

  /** Whether latents are drawn on a second thread while the session runs (tests, benches). */
  get latentThread(): boolean {
    return this.sampler !== null;
  }

  /** How many batches had their latents drawn ahead on the latent thread (tests, benches). */
  get latentsDrawnAhead(): number {
    return this.drawnAhead;
  }

  /**
   * Stop taking batches, let those already posted finish, release the session on its thread, then
   * stop the threads. A WebGPU session is released in a turn of the shared device, so that no other
   * session's run or release overlaps it. A thread that does not answer within
   * {@link CLOSE_TIMEOUT_MS} is stopped anyway.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const alive = this.dead === null;
    this.dead ??= new Error('session closed');
    this.lostListeners.length = 0;
    let released = false;
    if (alive) {
      const turns = this.exclusive ? SessionInstance.gpuTurns : null;
      await turns?.acquire(this);
      try {
        released = await this.release();
      } finally {
        turns?.release();
      }
    }
    // A thread still in a run (abandoned, or past the close's time) ends once that run returns.
    await this.stopThreads(released ? 'idle' : 'busy');
  }

  /**
   * Asks the worker to release its session; resolves true when it has or its thread stopped, false
   * when the time is up first (the thread is still running a batch).
   */
  private release(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (free: boolean) => {
        clearTimeout(timer);
        this.worker.off('message', onMessage);
        this.worker.off('exit', onExit);
        resolve(free);
      };
      const onMessage = (msg: WorkerResponse) => {
        if (msg.type === 'closed') done(true);
      };
      const onExit = () => done(true);
      const timer = setTimeout(() => done(false), CLOSE_TIMEOUT_MS);
      this.worker.on('message', onMessage);
      this.worker.once('exit', onExit);
      const msg: WorkerRequest = { type: 'close' };
      this.worker.postMessage(msg);
    });
  }
}
