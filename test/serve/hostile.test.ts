/**
 * Thousands of malformed and hostile requests over real HTTP: each must get a 4xx JSON error (no
 * stack, no path of the machine) and the server must keep answering; overload must give 503 + Retry-After, never a crash or a 500.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/serve/http/app.js';
import { createHttpServer } from '../../src/serve/http/server.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { silentLogger } from '../../src/serve/options.js';
import { fixtureModels, testOptions } from './fixtures.js';

let fx: Awaited<ReturnType<typeof fixtureModels>>;
before(async () => {
  fx = await fixtureModels(['ring', 'pets']);
});
after(() => fx.cleanup());

/** Deterministic PRNG (mulberry32) so that a failure can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

const BAD_VALUES: unknown[] = [null, true, 'x', '', '12', 'NaN', 'Infinity', -1, 1.5, -0.5, 1e308, -1e308, 2 ** 60, 2 ** 53, [], [1], {}, { a: 1 }, 'a'.repeat(5000)];
const BAD_NAMES = ['nope', '..', '..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e', 'RING', 'ring%00', 'a'.repeat(300), '%E2%98%83', '-ring', 'ring%2F..%2Fpets', '%252e%252e', '%20ring'];

/** One guaranteed-invalid request: a valid base with exactly one corruption. */
function hostile(r: () => number): Req {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const json = (path: string, body: unknown, ct = 'application/json'): Req => ({ method: 'POST', path, headers: { 'content-type': ct }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const kind = Math.floor(r() * 12);
  switch (kind) {
    case 0: // a bad value in one field of samples
      return json('/v1/models/ring/samples', { n: 2, format: 'json', [pick(['n', 'seed', 'start', 'scale', 'format', 'layout', 'columns', 'labels', 'class'])]: pick(BAD_VALUES) });
    case 1: // unknown or hostile model names
      return json(`/v1/models/${pick(BAD_NAMES)}/${pick(['samples', 'interpolate'])}`, { n: 1, seedA: 1, seedB: 2 });
    case 2: // huge / negative / fractional n
      return json('/v1/models/pets/samples', { n: pick([0, -1, -1e9, 1e9, 65, 1.5, 2 ** 63, '5']) });
    case 3: // invalid JSON text
      return json('/v1/models/ring/samples', pick(['{', '{"n":', '[1,2', 'nul', '{"n": NaN}', '{"n": Infinity}', '\u0000', '{"n":1}}', '"str"', '[' .repeat(3000), '['.repeat(4500) + ']'.repeat(4500), '{"n":'.repeat(2000) + '1' + '}'.repeat(2000)]));
    case 4: // oversized body
      return json('/v1/models/ring/samples', JSON.stringify({ n: 1, pad: 'x'.repeat(70_000 + Math.floor(r() * 50_000)) }));
    case 5: // wrong content type
      return json('/v1/models/ring/samples', 'n=3&seed=1', pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']));
    case 6: { // bad query strings on samples.png
      const key = pick(['n', 'seed', 'start', 'scale', 'columns', 'class', 'bogus']);
      const value = pick(['-1', 'abc', '1e400', '0', '99999', 'NaN', '', '1.5', '%00']);
      const q = key === 'class' ? `class=${pick(['zebra', '7', '-1'])}` : key === 'bogus' ? `bogus=${value}` : `${key}=${value === '0' && key === 'seed' ? '-3' : value}&${key}=2`;
      return { method: 'GET', path: `/v1/models/ring/samples.png?${q}` };
    }
    case 7: { // interpolation garbage
      const bad: Record<string, unknown[]> = {
        seedA: [-1, 'x', null, 1.5, [], 2 ** 60],
        seedB: [-1, 'x', null, 1.5, {}],
        steps: [1, 0, 65, 'x', 1.5, null],
        format: ['bmp', 'gif', 'webp', 1],
        scale: [0, 17, 'x', -2],
        delayMs: [5, 100_000, 'x'],
      };
      const field = pick(Object.keys(bad));
      return json('/v1/models/ring/interpolate', { seedA: 1, seedB: 2, [field]: pick(bad[field]) });
    }
    case 8: { // KServe JSON with one broken part
      const t = { name: 'z', shape: [1, 2], datatype: 'FP32', data: [0.1, 0.2] as unknown };
      const field = pick(['name', 'shape', 'datatype', 'data']);
      const bad: Record<string, unknown[]> = {
        name: ['', 'x', 42, null],
        shape: [[1], [1, 3], [0, 2], [-1, 2], [2, 2], 'x', [1e12, 2]],
        datatype: ['FP64', 'INT64', 'BYTES', 7, ''],
        data: [[0.1], ['a', 'b'], [null, null], [[0.1], [0.2, 0.3]], 'x', [[[[[[[[[[0.1]]]]]]]]], 0.2]],
      };
      return json('/v2/models/ring/infer', { inputs: [{ ...t, [field]: pick(bad[field]) }] });
    }
    case 9: { // binary extension with broken header lengths or sizes
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'z', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: pick([8, 4, 12, -8, 1e9]) } }] }));
      const payload = Buffer.alloc(pick([0, 4, 12, 16]));
      const hl = pick([String(header.length + 3), String(header.length - 1), '-5', 'abc', '1e3', String(1 << 30), '']);
      return { method: 'POST', path: '/v2/models/ring/infer', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': hl }, body: Buffer.concat([header, payload]) };
    }
    case 10: { // random bytes as an inference request
      const n = 1 + Math.floor(r() * 300);
      const bytes = Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
      bytes[0] = 0x7b + 1; // never '{'
      return { method: 'POST', path: '/v2/models/pets/infer', headers: { 'content-type': 'application/octet-stream' }, body: bytes };
    }
    default: // conditional labels out of range
      return json('/v1/models/pets/samples', { n: 2, labels: [0, pick([3, -1, 'wolf', 1.5, null])] });
  }
}

