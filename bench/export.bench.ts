/**
 * bench:export — samples/s of onnxruntime-node on our exported DCGAN generator against tfjs
 * `predict` on every tfjs backend available here, at batch 1, 64 and 256, measured side by side
 * (rounds interleave the engines so machine noise hits them alike). Prints medians and ratios.
 *
 *   npm run bench:export [-- --rounds 5 --budget-ms 400]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { convertLayersModel } from '../src/export/index.js';
import { createSession, runtimeVersion } from '../src/runtime/node.js';
import { sampleLatents } from '../src/core/latent.js';
import { BENCH_LATENT, dcganGenerator, median } from './common.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, 'budget-ms': { type: 'string', default: '400' } } });
const ROUNDS = Number(args.rounds);
const BUDGET_MS = Number(args['budget-ms']);
const BATCHES = [1, 64, 256];
const LATENT = BENCH_LATENT;

/** Run `fn` repeatedly for about BUDGET_MS (at least twice); samples/s of the whole span. */
async function rate(batch: number, fn: () => Promise<void> | void): Promise<number> {
  await fn(); // warm-up
  let n = 0;
  const start = performance.now();
  do {
    await fn();
    n++;
  } while (performance.now() - start < BUDGET_MS || n < 2);
  return (n * batch) / ((performance.now() - start) / 1000);
}

async function availableBackends(): Promise<string[]> {
  const names: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      names.push('tensorflow');
      break;
    } catch {
      /* not installed: fine */
    }
  }
  for (const name of ['wasm', 'cpu']) if (await tf.setBackend(name).catch(() => false)) names.push(name);
  return names;
}

const backends = await availableBackends();
await tf.setBackend('cpu');
const model = await dcganGenerator();
const { bytes } = convertLayersModel(model);
const session = await createSession(bytes, { providers: ['cpu'] });
// The same weights on every backend: serialise once, reload per backend.
const artifacts = await new Promise<tf.io.ModelArtifacts>((resolve) => model.save(tf.io.withSaveHandler(async (a) => (resolve(a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }))));
const models: Record<string, tf.LayersModel> = {};
for (const b of backends) {
  await tf.setBackend(b);
  models[b] = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

console.log(`bench:export — DCGAN generator (latent ${LATENT} → 28×28×1), ${cpus().length} cores, onnxruntime-node ${runtimeVersion()}, tfjs ${tf.version.tfjs}`);
console.log(`tfjs backends here: ${backends.join(', ')}; ${ROUNDS} interleaved rounds of ~${BUDGET_MS} ms per engine; samples/s (median)\n`);
const rows: string[][] = [['batch', 'onnxruntime', ...backends.map((b) => `tfjs-${b}`), ...backends.map((b) => `ort / tfjs-${b}`)]];
for (const batch of BATCHES) {
  const z = sampleLatents({ seed: 1, start: 0, count: batch, dim: LATENT });
  const feeds = { z: { dtype: 'float32' as const, data: z, dims: [batch, LATENT] } };
  const results: Record<string, number[]> = { ort: [] };
  for (const b of backends) results[b] = [];
  for (let r = 0; r < ROUNDS; r++) {
    results.ort.push(await rate(batch, async () => void (await session.run(feeds))));
    for (const b of backends) {
      await tf.setBackend(b);
      const input = tf.tensor(z, [batch, LATENT]);
      results[b].push(
        await rate(batch, async () => {
          const y = models[b].predict(input) as tf.Tensor;
          await y.data();
          y.dispose();
        }),
      );
      input.dispose();
    }
  }
  const ortRate = median(results.ort);
  rows.push([String(batch), ortRate.toFixed(0), ...backends.map((b) => median(results[b]).toFixed(0)), ...backends.map((b) => `${(ortRate / median(results[b])).toFixed(1)}×`)]);
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c])).join('  '));
await session.release();
