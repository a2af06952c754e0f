/**
 * A pool of writer threads (./writer-worker.ts): chunks are encoded and written off the main
 * thread, so that generating the next chunk overlaps writing this one.
 *
 * @example
 *   const pool = new WriterPool(1);
 *   const sha = await pool.write(job);  // sha256 per sample, or throws ChunkWriteError
 *   await pool.close();
 */
import type { Worker } from 'node:worker_threads';
import { ownMemory, startWorker } from '../io/worker-thread.js';
import type { ChunkJob, ChunkResult } from './write-chunk.js';

/** A chunk could not be written (disk full, permissions…): names the file and the system's code. */
export class ChunkWriteError extends Error {
  override name = 'ChunkWriteError';
  constructor(
    readonly file: string,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
  }
}

interface Thread {
  worker: Worker;
  pending: Map<number, { resolve: (sha: string[]) => void; reject: (err: Error) => void }>;
  /** Why the thread is gone (its jobs would never be answered), or null. */
  dead: Error | null;
}

export class WriterPool {
  private readonly threads: Thread[];
  private next = 0;

  constructor(size: number) {
    this.threads = Array.from({ length: Math.max(1, size) }, () => {
      const t: Thread = { worker: startWorker(new URL('./writer-worker.js', import.meta.url)), pending: new Map(), dead: null };
      t.worker.on('message', (r: ChunkResult) => {
        const p = t.pending.get(r.id);
        if (!p) return;
        t.pending.delete(r.id);
        if ('error' in r) p.reject(new ChunkWriteError(r.error.file, r.error.code, r.error.message));
        else p.resolve(r.sha256);
      });
      const fail = (err: Error) => {
        t.dead ??= err;
        for (const p of t.pending.values()) p.reject(err);
        t.pending.clear();
      };
      t.worker.on('error', (err) => fail(new Error(`a writer thread crashed: ${err.message}`)));
      t.worker.on('messageerror', (err) => fail(new Error(`a writer thread's answer could not be read: ${err.message}`)));
      t.worker.on('exit', (code) => fail(new Error(`a writer thread exited (code ${code})`)));
      return t;
    });
  }

  /** Write a chunk on the next thread (round robin); its outputs are transferred, not copied. */
  write(job: ChunkJob): Promise<string[]> {
    const t = this.threads[this.next++ % this.threads.length];
    return new Promise<string[]>((resolve, reject) => {
      if (t.dead) return reject(t.dead);
      t.pending.set(job.id, { resolve, reject });
      const data = ownMemory(job.data);
      t.worker.postMessage({ ...job, data }, [data.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