function send(port: number, agent: http.Agent, req: Req): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ port, host: '127.0.0.1', method: req.method, path: req.path, headers: req.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

async function withServer<T>(extra: Parameters<typeof testOptions>[1], fn: (port: number, engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.start(testOptions(fx.models, extra), { logger: silentLogger });
  const server = createHttpServer(createApp(engine));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await fn((server.address() as AddressInfo).port, engine);
  } finally {
    server.closeAllConnections();
    server.close();
    await engine.close();
  }
}

/** Whether a response body carries a stack trace or a path of this machine. */
function leaks(body: string): boolean {
  return /\bat \S+ \(|node_modules|\/work\/|\/tmp\/|\/home\/|\/root\//.test(body);
}

const HOSTILE_REQUESTS = 3000;
const CONCURRENCY = 16;

test(`${HOSTILE_REQUESTS} malformed and hostile requests: every one 4xx with a JSON error, the server keeps answering`, async () => {
  await withServer({ maxSamples: 64, maxBodyBytes: 64 * 1024 }, async (port) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const r = rng(20240601);
    const reqs = Array.from({ length: HOSTILE_REQUESTS }, () => hostile(r));
    const bad: string[] = [];
    let next = 0;
    const statuses = new Map<number, number>();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < reqs.length) {
          const i = next++;
          const res = await send(port, agent, reqs[i]);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          let isJsonError = false;
          try {
            const body = JSON.parse(res.body);
            isJsonError = typeof body.error === 'string';
            // /v1 validation errors also name the field, the value and what is allowed.
            if (res.status === 400 && reqs[i].path.startsWith('/v1')) isJsonError &&= typeof body.field === 'string' && 'value' in body && typeof body.allowed === 'string';
          } catch {}
          if (res.status < 400 || res.status >= 500 || !isJsonError || leaks(res.body)) bad.push(`#${i} ${reqs[i].method} ${reqs[i].path.slice(0, 80)} ${String(reqs[i].body ?? '').slice(0, 80)} → ${res.status} ${res.body.slice(0, 120)}`);
        }
      }),
    );
    assert.deepEqual(bad.slice(0, 10), [], `${bad.length} requests were not answered with a 4xx JSON error`);
    assert.ok([...statuses.keys()].every((s) => s >= 400 && s < 500));
    assert.ok(statuses.size >= 3, `expected a mix of 4xx codes, got ${[...statuses.keys()]}`);
    // Still serving.
    const ok = await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json' }, body: '{"n":3,"format":"json"}' });
    assert.equal(ok.status, 200);
    agent.destroy();
  });
});

test('overload beyond --max-queue: 503 with Retry-After, never a 500 or a crash; then it serves again', async () => {
  // Batching off and big requests: each request takes many runs, so the queue fills up.
  await withServer({ maxQueue: 4, maxBatch: 1, maxSamples: 256 }, async (port) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const body = JSON.stringify({ n: 256, format: 'npy' });
    const results = await Promise.all(
      Array.from({ length: 64 }, () => send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json' }, body })),
    );
    const codes = results.map((r) => r.status);
    assert.ok(codes.every((c) => c === 200 || c === 503), `codes: ${[...new Set(codes)]}`);
    assert.ok(codes.includes(503), 'the queue limit was reached');
    assert.ok(codes.includes(200));
    for (const r of results.filter((x) => x.status === 503)) {
      assert.equal(r.headers['retry-after'], '1');
      assert.match(JSON.parse(r.body).error, /overloaded/);
    }
    const after = await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json' }, body: '{"n":2,"format":"json"}' });
    assert.equal(after.status, 200);
    const metrics = (await send(port, agent, { method: 'GET', path: '/metrics' })).body;
    const refused = codes.filter((c) => c === 503).length;
    assert.ok(metrics.includes(`wganx_requests_total{model="ring",endpoint="samples",outcome="overloaded",code="503"} ${refused}`), 'each 503 counted as overloaded');
    agent.destroy();
  });
});

