/**
 * The wasm backend's threaded build under Node (src/tfjs/wasm-threads.ts): the thread plan, and
 * training runs with 1 and 2 threads. The threads are fixed when the backend first starts, so each
 * run is its own process; each must end by itself (the pool's threads must not hold Node open),
 * say how many threads it has, and log the same figures to the last bit (XNNPACK splits a
 * product by output tiles, each computed whole by one thread).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_WASM_THREADS, planWasmThreads, threadedFiles } from '../../src/tfjs/wasm-threads.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'wganx-wasm-threads-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the plan: 0 takes every core up to the pool size (one thread for small nets), 1 the one-thread build, and bad counts are refused', () => {
  const all = planWasmThreads(0);
  assert.equal(all.threads, Math.min(os.availableParallelism(), MAX_WASM_THREADS));
  assert.match(all.reason, /^\d+ threads? \((every core|the most wganx starts, of \d+ cores)\)$/);
  assert.deepEqual(planWasmThreads(1), { threads: 1, reason: '1 thread (--threads 1)' });
  const installed = threadedFiles();
  assert.ok(typeof installed === 'object', String(installed));
  assert.deepEqual(planWasmThreads(3), { threads: 3, reason: '3 threads (--threads 3)', packageJson: installed.packageJson });
  assert.equal(planWasmThreads(0, { smallNets: true }).threads, 1);
  assert.match(planWasmThreads(0, { smallNets: true }).reason, /small nets/);
  assert.equal(planWasmThreads(2, { smallNets: true }).threads, 2);
  for (const bad of [-1, 1.5, MAX_WASM_THREADS + 1]) assert.throws(() => planWasmThreads(bad), new RegExp(`got ${bad}; allowed: an integer from 0 \\(every core\\) to ${MAX_WASM_THREADS}`));
});

test('the threaded build is found in the installed tfjs-backend-wasm, and a copy without its wasm-out files is named as the reason', () => {
  const found = threadedFiles();
  assert.equal(typeof found, 'object', String(found));
  const pkg = join(tmp, 'no-wasm-out', 'package.json');
  mkdirSync(join(tmp, 'no-wasm-out', 'dist'), { recursive: true });
  writeFileSync(pkg, '{}');
  assert.equal(threadedFiles(pkg), `tfjs-backend-wasm has no ${join('wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js')}`);
  assert.equal(threadedFiles(null), '@tensorflow/tfjs-backend-wasm is not installed');
});

function train(threads: number, matmul = 'auto'): { stdout: string; metrics: unknown[] } {
  const out = join(tmp, `t${threads}-${matmul}`);
  const args = [
    '--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'train', '--dataset', 'mnist', '--conditional', '--arch', 'dcgan', '--hidden', '8', '--batch', '16', '--latent', '8',
    '--steps', '3', '--backend', 'wasm', '--threads', String(threads), '--matmul', matmul, '--no-eval', '--no-export', '--sample-every', '0', '--log-every', '1', '--out', out,
  ];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.error, undefined, `--threads ${threads}: ${r.error?.message} (a run that does not end by itself times out)`);
  assert.equal(r.status, 0, r.stderr);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  // Wall-clock fields differ between runs; every figure of the training must not.
  return { stdout: r.stdout, metrics: metrics.map(({ seconds: _s, stepsPerSecond: _r, ...rest }) => rest) };
}

test('a DCGAN run on 2 threads ends by itself, says so, and logs exactly what the one-thread run logs (products on onnxruntime-node, and on XNNPACK)', () => {
  for (const matmul of ['auto', 'xnnpack']) {
    const one = train(1, matmul);
    const two = train(2, matmul);
    if (matmul === 'auto') {
      // The products on onnxruntime's threads; the wasm backend on its one-thread build.
      for (const [r, n] of [[one, 1], [two, 2]] as const) {
        assert.match(r.stdout, new RegExp(`backend: wasm \\(requested with --backend; matrix products on onnxruntime-node [\\d.]+ \\(MLAS\\), ${n} threads? \\(--threads ${n}\\); the one-thread wasm build for the rest\\)`));
      }
    } else {
      assert.match(one.stdout, /backend: wasm \(requested with --backend; 1 thread \(--threads 1\); matrix products on XNNPACK\)/);
      assert.match(two.stdout, /backend: wasm \(requested with --backend; 2 threads \(--threads 2\); matrix products on XNNPACK\)/);
    }
    assert.equal(one.metrics.length, 3);
    assert.deepEqual(two.metrics, one.metrics, `--matmul ${matmul}`);
  }
});
