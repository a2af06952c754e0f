/**
 * The in-browser half of bench:web (bench/web.bench.ts): `runBench(...)` opens a model with the
 * wganx/web module on a device and times `Generator.run` on fixed latents at one batch size.
 */
import { openGenerator, wasmThreads, type WebGenerator } from '../../src/web/index.js';

const opened = new Map<string, WebGenerator>();

async function runBench(model: string, device: string, threads: number, batch: number, budgetMs: number): Promise<{ samplesPerSecond: number; device: string; threads: number }> {
  const key = `${model}|${device}|${threads}`;
  let g = opened.get(key);
  if (!g) {
    g = await openGenerator(`models/${model}/`, { device, threads });
    opened.set(key, g);
  }
  const dim = g.manifest.latent.dim;
  const z = new Float32Array(batch * dim).map((_, i) => Math.sin(i));
  const labels = g.manifest.conditional ? new Int32Array(batch).map((_, i) => i % g.manifest.conditional!.numClasses) : null;
  await g.run(z, labels); // warm-up
  let n = 0;
  const t0 = performance.now();
  do {
    await g.run(z, labels);
    n++;
  } while (performance.now() - t0 < budgetMs || n < 2);
  return { samplesPerSecond: (n * batch * 1000) / (performance.now() - t0), device: g.device, threads: g.device === 'wasm' ? wasmThreads() : 0 };
}

(globalThis as { runBench?: typeof runBench }).runBench = runBench;
document.body.dataset.state = 'ready';
