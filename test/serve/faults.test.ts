/**
 * What a fault-injection pass found, each reproduced: model loads that block or never finish, a
 * taken port, absolute paths in client-visible reasons, overload that starved the requests that
 * could be served, hung sessions, and small header rules (Bearer case, nosniff, CSP,
 * WWW-Authenticate).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { stopEncodeThreads } from '../../src/encode/encode-pool.js';
import { DynamicBatcher } from '../../src/serve/engine/batcher.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { SessionInstance, type BatchInput, type BatchOutput, type InferenceBackend } from '../../src/serve/engine/instance.js';
import { createApp } from '../../src/serve/http/app.js';
import { startServer } from '../../src/serve/http/server.js';
import { silentLogger } from '../../src/serve/options.js';
import { readModelFolder } from '../../src/runtime/model-folder.js';
import { fixtureModels, testOptions } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];

let fx: Awaited<ReturnType<typeof fixtureModels>>;
before(async () => {
  fx = await fixtureModels(['ring', 'pets']);
});
after(() => fx.cleanup());

/** A fresh models folder holding a copy of the fixture ring and whatever `extra` adds. */
function modelsWith(extra: (dir: string) => void): { dir: string; cleanup: () => void } {
  const dir = join(fx.root, `models-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  cpSync(join(fx.models, 'ring'), join(dir, 'ring'), { recursive: true });
  extra(dir);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a generator.onnx that is a FIFO is refused at once (not read): the model fails, the others serve', async () => {
  const m = modelsWith((dir) => {
    cpSync(join(dir, 'ring'), join(dir, 'stuck'), { recursive: true });
    const manifest = join(dir, 'stuck', 'manifest.json');
    writeFileSync(manifest, readFileSyncText(manifest).replace('"name": "ring"', '"name": "stuck"'));
    rmSync(join(dir, 'stuck', 'generator.onnx'));
    execFileSync('mkfifo', [join(dir, 'stuck', 'generator.onnx')]);
  });
  try {
    const engine = await Engine.start(testOptions(m.dir), { logger: silentLogger });
    try {
      const app = createApp(engine);
      const models = (await request(app).get('/v1/models').expect(200)).body.models;
      const stuck = models.find((x: { name: string }) => x.name === 'stuck');
      assert.equal(stuck.state, 'failed');
      assert.equal(stuck.reason, 'generator.onnx is not a regular file');
      await request(app).post('/v1/models/ring/samples').send({ n: 2, format: 'json' }).expect(200);
    } finally {
      await engine.close();
    }
  } finally {
    m.cleanup();
  }
});

function readFileSyncText(path: string): string {
  return execFileSync('cat', [path], { encoding: 'utf8' });
}

test('a load that never finishes fails after --load-timeout; the other models load and serve, and close() does not wait for it', async () => {
  const never = new Promise<InferenceBackend>(() => {});
  const t0 = performance.now();
  const engine = await Engine.start(testOptions(fx.models, { loadTimeoutMs: 3000 }), {
    logger: silentLogger,
    createBackend: (o) => (o.manifest.name === 'pets' ? never : SessionInstance.create(o)),
  });
  try {
    const pets = engine.entry('pets')!;
    assert.equal(pets.state, 'failed');
    assert.match(pets.reason!, /did not finish within --load-timeout \(3000 ms\)/);
    assert.equal(engine.entry('ring')!.state, 'ready');
    assert.ok(performance.now() - t0 < 20_000);
    await request(createApp(engine)).post('/v1/models/ring/samples').send({ n: 1, format: 'json' }).expect(200);
  } finally {
    const t1 = performance.now();
    await engine.close();
    assert.ok(performance.now() - t1 < 5000, 'close() returned promptly');
  }
});

test('a load that timed out and then finished after all is loaded again at the next scan (the hang was transient)', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let petsLoads = 0;
  const engine = await Engine.start(testOptions(fx.models, { loadTimeoutMs: 3000 }), {
    logger: silentLogger,
    createBackend: (o) => (o.manifest.name === 'pets' && ++petsLoads === 1 ? gate.then(() => SessionInstance.create(o)) : SessionInstance.create(o)),
  });
  try {
    assert.equal(engine.entry('pets')!.state, 'failed');
    await engine.rescan();
    assert.equal(petsLoads, 1, 'no second load while the first one hangs');
    release();
    for (let i = 0; i < 100 && petsLoads === 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      await engine.rescan();
    }
    assert.equal(engine.entry('pets')!.state, 'ready', String(engine.entry('pets')!.reason));
    assert.equal(petsLoads, 2);
  } finally {
    await engine.close();
  }
});

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('the server binds its port before loading: while models load, the API answers 503 and readiness is false', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const port = await freePort();
  const starting = startServer(testOptions(fx.models, { port, host: '127.0.0.1' }), {
    logger: silentLogger,
    createBackend: async (o) => {
      await gate;
      return SessionInstance.create(o);
    },
  });
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  try {
    let live: Response | null = null;
    for (let i = 0; i < 100 && !live; i++) live = await fetch(url('/v2/health/live')).catch(async () => (await new Promise((r) => setTimeout(r, 50)), null));
    assert.equal(live?.status, 200);
    assert.equal((await fetch(url('/v2/health/ready'))).status, 503);
    const early = await fetch(url('/v1/models/ring/samples'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
    assert.equal(early.status, 503);
    assert.equal(early.headers.get('retry-after'), '1');
    assert.match((await early.json()).error, /starting: its models are loading/);
  } finally {
    release();
  }
  const srv = await starting;
  try {
    assert.equal((await fetch(url('/v2/health/ready'))).status, 200);
    assert.equal((await fetch(url('/v1/models/ring/samples'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1,"format":"json"}' })).status, 200);
  } finally {
    await srv.shutdown();
  }
});

test('wganx serve on a taken port exits non-zero at once with one line naming --port', { timeout: 60_000 }, async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as AddressInfo).port;
  try {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...CLI, 'serve', '--models', fx.models, '--host', '127.0.0.1', '--port', String(port), '--device', 'cpu'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 1, stderr);
    const errors = stderr.split('\n').filter((l) => l.startsWith('wganx:'));
    assert.equal(errors.length, 1, stderr);
    assert.match(errors[0], new RegExp(`^wganx: --port ${port}: 127\\.0\\.0\\.1:${port} is already in use \\(EADDRINUSE\\)`));
    assert.doesNotMatch(stderr, /loaded model/, 'no model was loaded before the port was checked');
    assert.ok(performance.now() - t0 < 30_000);
  } finally {
    blocker.close();
  }
});

/**
 * `wganx serve` on `modelsDir` (CPU, any port, no polling), once its stderr matches `line` (polled
 * every 5 ms, up to 60 s). `terminate()` sends SIGTERM and resolves with the exit code.
 */
async function serveUntil(modelsDir: string, line: RegExp): Promise<{ stderr(): string; terminate(): Promise<number | null> }> {
  const child = spawn(process.execPath, [...CLI, 'serve', '--models', modelsDir, '--host', '127.0.0.1', '--port', '0', '--device', 'cpu', '--reload-interval', '0'], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const deadline = Date.now() + 60_000;
  while (!line.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return {
    stderr: () => stderr,
    terminate: () => (child.kill('SIGTERM'), exited),
  };
}

test('wganx serve with a FIFO for a model file listens, serves the others, and exits 0 on SIGTERM', { timeout: 90_000 }, async () => {
  const m = modelsWith((dir) => {
    mkdirSync(join(dir, 'pipe'));
    execFileSync('mkfifo', [join(dir, 'pipe', 'manifest.json')]);
  });
  try {
    const serve = await serveUntil(m.dir, /models ready/);
    assert.match(serve.stderr(), /1 of 2 models ready/);
    assert.match(serve.stderr(), /model "pipe" is not ready: manifest.json is not a regular file/);
    assert.equal(await serve.terminate(), 0, serve.stderr());
  } finally {
    m.cleanup();
  }
});

test('wganx serve drains and exits 0 on a SIGTERM that comes while the models are still loading', { timeout: 90_000 }, async () => {
  // Sixteen models: their load outlasts the drain and the 1 s exit grace after it.
  const m = modelsWith((dir) => {
    for (let i = 1; i < 16; i++) {
      cpSync(join(dir, 'ring'), join(dir, `ring-${i}`), { recursive: true });
      const manifest = join(dir, `ring-${i}`, 'manifest.json');
      writeFileSync(manifest, readFileSyncText(manifest).replace('"name": "ring"', `"name": "ring-${i}"`));
    }
  });
  try {
    const serve = await serveUntil(m.dir, /bound http/);
    assert.match(serve.stderr(), /loading the models/);
    assert.equal(await serve.terminate(), 0, serve.stderr());
    assert.match(serve.stderr(), /SIGTERM received/);
    assert.match(serve.stderr(), /drained; bye/);
    assert.match(serve.stderr(), /waiting for the models still loading/);
    assert.doesNotMatch(serve.stderr(), /killing the process/);
  } finally {
    m.cleanup();
  }
});

test('client-visible reasons give paths relative to --models; the log keeps the full path', async () => {
  const m = modelsWith((dir) => {
    mkdirSync(join(dir, 'gone'));
    writeFileSync(join(dir, 'gone', 'manifest.json'), readFileSyncText(join(dir, 'ring', 'manifest.json')).replace('"name": "ring"', '"name": "gone"'));
  });
  const logged: string[] = [];
  const logger = { info() {}, warn() {}, error: (l: string) => logged.push(l) };
  try {
    for (const modelsDir of [resolve(m.dir), relative(process.cwd(), m.dir)]) {
      const engine = await Engine.start(testOptions(modelsDir), { logger });
      try {
        const app = createApp(engine);
        const listed = JSON.stringify((await request(app).get('/v1/models').expect(200)).body);
        const refused = await request(app).post('/v1/models/gone/samples').send({ n: 1 }).expect(503);
        for (const text of [listed, JSON.stringify(refused.body)]) {
          assert.ok(!text.includes(resolve(m.dir)) && !text.includes(fx.root), text);
          assert.match(text, /gone\/generator\.onnx/);
        }
      } finally {
        await engine.close();
      }
    }
    assert.ok(logged.some((l) => l.includes(resolve(m.dir))), 'the log keeps the full path');
    // Device refusals (e.g. a provider library missing under node_modules) name files, not folders.
    const auto = await Engine.start(testOptions(m.dir, { device: 'auto' }), { logger: silentLogger });
    try {
      const app = createApp(auto);
      const device = (await request(app).get('/v1/models').expect(200)).body.device as { refused: { reason: string }[] };
      const one = (await request(app).get('/v1/models/ring').expect(200)).body.refusedDevices as { reason: string }[];
      assert.equal(one.length, device.refused.length);
      for (const r of [...device.refused, ...one]) assert.doesNotMatch(r.reason, /\/[^\s/]+\//, r.reason);
      assert.deepEqual(auto.device.refused.map((r) => r.device), device.refused.map((r) => (r as unknown as { device: string }).device));
    } finally {
      await auto.close();
    }
  } finally {
    m.cleanup();
  }
});

/** Sends only the request head (the body is never sent) and resolves with the status. */
function headOnly(port: number, path: string, length: number): Promise<{ status: number; body: string; connection?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': String(length) } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode!, body, connection: res.headers.connection });
      });
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** A session that, once `hold` is set, answers only when released. */
class GatedBackend implements InferenceBackend {
  private gates: (() => void)[] = [];
  hold = false;
  abandoned: Error | null = null;
  run(batch: BatchInput): Promise<BatchOutput> {
    const out = { data: new Float32Array(batch.rows * 2), dims: [batch.rows, 2], computeMs: 1 };
    if (!this.hold) return Promise.resolve(out);
    return new Promise((resolve) => this.gates.push(() => resolve(out)));
  }
  release(): void {
    for (const g of this.gates.splice(0)) g();
  }
  async close(): Promise<void> {
    this.release();
  }
  abandon(reason: Error): void {
    this.abandoned = reason;
  }
}

test('overload: a full queue and an oversized Content-Length are answered before the body is read', async () => {
  const backend = new GatedBackend();
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1', maxQueue: 1, maxBodyBytes: 4096, shedHoldMs: 0 }), { logger: silentLogger, createBackend: async () => backend });
  backend.hold = true;
  try {
    const port = (srv.server.address() as AddressInfo).port;
    const post = (body: string) => fetch(`http://127.0.0.1:${port}/v1/models/ring/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const running = post('{"n":1,"format":"json"}'); // taken by the session
    await new Promise((r) => setTimeout(r, 100));
    const queued = post('{"n":1,"format":"json"}'); // fills the queue of 1
    await new Promise((r) => setTimeout(r, 100));
    // Neither answer waits for a body that never comes.
    const full = await headOnly(port, '/v1/models/ring/samples', 1000);
    assert.equal(full.status, 503);
    assert.match(JSON.parse(full.body).error, /overloaded/);
    const v2 = await headOnly(port, '/v2/models/ring/infer', 1000);
    assert.equal(v2.status, 503);
    const tooBig = await headOnly(port, '/v1/models/pets/samples', 10_000_000);
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.connection, 'close');
    assert.equal(JSON.parse(tooBig.body).field, 'body');
    backend.release();
    assert.equal((await running).status, 200);
    backend.release();
    assert.equal((await queued).status, 200);
  } finally {
    backend.release();
    await srv.shutdown();
  }
});