test('deeply nested JSON gets a 400 JSON error (no stack, no path, bounded value) on every POST, before parsing', async () => {
  await withServer({}, async (port) => {
    const agent = new http.Agent({ keepAlive: true });
    const deep = '['.repeat(4500) + ']'.repeat(4500);
    const deepObject = '{"a":'.repeat(4500) + '1' + '}'.repeat(4500);
    for (const path of ['/v1/models/ring/samples', '/v1/models/ring/interpolate', '/v1/models/pets/samples', '/v2/models/ring/infer']) {
      for (const body of [deep, deepObject, JSON.stringify({ n: 1, labels: JSON.parse('['.repeat(40) + ']'.repeat(40)) })]) {
        const res = await send(port, agent, { method: 'POST', path, headers: { 'content-type': 'application/json' }, body });
        assert.equal(res.status, 400, `${path}: ${res.body.slice(0, 200)}`);
        assert.match(res.headers['content-type']!, /^application\/json/);
        assert.ok(!leaks(res.body), `${path} leaks: ${res.body.slice(0, 300)}`);
        assert.match(JSON.parse(res.body).error, /nested more than 32 levels/);
      }
    }
    // The nesting check reads bytes: a body in another charset (UTF-16 hides quotes and brackets from it) is refused.
    const utf16 = Buffer.from(`{"n":1,"x":"\u2200",${'['.repeat(5000)}${']'.repeat(5000)}}`, 'utf16le');
    const wide = await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json; charset=utf-16le' }, body: utf16 });
    assert.equal(wide.status, 415, wide.body.slice(0, 200));
    assert.match(wide.headers['content-type']!, /^application\/json/);
    assert.equal(JSON.parse(wide.body).field, 'Content-Type');
    // A charset body-parser does not know, bytes that are not UTF-8, and a Content-Encoding that does
    // not match the body: each named, with what is allowed.
    const latin1 = await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json; charset=latin1' }, body: '{"n":1}' });
    assert.equal(latin1.status, 415, latin1.body);
    assert.deepEqual(JSON.parse(latin1.body), { error: 'Content-Type charset "latin1" is not accepted; expected utf-8', field: 'Content-Type', value: 'latin1', allowed: 'charset utf-8' });
    const notUtf8 = await send(port, agent, { method: 'POST', path: '/v1/models/pets/samples', headers: { 'content-type': 'application/json' }, body: Buffer.from([...Buffer.from('{"n":1,"class":"'), 0xff, 0xfe, ...Buffer.from('"}')]) });
    assert.equal(notUtf8.status, 400, notUtf8.body);
    assert.match(JSON.parse(notUtf8.body).error, /^body is not valid UTF-8; expected JSON text in UTF-8$/);
    const gzipped = await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: '{"n":1}' });
    assert.equal(gzipped.status, 400, gzipped.body);
    assert.match(JSON.parse(gzipped.body).error, /^Content-Encoding "gzip" does not match the body \(incorrect header check\); expected identity, gzip, deflate or br/);
    const notBrotli = await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: '{"n":1}' });
    assert.equal(notBrotli.status, 400, notBrotli.body);
    assert.match(JSON.parse(notBrotli.body).error, /^Content-Encoding "br" does not match the body \(.*\); expected identity, gzip, deflate or br/);
    const packed = await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json', 'content-encoding': 'zstd-x' }, body: '{"n":1}' });
    assert.equal(packed.status, 415, packed.body);
    assert.equal(JSON.parse(packed.body).field, 'Content-Encoding');
    // A huge value is quoted, never echoed in full.
    const huge = await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 'x'.repeat(3_000_000) }) });
    assert.equal(huge.status, 400);
    assert.ok(huge.body.length < 2048, `${huge.body.length} bytes`);
    assert.equal(JSON.parse(huge.body).field, 'body.n');
    // The server still answers.
    assert.equal((await send(port, agent, { method: 'POST', path: '/v1/models/ring/samples', headers: { 'content-type': 'application/json' }, body: '{"n":1,"format":"json"}' })).status, 200);
    agent.destroy();
  });
});
