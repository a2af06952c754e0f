/**
 * The PyTorch side of `bench:serve -- --peers` (./serve-peers.ts): bench/torch_serve_peer.py in a
 * child process, driven one JSON line at a time (it keeps the models, so the rounds interleave
 * with wganx's), and the parity files it checks its outputs against.
 *
 * @example
 *   const peer = await TorchServePeer.start();
 *   await peer.load({ key: 'ring', onnx, inputs, expected, batches: [1, 64], tolerance: 1e-4 });
 *   const { seconds } = await peer.time({ key: 'ring', variant: 'frozen', batch: 64, threads: 1, ms: 500 });
 *   await peer.close();
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeNpy } from '../src/encode/encode.js';
import type { TensorValue } from '../src/runtime/session.js';
import { PYTHON } from './torch-peer.js';

export const TORCH_SERVE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_serve_peer.py');

/** null when the peer can run here (python with torch, numpy and onnx), else the reason it cannot. */
export function torchServeMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy, onnx'], { encoding: 'utf8' });
  if (r.status === 0) return null;
  const why = (r.stderr || r.error?.message || '').trim().split('\n').pop();
  return `${PYTHON} cannot import torch, numpy and onnx (${why}); apt-get install python3-torch python3-onnx, or set WGANX_PYTHON`;
}

/** null when PyTorch's HTTP peer can run here (FastAPI and uvicorn beside torch), else the reason it cannot. */
export function torchHttpMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn'], { encoding: 'utf8' });
  if (r.status === 0) return null;
  const why = (r.stderr || r.error?.message || '').trim().split('\n').pop();
  return `${PYTHON} cannot import fastapi and uvicorn (${why}); apt-get install python3-fastapi python3-uvicorn python3-uvloop python3-httptools`;
}

export interface LoadRequest {
  key: string;
  /** The ONNX file. */
  onnx: string;
  /** A `.npy` file per graph input (the parity rows; the first `batch` rows are also the timing inputs). */
  inputs: Record<string, string>;
  /** onnxruntime's outputs on those rows (`.npy`). */
  expected: string;
  batches: number[];
  tolerance: number;
}

export interface LoadResult {
  /** FLOPs per sample as PyTorch's run counts them (a cross-check of ./serve-peers-graph.ts). */
  flops: number;
  byOp: Record<string, { nodes: number; flops: number }>;
  inputNames: string[];
  eagerMaxDiff: number;
  frozenMaxDiff: Record<string, number>;
  prepareS: number;
}

export interface TimeRequest {
  key: string;
  variant: 'eager' | 'frozen';
  batch: number;
  threads: number;
  /** Keep calling for about this long (after one untimed call). */
  ms: number;
  minCalls?: number;
}

export class TorchServePeer {
  private readonly pending: { resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string }[] = [];
  private stderr = '';
  private exited: Error | null = null;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    /** torch's version and default thread count, from the first line. */
    readonly info: Promise<{ torch: string; onnx: string; defaultThreads: number; openblasThreads: number | null }>,
  ) {}

  static start(): TorchServePeer {
    const child = spawn(PYTHON, [TORCH_SERVE_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let ready!: (v: unknown) => void;
    let failed!: (e: Error) => void;
    const info = new Promise((resolve, reject) => ((ready = resolve), (failed = reject)));
    const peer = new TorchServePeer(child, info as TorchServePeer['info']);
    peer.pending.push({ resolve: ready, reject: failed, cmd: 'start' });
    child.stderr.on('data', (d: Buffer) => (peer.stderr = (peer.stderr + d.toString()).slice(-4000)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const p = peer.pending.shift();
      if (!p) return;
      const msg = JSON.parse(line) as { error?: string };
      if (msg.error) p.reject(new Error(`${TORCH_SERVE_SCRIPT} ${p.cmd}: ${msg.error}`));
      else p.resolve(msg);
    });
    child.on('exit', (code, signal) => {
      peer.exited = new Error(`${TORCH_SERVE_SCRIPT} exited (${signal ?? code}):\n${peer.stderr.trim()}`);
      for (const p of peer.pending.splice(0)) p.reject(peer.exited);
    });
    child.on('error', (err) => {
      peer.exited = new Error(`${PYTHON} ${TORCH_SERVE_SCRIPT} did not start: ${err.message}`);
      for (const p of peer.pending.splice(0)) p.reject(peer.exited);
    });
    return peer;
  }

  private request<T>(msg: { cmd: string; [field: string]: unknown }): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ resolve: resolve as (v: unknown) => void, reject, cmd: `${msg.cmd} ${JSON.stringify(msg)}` });
      this.child.stdin.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Build the module from the ONNX file, trace and freeze it per batch, and check both against onnxruntime. */
  load(req: LoadRequest): Promise<LoadResult> {
    return this.request({ cmd: 'load', ...req });
  }

  /** The duration of each call, seconds. */
  time(req: TimeRequest): Promise<{ seconds: number[] }> {
    return this.request({ cmd: 'time', ...req });
  }

  /** torch.mm GFLOP/s on n×n matrices. */
  peak(n: number, threads: number, ms: number): Promise<{ gflops: number }> {
    return this.request({ cmd: 'peak', n, threads, ms });
  }

  /** PyTorch eager behind FastAPI on uvicorn, serving the loaded models (bench/torch_serve_peer.py's docstring). */
  http(): Promise<{ port: number; server: string }> {
    return this.request({ cmd: 'http' });
  }

  /** The python process's id (its CPU time counts as the bench's own). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
    await done;
  }
}

/**
 * Write the parity files of one model into `dir`: each graph input as `<name>.npy` and
 * onnxruntime's outputs on them as `expected.npy`; returns the paths for {@link LoadRequest}.
 */
export function writeParityFiles(dir: string, feeds: Record<string, TensorValue>, output: TensorValue): { inputs: Record<string, string>; expected: string } {
  const inputs: Record<string, string> = {};
  for (const [name, t] of Object.entries(feeds)) {
    inputs[name] = join(dir, `${name}.npy`);
    writeFileSync(inputs[name], encodeNpy(t.data, t.dims));
  }
  const expected = join(dir, 'expected.npy');
  writeFileSync(expected, encodeNpy(output.data, output.dims));
  return { inputs, expected };
}