test('overload: a full queue\'s 503 is held (--shed-hold-ms) while the admitted requests are answered; 0 answers at once', async () => {
  for (const shedHoldMs of [60_000, 0]) {
    const backend = new GatedBackend();
    const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1', maxQueue: 1, shedHoldMs }), { logger: silentLogger, createBackend: async () => backend });
    backend.hold = true;
    try {
      const port = (srv.server.address() as AddressInfo).port;
      const post = () => fetch(`http://127.0.0.1:${port}/v1/models/ring/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1,"format":"json"}' });
      const running = post(); // taken by the session
      await new Promise((r) => setTimeout(r, 100));
      const queued = post(); // fills the queue of 1
      await new Promise((r) => setTimeout(r, 100));
      let refusal: number | null = null;
      const refused = post().then((r) => (refusal = r.status), () => (refusal = -1));
      // The queue stays full until the backend is released: the third request can only be refused.
      if (shedHoldMs === 0) await refused;
      else await new Promise((r) => setTimeout(r, 300));
      assert.equal(refusal, shedHoldMs === 0 ? 503 : null, shedHoldMs === 0 ? 'refused at once' : 'the refusal is held');
      // The admitted requests are answered while the refusal waits.
      backend.release();
      assert.equal((await running).status, 200);
      backend.release();
      assert.equal((await queued).status, 200);
      if (shedHoldMs > 0) {
        assert.equal(refusal, null, 'still held after the admitted requests were answered');
        await srv.shutdown();
        await refused;
        assert.equal(refusal, 503, 'a drain sends the held refusal at once');
      }
    } finally {
      backend.release();
      await srv.shutdown();
    }
  }
});

test('a batch running far past the request timeout abandons its session (the model reloads) instead of 504s forever', async () => {
  const backend = new GatedBackend();
  backend.hold = true;
  const b = new DynamicBatcher('m', [backend], { maxBatch: 4, maxQueueDelayMs: 0, maxQueue: 8, timeoutMs: 40, dim: 2 });
  const req = b.submit({ rows: 1, source: { kind: 'seeded', seed: 0, start: 0 }, labels: null });
  await assert.rejects(req, /did not complete within 40 ms/);
  const t0 = performance.now();
  while (!backend.abandoned && performance.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
  assert.match(backend.abandoned?.message ?? '', /ran for more than 80 ms \(2 × the request timeout\); the session was restarted/);
  backend.release();
  await b.close();
});

test('an abandoned session thread ends at once and its lost listeners hear the reason', async () => {
  const { manifest, bytes } = await readModelFolder(join(fx.models, 'ring'));
  const inst = await SessionInstance.create({ model: bytes, manifest, device: { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] }, threads: 1, label: 'ring' });
  const lost = new Promise<Error>((r) => inst.onLost(r));
  inst.abandon(new Error('hung (test)'));
  assert.equal((await lost).message, 'hung (test)');
  await assert.rejects(inst.run({ rows: 1, segments: [{ kind: 'seeded', seed: 0, start: 0, count: 1 }], labels: null }), /hung \(test\)/);
  await inst.close();
});

test('abandoning a session in the middle of a long native run does not abort the process: its thread ends once the run returns', async () => {
  // A thread ended inside onnxruntime's run aborted the whole server ("terminate called after
  // throwing an instance of 'Napi::Error'"): the abandoned thread must be left to finish its run.
  const { manifest, bytes } = await readModelFolder(join(ROOT, 'models', 'mnist-dcgan'));
  const inst = await SessionInstance.create({ model: bytes, manifest, device: { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] }, threads: 1, label: 'mnist-dcgan' });
  const rows = 8192;
  const t0 = performance.now();
  await inst.run({ rows: 256, segments: [{ kind: 'seeded', seed: 0, start: 0, count: 256 }], labels: null });
  const perRow = (performance.now() - t0) / 256;
  const long = inst.run({ rows, segments: [{ kind: 'seeded', seed: 0, start: 0, count: rows }], labels: null });
  const queued = inst.run({ rows: 1, segments: [{ kind: 'seeded', seed: 0, start: 0, count: 1 }], labels: null });
  // Abandoned while the first batch is inside the native run (a quarter of its expected time in).
  await new Promise((r) => setTimeout(r, Math.max(20, (perRow * rows) / 4)));
  const ended = inst.threadEnded;
  inst.abandon(new Error('hung (test)'));
  await assert.rejects(long, /hung \(test\)/);
  await assert.rejects(queued, /hung \(test\)/);
  await inst.close();
  await ended;
  // Still alive: a new session on the same model answers.
  const again = await SessionInstance.create({ model: bytes, manifest, device: { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] }, threads: 1, label: 'mnist-dcgan' });
  assert.equal((await again.run({ rows: 2, segments: [{ kind: 'seeded', seed: 0, start: 0, count: 2 }], labels: null })).dims[0], 2);
  await again.close();
});

test('an abandoned session whose next batch waits for latents from the latent thread still ends (the wait is called off)', { timeout: 60_000 }, async () => {
  const { manifest, bytes } = await readModelFolder(join(ROOT, 'models', 'mnist-dcgan'));
  const inst = await SessionInstance.create({ model: bytes, manifest, device: { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] }, threads: 1, label: 'mnist-dcgan', latentThread: true });
  const batch = (rows: number) => inst.run({ rows, segments: [{ kind: 'seeded', seed: 0, start: 0, count: rows }], labels: null });
  const t0 = performance.now();
  await batch(256);
  const perRow = (performance.now() - t0) / 256;
  // The first batch is inside its native run (≥ 300 ms of it) when the second is posted, whose
  // latents the latent thread draws; the thread is ended by the abandon before it answers.
  const first = batch(Math.max(2048, Math.ceil(300 / perRow)));
  await new Promise((r) => setTimeout(r, 30));
  const second = batch(65536); // 6.5 M normals to draw: the latent thread is ended long before it answers
  assert.equal(inst.latentsDrawnAhead, 1);
  const ended = inst.threadEnded;
  inst.abandon(new Error('hung (test)'));
  await Promise.all([assert.rejects(first, /hung \(test\)/), assert.rejects(second, /hung \(test\)/)]);
  await inst.close();
  await ended;
});

test('an encoding thread that dies mid-request is answered 503 with Retry-After, as a session thread that dies is; then it serves again', async () => {
  const engine = await Engine.start(testOptions(fx.models), { logger: silentLogger });
  // Stop the encoding threads every 2 ms while the request runs: its 1,024 images (16×16 each: a
  // thread's job) are on a thread that starts and dies before it can answer.
  const killer = setInterval(() => void stopEncodeThreads(), 2);
  try {
    const app = createApp(engine);
    const res = await request(app).post('/v1/models/pets/samples').send({ n: 1024, format: 'json', scale: 2 });
    clearInterval(killer);
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.headers['retry-after'], '1');
    assert.match(res.body.error, /^the encoding thread stopped \(exited with code \d+\); retry$/);
    const again = await request(app).post('/v1/models/pets/samples').send({ n: 1024, format: 'json', scale: 2 }).expect(200);
    assert.equal(again.body.samples.length, 1024);
  } finally {
    clearInterval(killer);
    await engine.close();
    await stopEncodeThreads();
  }
});

test('headers: Bearer in any case, WWW-Authenticate with 401, nosniff everywhere, a CSP on /docs', async () => {
  const engine = await Engine.start(testOptions(fx.models, { apiKey: 'k3y' }), { logger: silentLogger });
  try {
    const app = createApp(engine);
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'BeArEr']) await request(app).get('/v1/models').set('Authorization', `${scheme} k3y`).expect(200);
    const denied = await request(app).get('/v1/models').set('Authorization', 'Basic k3y').expect(401);
    assert.equal(denied.headers['www-authenticate'], 'Bearer realm="wganx"');
    for (const res of [denied, await request(app).get('/v2/health/live'), await request(app).get('/nope').set('X-API-Key', 'k3y'), await request(app).get('/v1/models/ring/samples.png?n=1').set('X-API-Key', 'k3y')]) {
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    const docs = await request(app).get('/docs').expect(200);
    assert.match(docs.headers['content-security-policy'], /default-src 'none'/);
    assert.match(docs.headers['content-security-policy'], /img-src 'self'/);
  } finally {
    await engine.close();
  }
});
