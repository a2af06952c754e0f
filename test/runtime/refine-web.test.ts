/**
 * Refinement in the browser runtime (src/runtime/web.ts on onnxruntime-web's WASM build, here in
 * Node with a fetch stub for the model folder): the critic's graphs are fetched only when a method
 * first needs them, checked against the manifest's sha256, and `rank` picks the latents that
 * onnxruntime-node picks for the same request, bit for bit (the outputs then differ only as raw
 * samples do between the two runtimes' kernels); the gradient methods agree within 1/255.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seededSamples } from '../../src/core/seeded.js';
import { Generator } from '../../src/runtime/generator.js';
import { openGenerator } from '../../src/runtime/node.js';
import { openWebSession } from '../../src/runtime/web.js';
import { criticFixtures } from './refine-fixtures.js';

let fx: Awaited<ReturnType<typeof criticFixtures>>;
before(async () => {
  fx = await criticFixtures();
});
after(() => fx.cleanup());

/** `fetch` answering `<anything>/<model>/<file>` from the fixture folder (the query ignored), logging each file, with `tamper` replacing a file's bytes. */
function stub(fetched: string[], tamper: Record<string, Uint8Array> = {}): typeof fetch {
  return (async (url: string | URL) => {
    const [model, file] = String(url).split('?')[0].split('/').slice(-2);
    fetched.push(file);
    const bytes = tamper[file] ?? (await readFile(join(fx.root, model, file)));
    return new Response(new Uint8Array(bytes), { status: 200 });
  }) as typeof fetch;
}

async function webGenerator(dir: string, fetched: string[], tamper: Record<string, Uint8Array> = {}): Promise<Generator> {
  const parts = await openWebSession(`http://host/${dir}/`, { device: 'wasm', threads: 1, fetch: stub(fetched, tamper) });
  return new Generator(parts.manifest, parts.session, parts.choice, parts.open);
}

test('rank: the same latents as onnxruntime-node, bit for bit; dot and ddls within 1/255; the critic is fetched on first need only', async () => {
  for (const name of ['points', 'digits']) {
    const fetched: string[] = [];
    const web = await webGenerator(name, fetched);
    const node = await openGenerator(join(fx.root, name), { threads: 1 });
    try {
      await web.sample({ seed: 1, n: 4 });
      assert.deepEqual(fetched, ['manifest.json', 'generator.onnx']);
      // rank picks the same latents bit for bit (scores compared on a grid): the samples are then
      // the generator's outputs of one latent, as raw samples are (kernels may differ in the last bits).
      const { z, labels } = seededSamples(node.manifest, { seed: 7, start: 3, n: 40 });
      const rows = { seed: 7, indices: Array.from({ length: 40 }, (_, i) => 3 + i), z, labels };
      const [wz, nz] = [await web.refineLatents(rows, { method: 'rank', k: 8 }), await node.refineLatents(rows, { method: 'rank', k: 8 })];
      assert.deepEqual(Array.from(wz), Array.from(nz), `${name}: rank's latents`);
      assert.notDeepEqual(Array.from(nz), Array.from(z), `${name}: rank moved some`);
      assert.deepEqual(fetched, ['manifest.json', 'generator.onnx', 'critic.onnx']);
      const [w, n] = [await web.sample({ seed: 7, start: 3, n: 40, refine: { method: 'rank', k: 8 } }), await node.sample({ seed: 7, start: 3, n: 40, refine: { method: 'rank', k: 8 } })];
      Array.from(w.data).forEach((v, i) => assert.ok(Math.abs(v - n.data[i]) < 1e-5, `${name}: rank output ${i}: ${v} vs ${n.data[i]}`));
      for (const refine of [{ method: 'dot', steps: 5 }, { method: 'ddls', steps: 5 }]) {
        const a = await web.sample({ seed: 2, n: 10, refine });
        const b = await node.sample({ seed: 2, n: 10, refine });
        Array.from(a.data).forEach((v, i) => assert.ok(Math.abs(v - b.data[i]) <= 1 / 255, `${name} ${refine.method}: output ${i}: ${v} vs ${b.data[i]}`));
      }
      assert.deepEqual(fetched, ['manifest.json', 'generator.onnx', 'critic.onnx', 'refine.onnx']);
    } finally {
      await web.dispose();
      await node.dispose();
    }
  }
});

test('a critic file that does not match the manifest is refused when first needed, naming the file', async () => {
  const web = await webGenerator('points', [], { 'critic.onnx': new Uint8Array([1, 2, 3]) });
  try {
    assert.equal((await web.sample({ seed: 0, n: 2 })).data.length, 4);
    await assert.rejects(web.sample({ seed: 0, n: 2, refine: { method: 'rank' } }), /critic\.onnx has sha256 [0-9a-f]{12}…, manifest\.json says/);
  } finally {
    await web.dispose();
  }
});
