/**
 * Starting tfjs-backend-wasm's threaded SIMD build under Node, where tfjs itself only starts the
 * one-thread build (tensorflow/tfjs#3830: its flag `WASM_HAS_MULTITHREAD_SUPPORT` is false in Node).
 *
 * Two things stop the threaded build in Node, and both are bridged for the length of the
 * backend's initialisation only, then put back:
 * - tfjs hands Emscripten's thread workers `blob:` URLs, which Node's `Worker` refuses. While the
 *   backend starts, `URL.createObjectURL` answers the worker's blob with a `data:` URL of a small
 *   ES module that loads the worker code tfjs ships (`wasm-out/…threaded-simd.worker.js`) and
 *   points it at the package's own copy of the Emscripten glue (`wasm-out/…threaded-simd.js`).
 * - tfjs's C++ caps its XNNPACK thread pool at half of `os.cpus().length` (it assumes two hardware
 *   threads per core), one thread on a 2-core machine. While the backend starts, `os.cpus()`
 *   reports twice the threads asked for, so the pool gets exactly that many.
 *
 * The build pre-starts 8 thread workers (Emscripten's pool), so at most 8 threads. Matrix
 * products and convolutions run on the pool (XNNPACK); element-wise kernels stay on one thread.
 * Results do not depend on the thread count: XNNPACK splits a product by output tiles, each
 * computed whole by one thread.
 *
 * @example
 *   const wasm = await import('@tensorflow/tfjs-backend-wasm');
 *   const plan = planWasmThreads(0);            // 0: every core, at most 8
 *   if (plan.threads > 1) await startThreadedWasm(plan, wasm.setThreadsCount, () => tf.setBackend('wasm'));
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MAX_WASM_THREADS } from './choices.js';

export { MAX_WASM_THREADS };

const require = createRequire(import.meta.url);

export interface WasmThreadPlan {
  /** Threads for the backend: 1 means the one-thread SIMD build. */
  threads: number;
  /** Why, for the backend line: "2 threads (every core)", "1 thread (--threads 1)", … */
  reason: string;
  /** With more than one thread: the tfjs-backend-wasm package.json whose threaded build starts. */
  packageJson?: string;
}

function installedPackageJson(): string | null {
  try {
    return require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  } catch {
    return null;
  }
}

/**
 * The files of tfjs-backend-wasm (at `packageJson`, by default the installed one) that the
 * threaded build needs under Node, or why they are not there.
 */
