/**
 * `--device auto` on a GPU times each model on the CPU provider too and keeps it where it is served
 * faster. The GPU is simulated: every session really runs on the CPU provider (so outputs are
 * right), and a per-model delay makes one device slower than the other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/serve/http/app.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { SessionInstance, type InferenceBackend } from '../../src/serve/engine/instance.js';
import type { BackendOptions } from '../../src/serve/engine/model.js';
import { silentLogger } from '../../src/serve/options.js';
import { fixtureModels, testOptions } from './fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ring runs slowly on the "webgpu" sessions, digits slowly on the cpu ones. */
function slowOn(label: string, providers: string[]): boolean {
  return label.startsWith('ring/') ? providers.includes('webgpu') : providers[0] === 'cpu';
}

function fakeGpu(failCpuFor: string | null = null) {
  const created: { label: string; providers: string[]; closed: boolean }[] = [];
  const createBackend = async (o: BackendOptions): Promise<InferenceBackend> => {
    const { providers } = o.device;
    if (failCpuFor && o.label.startsWith(`${failCpuFor}/`) && providers[0] === 'cpu') throw new Error('out of memory (simulated)');
    const real = await SessionInstance.create({ ...o, device: { ...o.device, device: 'cpu', providers: ['cpu'] } });
    const rec = { label: o.label, providers: [...providers], closed: false };
    created.push(rec);
    const delay = slowOn(o.label, providers) ? 25 : 0;
    return {
      run: async (batch) => {
        if (delay) await sleep(delay);
        const out = await real.run(batch);
        return { ...out, computeMs: out.computeMs + delay }; // the worker's own timing sees the slowness
      },
      close: async () => {
        rec.closed = true;
        await real.close();
      },
    };
  };
  const probe = async (device: string) => (device === 'webgpu' ? null : 'no CUDA here');
  return { created, createBackend, probe };
}

test('auto on a GPU keeps each model on the device that serves it faster, and says why', async () => {
  const fx = await fixtureModels(['ring', 'digits']);
  const gpu = fakeGpu();
  const engine = await Engine.start(testOptions(fx.models, { device: 'auto', maxBatch: 16, instances: 2 }), { logger: silentLogger, probe: gpu.probe, createBackend: gpu.createBackend });
  try {
    assert.equal(engine.device.device, 'webgpu');
    const ring = engine.registry.get('ring')!;
    const digits = engine.registry.get('digits')!;
    assert.equal(ring.device.device, 'cpu');
    assert.deepEqual(ring.device.providers, ['cpu']);
    assert.match(ring.device.choice!, /^cpu: faster for this model \(\d+ samples\/s on cpu vs \d+ on webgpu at batch 16\)$/);
    assert.equal(digits.device.device, 'webgpu');
    assert.match(digits.device.choice!, /^webgpu: faster for this model/);
    // ring: both webgpu sessions closed, two cpu sessions serve; digits: the cpu trial session closed.
    const open = (name: string, cpu: boolean) => gpu.created.filter((c) => c.label.startsWith(`${name}/`) && (c.providers[0] === 'cpu') === cpu && !c.closed).length;
    assert.equal(open('ring', false), 0);
    assert.equal(open('ring', true), 2);
    assert.equal(open('digits', false), 2);
    assert.equal(open('digits', true), 0);
    // /v1/models reports the model's own device and the measurement behind it.
    const body = (await request(createApp(engine)).get('/v1/models').expect(200)).body;
    const byName = Object.fromEntries(body.models.map((m: { name: string }) => [m.name, m]));
    assert.equal(byName.ring.device, 'cpu');
    assert.match(byName.ring.deviceChoice, /samples\/s on cpu/);
    assert.equal(byName.digits.device, 'webgpu');
    assert.deepEqual(byName.digits.providers, ['webgpu', 'cpu']);
    // And both still serve.
    const r = await request(createApp(engine)).post('/v1/models/ring/samples').send({ n: 3, seed: 1, format: 'json' }).expect(200);
    assert.equal(r.body.samples.length, 3);
  } finally {
    await engine.close();
    fx.cleanup();
  }
});

test('an explicit --device is never second-guessed', async () => {
  const fx = await fixtureModels(['ring']);
  const gpu = fakeGpu();
  const engine = await Engine.start(testOptions(fx.models, { device: 'webgpu' }), { logger: silentLogger, probe: gpu.probe, createBackend: gpu.createBackend });
  try {
    const ring = engine.registry.get('ring')!;
    assert.equal(ring.device.device, 'webgpu');
    assert.equal(ring.device.choice, null);
    assert.equal(gpu.created.filter((c) => c.providers[0] === 'cpu').length, 0, 'no CPU trial session');
  } finally {
    await engine.close();
    fx.cleanup();
  }
});

test('a failed CPU trial leaves the model on the GPU, with the reason', async () => {
  const fx = await fixtureModels(['ring']);
  const gpu = fakeGpu('ring');
  const engine = await Engine.start(testOptions(fx.models, { device: 'auto' }), { logger: silentLogger, probe: gpu.probe, createBackend: gpu.createBackend });
  try {
    const ring = engine.registry.get('ring')!;
    assert.equal(ring.device.device, 'webgpu');
    assert.equal(ring.device.choice, 'webgpu: the CPU trial failed (out of memory (simulated))');
    const r = await request(createApp(engine)).post('/v1/models/ring/samples').send({ n: 2, seed: 1, format: 'json' }).expect(200);
    assert.equal(r.body.samples.length, 2);
  } finally {
    await engine.close();
    fx.cleanup();
  }
});
