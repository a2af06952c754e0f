/**
 * The Node runtime: generators opened from model folders give exactly what a bare onnxruntime-node
 * session gives on hand-built feeds (the reference here is independent of src/runtime), with the
 * core's latents and label rule; and the server, `wganx eval` and the runtime agree bit for bit.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import request from 'supertest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { defaultLabels } from '../../src/core/labels.js';
import { interpolateLatents, sampleLatents } from '../../src/core/latent.js';
import { ModelLoadError, readModelFolder } from '../../src/runtime/model-folder.js';
import { bundledModel, createSession, cudaProviderLibrary, openGenerator, probeNodeDevice, resolveNodeDevice } from '../../src/runtime/node.js';
import { Generator } from '../../src/runtime/generator.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { createApp } from '../../src/serve/http/app.js';
import { silentLogger } from '../../src/serve/options.js';
import { fixtureModels, PET_LABELS, testOptions } from '../serve/fixtures.js';
import { parseNpy } from '../serve/helpers.js';

let fx: Awaited<ReturnType<typeof fixtureModels>>;
before(async () => {
  fx = await fixtureModels();
});
after(() => fx.cleanup());

/** A bare onnxruntime-node session on the folder's ONNX file, fed by hand. */
async function bare(name: string, z: Float32Array, labels: number[] | null): Promise<Float32Array> {
  const dir = join(fx.models, name);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const session = await ort.InferenceSession.create(join(dir, manifest.export.file), { intraOpNumThreads: 1 });
  const dim = manifest.latent.dim;
  const rows = z.length / dim;
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of manifest.inputs) {
    feeds[input.name] = input.role === 'latent' ? new ort.Tensor('float32', z, [rows, dim]) : new ort.Tensor('int64', BigInt64Array.from(labels!, (v) => BigInt(v)), [rows, 1]);
  }
  const out = await session.run(feeds);
  await session.release();
  return (out[manifest.outputs[0].name].data as Float32Array).slice();
}

test('sample() is bit-identical to a bare session on the core latents, for points, images and a conditional model', async () => {
  for (const [name, dim] of [['ring', 2], ['digits', 8]] as const) {
    const g = await openGenerator(join(fx.models, name), { threads: 1 });
    try {
      assert.equal(g.device, 'cpu');
      const got = await g.sample({ seed: 42, start: 3, n: 5 });
      assert.equal(got.labels, null);
      assert.deepEqual(Array.from(got.data), Array.from(await bare(name, sampleLatents({ seed: 42, start: 3, count: 5, dim }), null)));
      assert.deepEqual(got.dims, name === 'ring' ? [5, 2] : [5, 8, 8, 1]);
    } finally {
      await g.dispose();
    }
  }
  const pets = await openGenerator(join(fx.models, 'pets'), { threads: 1 });
  try {
    const z = sampleLatents({ seed: 9, start: 0, count: 6, dim: 4 });
    // Default classes: the core rule, the same for sample i of seed s everywhere.
    const byRule = await pets.sample({ seed: 9, n: 6 });
    const rule = Array.from(defaultLabels(9, 0, 6, 3));
    assert.deepEqual(Array.from(byRule.labels!), rule);
    assert.deepEqual(Array.from(byRule.data), Array.from(await bare('pets', z, rule)));
    // By name, and one class for all.
    const named = await pets.sample({ seed: 9, n: 6, labels: ['dog', 'eel', 'cat', 0, 1, 2] });
    assert.deepEqual(Array.from(named.data), Array.from(await bare('pets', z, [1, 2, 0, 0, 1, 2])));
    const one = await pets.sample({ seed: 9, n: 6, cls: 'eel' });
    assert.deepEqual(Array.from(one.labels!), [2, 2, 2, 2, 2, 2]);
    // The interpolation: both ends are samples 0 of their seeds.
    const walk = await pets.interpolate(1, 2, 4, 'cat');
    assert.deepEqual(Array.from(walk.data), Array.from(await bare('pets', interpolateLatents(1, 2, 4, 4), [0, 0, 0, 0])));
  } finally {
    await pets.dispose();
  }
});