export function threadedFiles(packageJson: string | null = installedPackageJson()): { packageJson: string; worker: string; glue: string } | string {
  if (typeof SharedArrayBuffer !== 'function') return 'this Node has no SharedArrayBuffer';
  if (!packageJson) return '@tensorflow/tfjs-backend-wasm is not installed';
  const dir = path.dirname(packageJson);
  const worker = path.join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js');
  const glue = path.join(dir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const binary = path.join(dir, 'dist', 'tfjs-backend-wasm-threaded-simd.wasm');
  for (const f of [worker, glue, binary]) if (!fs.existsSync(f)) return `tfjs-backend-wasm has no ${path.relative(dir, f)}`;
  const contents: unknown = (require(worker) as { wasmWorkerContents?: unknown }).wasmWorkerContents;
  if (typeof contents !== 'string') return `${path.relative(dir, worker)} does not export wasmWorkerContents`;
  return { packageJson, worker, glue };
}

/**
 * How many threads the wasm backend gets: `requested` (0: every core the process may use, at most
 * {@link MAX_WASM_THREADS}; 1 for small nets), or 1 when the threaded build cannot start here
 * (with the reason).
 */
/**
 * How many threads a run's matrix products get for `--threads <requested>` (0: every core, at most
 * MAX_WASM_THREADS; small nets one), and why, whichever engine runs them.
 */
export function productThreads(requested: number, smallNets: boolean): { threads: number; why: string } {
  // The toy MLP's products are too small to share: 2 threads took longer than one (bench:train, bench/RESULTS.md).
  if (requested === 0 && smallNets) return { threads: 1, why: 'small nets: handing their products to threads costs more than it saves' };
  const cores = os.availableParallelism();
  const threads = requested === 0 ? Math.min(cores, MAX_WASM_THREADS) : requested;
  return { threads, why: requested === 0 ? (cores > MAX_WASM_THREADS ? `the most wganx starts, of ${cores} cores` : 'every core') : `--threads ${requested}` };
}

export function planWasmThreads(requested: number, opts: { smallNets?: boolean } = {}): WasmThreadPlan {
  if (!Number.isInteger(requested) || requested < 0 || requested > MAX_WASM_THREADS) {
    throw new RangeError(`wasm threads: got ${requested}; allowed: an integer from 0 (every core) to ${MAX_WASM_THREADS}`);
  }
  const { threads, why } = productThreads(requested, opts.smallNets ?? false);
  if (threads === 1) return { threads: 1, reason: `1 thread (${why})` };
  const files = threadedFiles();
  if (typeof files === 'string') return { threads: 1, reason: `1 thread: the threaded build cannot start (${files})` };
  return { threads, reason: `${threads} threads (${why})`, packageJson: files.packageJson };
}

/** The ES module each thread worker runs: tfjs's worker code, with the glue found on disk. */
function workerModule(packageJson: string): string {
  return [
    "import { createRequire } from 'node:module';",
    `const require = createRequire(${JSON.stringify(packageJson)});`,
    "const { wasmWorkerContents } = require('./wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');",
    "const glue = require.resolve('./wasm-out/tfjs-backend-wasm-threaded-simd.js');",
    // The worker asks for the glue by object URL (tfjs passes it a Blob of it): answer with the file.
    'URL.createObjectURL = () => glue;',
    'URL.revokeObjectURL = () => {};',
    // As tfjs does before making its Blob: the code's "\n" escapes must stay escapes.
    "new Function('require', '__filename', wasmWorkerContents.replace(/\\n/g, '\\\\n'))(require, glue);",
  ].join('\n');
}

/**
 * Run `init` (which starts the `wasm` backend: `tf.setBackend('wasm')`) with the threaded build and
 * the plan's threads. Call before the backend's first initialisation; `setThreadsCount` must be
 * tfjs-backend-wasm's.
 */
export async function startThreadedWasm<T>(plan: WasmThreadPlan, setThreadsCount: (n: number) => void, init: () => Promise<T>): Promise<T> {
  const { threads, packageJson } = plan;
  if (threads < 2 || !packageJson) throw new Error(`the threaded wasm build needs a plan of 2 or more threads (${plan.reason})`);
  const workerUrl = new URL(`data:text/javascript,${encodeURIComponent(workerModule(packageJson))}`);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  URL.createObjectURL = ((obj: Blob) =>
    obj instanceof Blob && obj.type === 'application/javascript' ? (workerUrl as unknown as string) : createObjectURL(obj)) as typeof URL.createObjectURL;
  // Only the length is read (Emscripten's emscripten_num_logical_cores).
  (os as { cpus: typeof os.cpus }).cpus = () => new Array<os.CpuInfo>(2 * threads).fill(cpus()[0]!);
  try {
    const result = await init();
    // The pool's threads run for the life of the backend; Emscripten holds the process open for
    // them (`ref()`), so a command would never end: let Node exit while they wait.
    const pthread = (tf.findBackend('wasm') as unknown as { wasm?: { PThread?: { runningWorkers?: { unref(): void }[] } } } | undefined)?.wasm?.PThread;
    for (const worker of pthread?.runningWorkers ?? []) worker.unref();
    return result;
  } finally {
    URL.createObjectURL = createObjectURL;
    (os as { cpus: typeof os.cpus }).cpus = cpus;
  }
}
