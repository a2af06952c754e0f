/** The HTTP server over real sockets: express's prototypes, clients that leave, --request-timeout-ms (504) and --drain-timeout at shutdown. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Response } from 'express';
import { clientSignal } from '../../src/serve/http/http-util.js';
import type { InferenceBackend } from '../../src/serve/engine/instance.js';
import { silentLogger } from '../../src/serve/options.js';
import { bornWith, createHttpServer, startServer } from '../../src/serve/http/server.js';
import { fixtureModels, testOptions } from './fixtures.js';

/** A session whose warm-up answers and whose later runs hang until it is closed (then they fail). */
function stuckBackend(): InferenceBackend & { started: number; rows: number[] } {
  const hanging: ((e: Error) => void)[] = [];
  return {
    started: 0,
    rows: [],
    run(batch) {
      this.rows.push(batch.rows);
      if (this.rows.length === 1) return Promise.resolve({ data: new Float32Array(batch.rows * 2), dims: [batch.rows, 2], computeMs: 0 });
      this.started++;
      return new Promise((_resolve, reject) => hanging.push(reject));
    },
    async close() {
      for (const reject of hanging.splice(0)) reject(new Error('session closed'));
    },
  };
}

test('shutdown: a request still running at --drain-timeout is dropped; shutdown resolves and reports it', async () => {
  const fx = await fixtureModels(['ring']);
  const backend = stuckBackend();
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1', drainTimeoutMs: 300 }), { logger: silentLogger, createBackend: async () => backend });
  try {
    assert.deepEqual(backend.rows, [1], 'one warm-up run of one sample after loading');
    const pending = fetch(`${srv.url}/v1/models/ring/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1,"format":"json"}' }).then(
      (r) => r.status,
      () => 'connection closed',
    );
    while (backend.started === 0) await new Promise((r) => setTimeout(r, 5));
    const t0 = performance.now();
    const result = await srv.shutdown();
    const ms = performance.now() - t0;
    assert.deepEqual(result, { drained: false, dropped: 1 });
    assert.ok(ms >= 250 && ms < 10_000, `shutdown took ${ms.toFixed(0)} ms with a 300 ms drain timeout`);
    const outcome = await pending;
    assert.ok(outcome === 500 || outcome === 503 || outcome === 'connection closed', `the dropped request ended: ${outcome}`);
    assert.equal(srv.server.listening, false);
  } finally {
    fx.cleanup();
  }
});

test('--request-timeout-ms: a request that does not finish in time gets 504 with a JSON error, counted as a timeout', async () => {
  const fx = await fixtureModels(['ring']);
  const backend = stuckBackend();
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1', requestTimeoutMs: 100, drainTimeoutMs: 200 }), { logger: silentLogger, createBackend: async () => backend });
  try {
    const v1 = await fetch(`${srv.url}/v1/models/ring/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1,"format":"json"}' });
    assert.equal(v1.status, 504);
    assert.deepEqual(await v1.json(), { error: 'request to model "ring" did not complete within 100 ms', model: 'ring' });
    const v2 = await fetch(`${srv.url}/v2/models/ring/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'z', shape: [1, 2], datatype: 'FP32', data: [0, 0] }] }) });
    assert.equal(v2.status, 504);
    assert.deepEqual(await v2.json(), { error: 'request to model "ring" did not complete within 100 ms' });
    const model = await (await fetch(`${srv.url}/v1/models/ring`)).json();
    assert.equal(model.counters.failed, 2);
    assert.match(await (await fetch(`${srv.url}/metrics`)).text(), /wganx_requests_total\{model="ring",endpoint="samples",outcome="timeout",code="504"\} 1\n/);
  } finally {
    await srv.shutdown();
    fx.cleanup();
  }
});

test('a client that disconnects while its request is queued or running takes it out of the queue (v1 and v2)', async () => {
  const fx = await fixtureModels(['ring']);
  const backend = stuckBackend();
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1', drainTimeoutMs: 2_000 }), { logger: silentLogger, createBackend: async () => backend });
  try {
    const gone = new AbortController();
    const post = (path: string, body: object) => fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: gone.signal }).catch((e: Error) => e.name);
    const model = async () => (await (await fetch(`${srv.url}/v1/models/ring`)).json()) as { queue: { length: number; runningBatches: number }; counters: { failed: number; completed: number } };
    const running = post('/v1/models/ring/samples', { n: 1, format: 'json' });
    while (backend.started === 0) await new Promise((r) => setTimeout(r, 5));
    const queued = [post('/v1/models/ring/samples', { n: 2, format: 'json' }), post('/v2/models/ring/infer', { inputs: [{ name: 'z', shape: [1, 2], datatype: 'FP32', data: [0, 0] }] })];
    while ((await model()).queue.length < 2) await new Promise((r) => setTimeout(r, 5));
    gone.abort();
    assert.deepEqual(await Promise.all([running, ...queued]), ['AbortError', 'AbortError', 'AbortError']);
    let m = await model();
    for (let i = 0; i < 200 && m.counters.failed < 3; i++) {
      await new Promise((r) => setTimeout(r, 10));
      m = await model();
    }
    assert.equal(m.queue.length, 0, 'the queued requests left the queue');
    assert.equal(m.counters.failed, 3, 'the running request and both queued ones failed (client gone)');
    assert.equal(m.counters.completed, 0);
    assert.deepEqual(backend.rows, [1, 1], 'the queued requests never reached the session');
  } finally {
    await srv.shutdown();
    fx.cleanup();
  }
});

test('--default-model naming no model folder is logged as a warning once the models are loaded; the server serves', async () => {
  const fx = await fixtureModels(['ring']);
  const warnings: string[] = [];
  const logger = { ...silentLogger, warn: (m: string) => void warnings.push(m) };
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1', defaultModel: 'mnist' }), { logger });
  try {
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /^--default-model mnist: no such model folder under .+ \(the page opens the first model by name\)$/);
    assert.deepEqual(await (await fetch(`${srv.url}/models/index.json`)).json(), ['ring']);
  } finally {
    await srv.shutdown();
    fx.cleanup();
  }
});

test('clientSignal: aborts once when the response closes unfinished, like an AbortSignal; never after a finished response', () => {
  const fake = () => Object.assign(new EventEmitter(), { writableFinished: false }) as EventEmitter & { writableFinished: boolean };
  const res = fake();
  const signal = clientSignal(res as unknown as Response);
  const calls: string[] = [];
  const a = () => calls.push('a');
  const b = () => calls.push('b');
  signal.addEventListener('abort', a, { once: true });
  signal.addEventListener('abort', b);
  signal.removeEventListener('abort', b);
  assert.equal(signal.aborted, false);
  res.emit('close');
  assert.equal(signal.aborted, true);
  res.emit('close');
  signal.addEventListener('abort', b); // too late: never runs, as with an AbortSignal
  assert.deepEqual(calls, ['a']);

  const done = fake();
  const fine = clientSignal(done as unknown as Response);
  fine.addEventListener('abort', a);
  done.writableFinished = true;
  done.emit('close');
  assert.equal(fine.aborted, false);
  assert.deepEqual(calls, ['a']);
});

test('createHttpServer: requests and responses start with the app\'s prototypes, and answer as under http.createServer', async () => {
  const app = express();
  app.set('query parser', 'simple');
  app.use(express.json());
  app.get('/echo', (req, res) => res.set('X-Path', req.path).json({ query: req.query, secure: req.secure, accepts: req.accepts(['json', 'html']) }));
  app.post('/echo', (req, res) => res.status(201).json(req.body));
  const fast = createHttpServer(app);
  const plain = http.createServer(app);
  // Before express sees them: the app's prototypes already (fast) or Node's own (plain).
  const born = new Map<http.Server, boolean[]>([[fast, []], [plain, []]]);
  for (const [server, seen] of born) {
    server.prependListener('request', (req, res) => seen.push(Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  }
  try {
    const answers = [];
    for (const server of [fast, plain]) {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const get = await fetch(`${base}/echo?a=1&b=two`, { headers: { accept: 'application/json' } });
      const post = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":[1,2]}' });
      const missing = await fetch(`${base}/nowhere`);
      answers.push([get.status, get.headers.get('x-path'), await get.json(), post.status, await post.json(), missing.status]);
    }
    assert.deepEqual(answers[0], [200, '/echo', { query: { a: '1', b: 'two' }, secure: false, accepts: 'json' }, 201, { n: [1, 2] }, 404]);
    assert.deepEqual(answers[1], answers[0]);
    assert.deepEqual(born.get(fast), [true, true, true]);
    assert.deepEqual(born.get(plain), [false, false, false]);
  } finally {
    await Promise.all([fast, plain].map((s) => new Promise((r) => s.close(r))));
  }
});

test('bornWith: instances of a constructor function get the given prototype; an ES class is refused (the server then falls back)', () => {
  function Point(this: { x: number }, x: number) {
    this.x = x;
  }
  const proto = Object.create(Point.prototype, { twice: { value(this: { x: number }) { return 2 * this.x; } } });
  const Born = bornWith(Point as unknown as new (x: number) => { x: number }, proto)!;
  const p = new Born(21) as { x: number; twice(): number };
  assert.equal(Object.getPrototypeOf(p), proto);
  assert.ok(p instanceof (Point as unknown as new () => unknown));
  assert.deepEqual([p.x, p.twice()], [21, 42]);
  assert.equal(bornWith(class Plain {}, {}), null);
});
