/** API key, CORS allow-list, body limit, draining, device choice. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/serve/http/app.js';
import { probeInWorker, resolveServeDevice as resolveDevice } from '../../src/serve/engine/device.js';
import { DeviceUnavailableError } from '../../src/runtime/devices.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { silentLogger } from '../../src/serve/options.js';
import { fixtureModels, testOptions } from './fixtures.js';

let fx: Awaited<ReturnType<typeof fixtureModels>>;
before(async () => {
  fx = await fixtureModels(['ring']);
});
after(() => fx.cleanup());

test('--api-key: 401 without or with a wrong key; Bearer and X-API-Key accepted; probes and docs open', async () => {
  const engine = await Engine.start(testOptions(fx.models, { apiKey: 's3cret' }), { logger: silentLogger });
  const app = createApp(engine);
  try {
    const denied = await request(app).post('/v1/models/ring/samples').send({ n: 1, format: 'json' }).expect(401);
    assert.match(denied.body.error, /API key is required/);
    await request(app).post('/v1/models/ring/samples').set('Authorization', 'Bearer nope').send({ n: 1 }).expect(401);
    await request(app).post('/v1/models/ring/samples').set('Authorization', 'Bearer s3cret').send({ n: 1, format: 'json' }).expect(200);
    await request(app).get('/v1/models').set('X-API-Key', 's3cret').expect(200);
    await request(app).get('/metrics').expect(401);
    assert.deepEqual((await request(app).post('/v2/models/ring/infer').send({}).expect(401)).body.error.length > 0, true);
    for (const open of ['/v2/health/live', '/v2/health/ready', '/openapi.json', '/docs']) await request(app).get(open).expect(200);
    // The docs page shows no sample images that would fail with 401 (an <img> cannot send the key).
    const docs = (await request(app).get('/docs').expect(200)).text;
    assert.ok(!docs.includes('<img'), 'no <img> on the docs page');
    assert.match(docs, /<code>ring<\/code>.*Sample images need the API key/);
  } finally {
    await engine.close();
  }
});

test('CORS: allow-listed origins get headers and preflights; others get none', async () => {
  const engine = await Engine.start(testOptions(fx.models, { corsOrigins: ['https://app.example'] }), { logger: silentLogger });
  const app = createApp(engine);
  try {
    const ok = await request(app).get('/v1/models').set('Origin', 'https://app.example').expect(200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(ok.headers['access-control-expose-headers'], /ETag/);
    assert.match(ok.headers.vary, /Origin/);
    const other = await request(app).get('/v1/models').set('Origin', 'https://evil.example').expect(200);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const pre = await request(app).options('/v1/models/ring/samples').set('Origin', 'https://app.example').set('Access-Control-Request-Method', 'POST').expect(204);
    assert.match(pre.headers['access-control-allow-methods'], /POST/);
    assert.match(pre.headers['access-control-allow-headers'], /Content-Type/);
    const preBad = await request(app).options('/v1/models/ring/samples').set('Origin', 'https://evil.example').expect(204);
    assert.equal(preBad.headers['access-control-allow-origin'], undefined);
  } finally {
    await engine.close();
  }
});

test('request bodies over --max-body-bytes get 413 with a JSON error on every POST endpoint', async () => {
  const engine = await Engine.start(testOptions(fx.models, { maxBodyBytes: 2048 }), { logger: silentLogger });
  const app = createApp(engine);
  try {
    const big = JSON.stringify({ n: 1, labels: Array(2000).fill(0) });
    const r = await request(app).post('/v1/models/ring/samples').set('content-type', 'application/json').send(big).expect(413);
    assert.equal(r.body.field, 'body');
    assert.match(r.body.error, /larger than the limit of 2048 bytes/);
    const k = await request(app).post('/v2/models/ring/infer').set('content-type', 'application/octet-stream').send(Buffer.alloc(4096)).expect(413);
    assert.deepEqual(Object.keys(k.body), ['error']);
    await request(app).post('/v1/models/ring/samples').send({ n: 1, format: 'json' }).expect(200);
  } finally {
    await engine.close();
  }
});

test('while draining: 503 with Connection: close, readiness 503, liveness 200', async () => {
  const engine = await Engine.start(testOptions(fx.models), { logger: silentLogger });
  const app = createApp(engine);
  try {
    engine.draining = true;
    const r = await request(app).post('/v1/models/ring/samples').send({ n: 1 }).expect(503);
    assert.equal(r.headers.connection, 'close');
    assert.ok(r.headers['retry-after']);
    await request(app).get('/v2/health/ready').expect(503);
    await request(app).get('/v2/health/live').expect(200);
  } finally {
    await engine.close();
  }
});

test('device choice: auto reports every refused device with its reason; explicit cuda fails clearly', async () => {
  const probe = async (d: string) => (d === 'cuda' ? 'no CUDA here' : d === 'webgpu' ? 'no adapter' : null);
  const auto = await resolveDevice('auto', probe);
  assert.equal(auto.device, 'cpu');
  assert.deepEqual(auto.refused, [{ device: 'cuda', reason: 'no CUDA here' }, { device: 'webgpu', reason: 'no adapter' }]);
  const gpu = await resolveDevice('auto', async (d: string) => (d === 'cuda' ? 'no CUDA here' : null));
  assert.deepEqual([gpu.device, gpu.providers], ['webgpu', ['webgpu', 'cpu']]);
  await assert.rejects(resolveDevice('webgpu', probe), (e: unknown) => e instanceof DeviceUnavailableError && /--device webgpu is unavailable: no adapter/.test((e as Error).message));
  // The real CUDA probe (in a session thread) on this machine: onnxruntime-node's CUDA provider is not installed.
  const reason = await probeInWorker('cuda');
  if (reason !== null) {
    await assert.rejects(resolveDevice('cuda'), (e: unknown) => e instanceof DeviceUnavailableError && (e as Error).message.includes(reason));
  } else {
    assert.equal((await resolveDevice('cuda')).device, 'cuda'); // a machine with CUDA: then it must work
  }
  const engine = await Engine.start(testOptions(fx.models, { device: 'auto' }), { logger: silentLogger, probe });
  try {
    const body = (await request(createApp(engine)).get('/v1/models').expect(200)).body;
    assert.deepEqual(body.device.refused.map((r: { device: string }) => r.device), ['cuda', 'webgpu']);
  } finally {
    await engine.close();
  }
});