test('bad requests name the field, the value and what is allowed', async () => {
  const pets = await openGenerator(join(fx.models, 'pets'), { threads: 1 });
  const ring = await openGenerator(join(fx.models, 'ring'), { threads: 1 });
  try {
    const field = (f: string) => (e: unknown) => e instanceof InvalidArgumentError && e.field === f;
    await assert.rejects(pets.sample({ seed: 1, n: 2, cls: 'owl' }), field('class'));
    await assert.rejects(pets.sample({ seed: 1, n: 2, labels: [0] }), field('labels'));
    await assert.rejects(pets.sample({ seed: 1, n: 0 }), field('n'));
    await assert.rejects(pets.run(new Float32Array(8), new Int32Array([0, 3])), field('labels.1'));
    await assert.rejects(pets.run(new Float32Array(8), null), field('labels'));
    await assert.rejects(ring.sample({ seed: 1, n: 2, cls: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'class' && /not conditional/.test(e.allowed));
    await assert.rejects(ring.run(new Float32Array(3)), field('z.length'));
    await assert.rejects(openGenerator(join(fx.models, 'ring'), { device: 'tpu' }), field('--device'));
  } finally {
    await Promise.all([pets.dispose(), ring.dispose()]);
  }
});

test('the model folder reader refuses a replaced ONNX file and a manifest naming inputs the graph lacks', async () => {
  const fx2 = await fixtureModels(['ring']);
  try {
    const dir = join(fx2.models, 'ring');
    const folder = await readModelFolder(dir, { name: 'ring' });
    assert.equal(folder.file, 'generator.onnx');
    await assert.rejects(readModelFolder(dir, { name: 'other' }), (e: unknown) => e instanceof ModelLoadError && /names the model "ring" but its folder is "other"/.test((e as Error).message));
    const session = await createSession(folder.bytes, { providers: ['cpu'], threads: 1 });
    const renamed = { ...folder.manifest, inputs: [{ ...folder.manifest.inputs[0], name: 'noise' }] };
    assert.throws(() => new Generator(renamed, session, { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] }), /the manifest names "noise" that it lacks/);
    await session.release();
    writeFileSync(join(dir, 'generator.onnx'), Buffer.concat([Buffer.from(folder.bytes), Buffer.from([0])]));
    await assert.rejects(openGenerator(dir), (e: unknown) => e instanceof ModelLoadError && /sha256 .* manifest.json says .* \(file replaced or damaged\)/.test((e as Error).message));
    writeFileSync(join(dir, 'manifest.json'), '{"schemaVersion": 1');
    await assert.rejects(readModelFolder(dir), (e: unknown) => e instanceof ModelLoadError && /manifest.json is not valid JSON/.test((e as Error).message));
  } finally {
    fx2.cleanup();
  }
});

test('the server serves the very floats the runtime computes (bit for bit)', async () => {
  const engine = await Engine.start(testOptions(fx.models), { logger: silentLogger });
  const pets = await openGenerator(join(fx.models, 'pets'), { threads: 1 });
  try {
    const res = await request(createApp(engine))
      .post('/v1/models/pets/samples')
      .send({ n: 7, seed: 11, start: 2, labels: ['eel', 'cat', 'dog', 'eel', 1, 0, 2], format: 'npy' })
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      })
      .expect(200);
    const served = parseNpy(res.body as Buffer);
    const local = await pets.sample({ seed: 11, start: 2, n: 7, labels: ['eel', 'cat', 'dog', 'eel', 1, 0, 2] });
    assert.deepEqual(Array.from(served.data), Array.from(local.data));
    assert.deepEqual(PET_LABELS, pets.manifest.conditional!.labels);
  } finally {
    await pets.dispose();
    await engine.close();
  }
});

test('device resolution on Node: cpu always; auto keeps each refusal; an explicit device that is refused says why; a missing CUDA library is named', async () => {
  assert.equal(await probeNodeDevice('cpu'), null);
  const refuse = async (d: string) => (d === 'cpu' ? null : `no ${d} here (test)`);
  const auto = await resolveNodeDevice('auto', refuse);
  assert.equal(auto.device, 'cpu');
  assert.deepEqual(auto.refused, [{ device: 'cuda', reason: 'no cuda here (test)' }, { device: 'webgpu', reason: 'no webgpu here (test)' }]);
  await assert.rejects(resolveNodeDevice('cuda', refuse), /--device cuda is unavailable: no cuda here \(test\)/);
  // npm ci skips the CUDA provider (package.json's allowScripts): then the probe names the file and how to install it.
  const cuda = await probeNodeDevice('cuda');
  if (existsSync(cudaProviderLibrary())) assert.doesNotMatch(String(cuda), /is not installed/);
  else assert.equal(cuda, `onnxruntime-node's CUDA provider library is not installed (${cudaProviderLibrary()} is missing; reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12)`);
});

test('bundledModel names a shipped model by its folder inside the package, from any working directory; an unknown name lists the bundled ones', async () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = bundledModel('ring');
  assert.ok(isAbsolute(dir));
  assert.equal(dir, join(root, 'models', 'ring'));
  const cwd = process.cwd();
  process.chdir(fx.root); // a dependent project's folder: no models/ring there
  try {
    const g = await openGenerator(bundledModel('ring'));
    assert.equal(g.manifest.name, 'ring');
    await g.dispose();
  } finally {
    process.chdir(cwd);
  }
  assert.throws(() => bundledModel('mnist-evaluator'), (e: unknown) => e instanceof InvalidArgumentError && /^name: "mnist-evaluator" is not allowed; expected a bundled model: emoji-cgan, grid, mnist-cgan, mnist-dcgan, ring$/.test((e as Error).message));
  assert.throws(() => bundledModel('../models/ring'), InvalidArgumentError);
});
