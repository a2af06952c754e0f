/**
 * bench:web — samples/s of a generator in Chromium (the wganx/web module on onnxruntime-web):
 * WASM with 1 thread, WASM threaded (cross-origin isolated page), and WebGPU on SwiftShader, against
 * onnxruntime-node's CPU provider with one thread on the same ONNX file and batch sizes. Rounds
 * interleave the engines; prints medians and the median of the per-round ratios to Node.
 * Target: browser WASM (threaded) ≥ 0.5× onnxruntime-node with one thread.
 *
 *   npm run bench:web [-- --rounds 3 --budget-ms 1000 --threads 2 --no-webgpu --gpu]
 *
 * --gpu: Chromium's WebGPU on the machine's real GPU (no SwiftShader flag) instead.
 * Needs /usr/bin/chromium (Debian's chromium package).
 */
import * as tf from '@tensorflow/tfjs';
import { build } from 'esbuild';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
// @ts-expect-error -- a plain .mjs build script without type declarations
import { buildWeb } from '../scripts/build-web.mjs';
import { exportModel } from '../src/export/index.js';
import { sampleLatents } from '../src/core/latent.js';
import { readModelFolder } from '../src/runtime/model-folder.js';
import { createSession, runtimeVersion } from '../src/runtime/node.js';
import { startServer } from '../src/serve/http/server.js';
import { resolveServeOptions, silentLogger } from '../src/serve/options.js';
import { dcganGenerator, median } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'budget-ms': { type: 'string', default: '1000' },
    threads: { type: 'string', default: String(Math.max(2, Math.min(4, availableParallelism()))) },
    'no-webgpu': { type: 'boolean', default: false },
    gpu: { type: 'boolean', default: false },
  },
});
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(args.rounds);
const BUDGET = Number(args['budget-ms']);
const THREADS = Number(args.threads);
const BATCHES = [1, 64, 256];
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const WEBGPU_ARGS = args.gpu ? ['--enable-unsafe-webgpu', '--enable-features=Vulkan'] : ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];

const tmp = mkdtempSync(join(tmpdir(), 'wganx-bench-web-'));
const webDir = join(tmp, 'web');
const modelsDir = join(tmp, 'models');
await tf.setBackend('cpu');
await exportModel(await dcganGenerator(), join(modelsDir, 'bench-dcgan'), { name: 'bench-dcgan' });
for (const m of ['mnist-cgan']) {
  const { manifest } = await readModelFolder(join(ROOT, 'models', m));
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(modelsDir, m), { recursive: true });
  for (const f of ['manifest.json', manifest.export.file]) copyFileSync(join(ROOT, 'models', m, f), join(modelsDir, m, f));
}
await buildWeb({ outDir: webDir }); // the page alone: the server hands out onnxruntime-web's files and the models
await build({ entryPoints: [join(ROOT, 'bench', 'web', 'bench-page.ts')], outfile: join(webDir, 'bench.js'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', conditions: ['onnxruntime-web-use-extern-wasm'], logLevel: 'warning' });
copyFileSync(join(ROOT, 'bench', 'web', 'bench.html'), join(webDir, 'bench.html'));
const server = await startServer(resolveServeOptions({ modelsDir, port: 0, host: '127.0.0.1', device: 'cpu', threads: 1, reloadIntervalMs: 0 }), { logger: silentLogger, webDir });

async function openPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${server.url}/bench.html`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready');
  return page;
}

type Result = { samplesPerSecond: number; device: string; threads: number };
const inPage = (page: Page, model: string, device: string, threads: number, batch: number): Promise<Result> =>
  page.evaluate(([m, d, t, b, ms]) => (globalThis as unknown as { runBench: (...a: unknown[]) => Promise<Result> }).runBench(m, d, t, b, ms), [model, device, threads, batch, BUDGET] as const);

try {
  const plain = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: BASE_ARGS });
  const gpu = args['no-webgpu'] ? null : await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...BASE_ARGS, ...WEBGPU_ARGS] });
  // One page per configuration: onnxruntime-web's thread count is fixed once its WASM has started.
  const pages = { wasm1: await openPage(plain), wasmN: await openPage(plain), webgpu: gpu ? await openPage(gpu) : null };
  console.log(`bench:web — Chromium ${plain.version()}, onnxruntime-web (page) vs onnxruntime-node ${runtimeVersion()} CPU with 1 thread; ${availableParallelism()} cores; ${ROUNDS} rounds of ~${BUDGET} ms; WebGPU: ${gpu ? (args.gpu ? 'the GPU' : 'SwiftShader') : 'off'}`);
  console.log('model        batch   node-1t   wasm-1t   wasm-Nt    webgpu   wasm-1t/node  wasm-Nt/node  webgpu/node');
  for (const model of ['mnist-cgan', 'bench-dcgan']) {
    const folder = await readModelFolder(join(modelsDir, model));
    const session = await createSession(folder.bytes, { providers: ['cpu'], threads: 1 });
    const m = folder.manifest;
    for (const batch of BATCHES) {
      const r: Record<string, number[]> = { node: [], wasm1: [], wasmN: [], webgpu: [] };
      let threadsSeen = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const z = sampleLatents({ seed: 1, start: 0, count: batch, dim: m.latent.dim });
        const feeds: Record<string, { dtype: 'float32' | 'int64'; data: Float32Array | BigInt64Array; dims: number[] }> = { [m.inputs.find((i) => i.role === 'latent')!.name]: { dtype: 'float32', data: z, dims: [batch, m.latent.dim] } };
        const label = m.inputs.find((i) => i.role === 'label');
        if (label) feeds[label.name] = { dtype: 'int64', data: BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 10)), dims: label.shape.length === 1 ? [batch] : [batch, 1] };
        await session.run(feeds);
        let n = 0;
        const t0 = performance.now();
        do {
          await session.run(feeds);
          n++;
        } while (performance.now() - t0 < BUDGET || n < 2);
        r.node.push((n * batch * 1000) / (performance.now() - t0));
        r.wasm1.push((await inPage(pages.wasm1, model, 'wasm', 1, batch)).samplesPerSecond);
        const threaded = await inPage(pages.wasmN, model, 'wasm', THREADS, batch);
        threadsSeen = threaded.threads;
        r.wasmN.push(threaded.samplesPerSecond);
        if (pages.webgpu) {
          const w = await inPage(pages.webgpu, model, 'webgpu', 1, batch);
          if (w.device !== 'webgpu') throw new Error(`WebGPU page ran on ${w.device}`);
          r.webgpu.push(w.samplesPerSecond);
        }
      }
      const ratio = (k: string) => (r[k].length ? median(r[k].map((x, i) => x / r.node[i])).toFixed(2) : '—');
      const med = (k: string) => (r[k].length ? median(r[k]).toFixed(0) : '—');
      console.log(`${model.padEnd(12)} ${String(batch).padStart(5)} ${med('node').padStart(9)} ${med('wasm1').padStart(9)} ${med('wasmN').padStart(9)} ${med('webgpu').padStart(9)}   ${ratio('wasm1').padStart(12)}  ${ratio('wasmN').padStart(12)}  ${ratio('webgpu').padStart(11)}`);
      if (threadsSeen !== THREADS) console.log(`  (the threaded page ran ${threadsSeen} threads, not ${THREADS})`);
    }
    await session.release();
  }
  await plain.close();
  await gpu?.close();
} finally {
  await server.shutdown();
  rmSync(tmp, { recursive: true, force: true });
}
