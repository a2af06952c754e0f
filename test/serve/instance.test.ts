/**
 * SessionInstance: one ONNX Runtime session in a worker thread, with or without a second thread
 * that draws the latents ahead of the session (on by default for GPU providers). Both ways must
 * give the same outputs, in order, for seeded and raw latents, and report a bad batch without
 * losing the session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest } from '../../src/core/manifest.js';
import { sampleLatents } from '../../src/core/latent.js';
import { SessionInstance, type BatchInput } from '../../src/serve/engine/instance.js';
import type { DeviceChoice, NodeDevice } from '../../src/runtime/devices.js';
import { fixtureModels } from './fixtures.js';

const CPU: DeviceChoice<NodeDevice> = { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] };

/** Sessions on one freshly exported fixture model (the same weights), one per `latentThread` (undefined: the default). */
async function open(name: 'pets' | 'digits', ...latentThread: (boolean | undefined)[]) {
  const fx = await fixtureModels([name]);
  const dir = join(fx.models, name);
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  const model = readFileSync(join(dir, 'generator.onnx'));
  fx.cleanup();
  return Promise.all(latentThread.map((on) => SessionInstance.create({ model, manifest, device: CPU, threads: 1, label: `${name}/generator.onnx`, latentThread: on })));
}

/** Pets (latent 4, labels 0..2): a seeded run, raw rows, another seed. */
function petsBatch(k: number): BatchInput {
  const raw = sampleLatents({ seed: 1000 + k, start: 0, count: 2, dim: 4 }).map((v) => v * 0.5);
  return {
    rows: 7,
    segments: [
      { kind: 'seeded', seed: k, start: 3, count: 3 },
      { kind: 'raw', z: raw },
      { kind: 'seeded', seed: 99, start: k, count: 2 },
    ],
    labels: Int32Array.from({ length: 7 }, (_, i) => (i + k) % 3),
  };
}

test('latents drawn on a second thread give the same outputs, in order, as drawn in the session thread', async () => {
  const [plain, ahead] = await open('pets', false, true);
  try {
    assert.equal(plain.latentThread, false);
    assert.equal(ahead.latentThread, true);
    // Eight batches posted at once (as the batcher pipelines them), on both instances.
    const ks = [0, 1, 2, 3, 4, 5, 6, 7];
    const [a, b] = await Promise.all([Promise.all(ks.map((k) => plain.run(petsBatch(k)))), Promise.all(ks.map((k) => ahead.run(petsBatch(k))))]);
    for (const k of ks) {
      assert.deepEqual(b[k].dims, [7, 8, 8, 3]);
      assert.deepEqual(b[k].data, a[k].data, `batch ${k}`);
    }
    // Different batches really differ (the comparison above is not between constants).
    assert.notDeepEqual(a[0].data, a[1].data);
    // The first batch found the session idle and was drawn in its thread; the other seven ahead.
    assert.equal(ahead.latentsDrawnAhead, 7);
    assert.equal(plain.latentsDrawnAhead, 0);
    // One at a time, a batch is always alone: drawn in the session thread, same outputs.
    for (const k of [0, 1]) assert.deepEqual((await ahead.run(petsBatch(k))).data, a[k].data);
    assert.equal(ahead.latentsDrawnAhead, 7);
  } finally {
    await Promise.all([plain.close(), ahead.close()]);
  }
});

test('a batch whose latents cannot be drawn fails with the reason, and the session goes on', async () => {
  const [inst] = await open('digits', true);
  try {
    const bad = inst.run({ rows: 3, segments: [{ kind: 'seeded', seed: 1, start: 0, count: 2 }], labels: null });
    const good = inst.run({ rows: 2, segments: [{ kind: 'seeded', seed: 1, start: 0, count: 2 }], labels: null });
    await assert.rejects(bad, /segments hold 2 rows, the batch says 3/);
    const out = await good;
    assert.deepEqual(out.dims, [2, 8, 8, 1]);
    assert.ok(out.data.every((v) => Number.isFinite(v) && Math.abs(v) <= 1));
  } finally {
    await inst.close();
  }
});

test('CPU sessions draw their latents in the session thread unless asked', async () => {
  const [inst] = await open('digits', undefined);
  try {
    assert.equal(inst.latentThread, false);
  } finally {
    await inst.close();
  }
});

test('close() lets the batches already posted finish, then rejects new batches', async () => {
  for (const latentThread of [false, true]) {
    const [inst, reference] = await open('pets', latentThread, latentThread);
    const ks = [0, 1, 2];
    const running = ks.map((k) => inst.run(petsBatch(k)));
    const closing = inst.close();
    assert.equal(inst.close(), closing, 'a second close() is the same one');
    const outputs = await Promise.all(running);
    await closing;
    for (const k of ks) assert.deepEqual(outputs[k].data, (await reference.run(petsBatch(k))).data, `batch ${k}, latent thread ${latentThread}`);
    await assert.rejects(inst.run({ rows: 1, segments: [{ kind: 'seeded', seed: 0, start: 0, count: 1 }], labels: null }), /session closed/);
    await reference.close();
  }
});

test('a session whose thread dies tells its listener once and rejects new batches; close() tells no one', async () => {
  const [crashed, samplerCrashed, closed] = await open('digits', false, true, true);
  const one: BatchInput = { rows: 1, segments: [{ kind: 'seeded', seed: 0, start: 0, count: 1 }], labels: null };
  const heard: string[] = [];
  crashed.onLost((e) => heard.push(e.message));
  samplerCrashed.onLost((e) => heard.push(e.message));
  closed.onLost((e) => heard.push(e.message));
  // As a crash would: a thread of the session ends (worker_threads' terminate(), exit code 1).
  type Threads = { worker: { terminate(): Promise<number> }; sampler: { terminate(): Promise<number> } };
  await (crashed as unknown as Threads).worker.terminate();
  await (samplerCrashed as unknown as Threads).sampler.terminate();
  await closed.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(heard.sort(), ['latent thread for digits/generator.onnx exited (code 1)', 'worker for digits/generator.onnx exited (code 1)']);
  await assert.rejects(crashed.run(one), /worker for digits\/generator\.onnx exited \(code 1\)/);
  await assert.rejects(samplerCrashed.run(one), /latent thread for digits\/generator\.onnx exited/);
  // A listener added after the crash hears of it at once; one added after close() never does.
  assert.equal(await new Promise<string>((resolve) => crashed.onLost((e) => resolve(e.message))), 'worker for digits/generator.onnx exited (code 1)');
  closed.onLost((e) => heard.push(e.message));
  await Promise.all([crashed.close(), samplerCrashed.close()]);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(heard.length, 2);
});
