/**
 * Child process of test/serve/refine.test.ts (WebGPU needs LD_LIBRARY_PATH and VK_ICD_FILENAMES at
 * process start): serves the model folders under argv[2] on `--device webgpu` (SwiftShader) and
 * prints, per model, method and size, whether the engine's refined samples are the bytes of
 * `Generator.sample` on WebGPU in this process, as one JSON line.
 */
import { join } from 'node:path';
import { seededSamples } from '../../src/core/seeded.js';
import { openGenerator } from '../../src/runtime/node.js';
import type { RefineRequest } from '../../src/runtime/refine/index.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { servedRefine } from '../../src/serve/engine/refine.js';
import { resolveServeOptions, silentLogger } from '../../src/serve/options.js';

const root = process.argv[2];
const REQUESTS: RefineRequest[] = [{ method: 'rank', k: 6, sigma: 0.5 }, { method: 'dot', steps: 4, stepSize: 0.05 }, { method: 'ddls', steps: 3, stepSize: 0.02 }];
const engine = await Engine.start(resolveServeOptions({ modelsDir: root, device: 'webgpu', threads: 1, reloadIntervalMs: 0, maxBatch: 16 }), { logger: silentLogger });
const results: { model: string; method: string; n: number; device: string; same: boolean; maxDiff: number }[] = [];
try {
  for (const name of ['points', 'digits']) {
    const model = engine.model(name);
    const g = await openGenerator(join(root, name), { device: 'webgpu', threads: 1 });
    try {
      for (const refine of REQUESTS) {
        for (const n of [5, 40]) {
          const { labels } = seededSamples(model.manifest, { seed: 11, start: 0, n });
          const served = await engine.submit(model, { rows: n, source: { kind: 'seeded', seed: 11, start: 0 }, labels, refine: servedRefine(model, refine, 'body.refine', engine.options) });
          const want = await g.sample({ seed: 11, n, refine });
          let maxDiff = 0;
          for (let i = 0; i < want.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(served.data[i] - want.data[i]));
          const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
          results.push({ model: name, method: refine.method, n, device: `${model.device.device}/${g.device}`, same: bytes(served.data).equals(bytes(want.data)), maxDiff });
        }
      }
    } finally {
      await g.dispose();
    }
  }
} finally {
  await engine.close();
}
process.stdout.write(`${JSON.stringify(results)}\n`);
