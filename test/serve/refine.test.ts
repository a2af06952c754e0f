/**
 * Refinement on the server (issue 35), driven in-process with supertest on real worker sessions and
 * model folders exported with their critic.onnx and refine.onnx (test/runtime/refine-fixtures.ts): a refined
 * request gives the runtime's bytes (`Generator.sample` on the same device) for every method, alone
 * or mixed with other requests under concurrency, above `--max-batch` too (it runs whole); `/v1/models` says
 * which methods each model can run; the server's limits and bad requests are 400s naming the
 * field; interpolation refuses refinement; browsers can fetch the critic's files.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { Express } from 'express';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { openGenerator } from '../../src/runtime/node.js';
import { seededSamples } from '../../src/core/seeded.js';
import type { DeviceChoice, NodeDevice } from '../../src/runtime/devices.js';
import { readModelFolder } from '../../src/runtime/model-folder.js';
import { REFINE_METHODS, refineMethodsFor, resolveRefine, type RefineRequest } from '../../src/runtime/refine/index.js';
import { SessionInstance } from '../../src/serve/engine/instance.js';
import { Engine } from '../../src/serve/engine/engine.js';
import type { LoadedModel } from '../../src/serve/engine/model.js';
import { REFINE_LIMITS, servedRefine } from '../../src/serve/engine/refine.js';
import { createApp } from '../../src/serve/http/app.js';
import { resolveServeOptions, silentLogger } from '../../src/serve/options.js';
import { testOptions } from './fixtures.js';
import { parseNpy } from './helpers.js';
import { criticFixtures } from '../runtime/refine-fixtures.js';

let fx: Awaited<ReturnType<typeof criticFixtures>>;
let engine: Engine;
let app: Express;

const LIMITS = { maxRefineK: 12, maxRefineSteps: 6 };
/** Plain requests above this many rows are split over batches; refined ones run whole. */
const MAX_BATCH = 16;

before(async () => {
  fx = await criticFixtures(); // a models folder: points, digits (both with their critic), bare (none)
  // A queue delay long enough that concurrent requests below share batches.
  engine = await Engine.start(testOptions(fx.root, { maxQueueDelayMs: 20, maxBatch: MAX_BATCH, maxSamples: 256, ...LIMITS }), { logger: process.env.WGANX_TEST_LOG ? undefined : silentLogger });
  app = createApp(engine);
});

after(async () => {
  await engine.close();
  fx.cleanup();
});

const post = (path: string, body: object) => request(app).post(path).send(body);
const binaryParser = (res: any, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

/** The samples of a request as the server computes them (.npy, float32). */
async function served(model: string, body: object): Promise<Float32Array> {
  const res = await post(`/v1/models/${model}/samples`, { ...body, format: 'npy' }).buffer(true).parse(binaryParser).expect(200);
  return parseNpy(res.body as Buffer).data;
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The runtime's samples (Generator.sample on the CPU, one thread, as the test server's sessions). */
async function runtime(model: string, req: { seed: number; start?: number; n: number; cls?: number; labels?: number[]; refine?: RefineRequest }): Promise<Float32Array> {
  const g = await openGenerator(join(fx.root, model), { device: 'cpu', threads: 1 });
  try {
    return Float32Array.from((await g.sample({ start: 0, ...req })).data);
  } finally {
    await g.dispose();
  }
}

/** rank's default σ (the table's: the tests follow it). */
const SIGMA = REFINE_METHODS.rank.params.sigma.default;
const METHODS: RefineRequest[] = [{ method: 'rank', k: 6, sigma: 0.5 }, { method: 'dot', steps: 4, stepSize: 0.05 }, { method: 'ddls', steps: 3, stepSize: 0.02 }];

test('GET /v1/models says which refinement methods each model can run and the server\'s limits', async () => {
  const res = await request(app).get('/v1/models').expect(200);
  const byName = Object.fromEntries(res.body.models.map((m: { name: string; refine: unknown }) => [m.name, m.refine]));
  const limits = { k: LIMITS.maxRefineK, steps: LIMITS.maxRefineSteps };
  assert.deepEqual(byName, {
    bare: { methods: ['none'], limits },
    digits: { methods: ['none', 'rank', 'dot', 'ddls'], limits },
    points: { methods: ['none', 'rank', 'dot', 'ddls'], limits },
  });
  const one = (await request(app).get('/v1/models/digits').expect(200)).body;
  assert.deepEqual(one.refine.methods, ['none', 'rank', 'dot', 'ddls']);
});

test('every method gives the runtime\'s bytes, for point and conditional image models, below and above --max-batch', async () => {
  for (const model of ['points', 'digits']) {
    for (const refine of METHODS) {
      for (const { start, n } of [{ start: 3, n: 5 }, { start: 0, n: 2 * MAX_BATCH + 5 }]) {
        const req = { seed: 11, start, n, refine };
        const got = await served(model, req);
        const want = await runtime(model, req);
        assert.ok(bytes(got).equals(bytes(want)), `${model} ${refine.method} n=${n}: the server's bytes differ from Generator.sample's`);
        const raw = await served(model, { seed: 11, start, n });
        assert.ok(!bytes(got).equals(bytes(raw)), `${model} ${refine.method} n=${n}: refinement changed nothing`);
      }
    }
  }
});

test('a refined sample is the same bytes alone, inside a larger request, and mixed with other requests under concurrency', async () => {
  const rowSize = 16 * 16;
  for (const refine of METHODS) {
    const alone = await served('digits', { seed: 5, start: 0, n: 24, refine });
    // Concurrent: refined and plain requests of two models and other refinements, sharing the queue.
    const body = { seed: 5, start: 0, n: 24, refine };
    const [mixed, plain, tail, other, point] = await Promise.all([
      served('digits', body),
      served('digits', { seed: 5, start: 0, n: 24 }),
      served('digits', { seed: 5, start: 10, n: 14, refine }),
      served('digits', { seed: 6, start: 0, n: 9, refine: METHODS[(METHODS.indexOf(refine) + 1) % METHODS.length] }),
      served('points', { seed: 5, n: 30, refine }),
    ]);
    assert.ok(bytes(mixed).equals(bytes(alone)), `${refine.method}: the request mixed with others differs from it alone`);
    assert.ok(bytes(tail).equals(bytes(alone.subarray(10 * rowSize))), `${refine.method}: samples 10… of a request starting at 10 differ from the same samples of one starting at 0`);
    assert.ok(bytes(plain).equals(bytes(await runtime('digits', { seed: 5, n: 24 }))), 'the plain request beside them is the raw samples');
    assert.ok(bytes(point).equals(bytes(await runtime('points', { seed: 5, n: 30, refine }))), `${refine.method}: the point model's request beside them`);
    assert.equal(other.length, 9 * rowSize);
  }
});

test('conditional refinement keeps each sample\'s class: one class for all, and per-sample labels', async () => {
  const refine = { method: 'rank', k: 8 };
  const got = await served('digits', { seed: 2, n: 6, class: 'b', refine });
  assert.ok(bytes(got).equals(bytes(await runtime('digits', { seed: 2, n: 6, cls: 1, refine }))));
  const res = await post('/v1/models/digits/samples', { seed: 2, n: 3, labels: [2, 0, 'b'], format: 'json', refine }).expect(200);
  assert.deepEqual(res.body.samples.map((s: { label: number }) => s.label), [2, 0, 1]);
  assert.deepEqual(res.body.refine, { method: 'rank', k: 8, sigma: SIGMA }, 'the JSON head gives the refinement with every parameter');
  assert.equal(res.headers['x-wganx-refine'], `rank k=8 sigma=${SIGMA}`);
});

test('samples.png takes refine=<method>&refine.<param>= and gives the POST route\'s picture, with its own ETag', async () => {
  const png = await request(app).get('/v1/models/digits/samples.png?n=4&seed=3&refine=dot&refine.steps=3').buffer(true).parse(binaryParser).expect(200);
  const viaPost = await post('/v1/models/digits/samples', { n: 4, seed: 3, refine: { method: 'dot', steps: 3 } }).buffer(true).parse(binaryParser).expect(200);
  assert.ok((png.body as Buffer).equals(viaPost.body as Buffer));
  assert.equal(png.headers['x-wganx-refine'], `dot steps=3 stepSize=${REFINE_METHODS.dot.params.stepSize.default}`);
  const plain = await request(app).get('/v1/models/digits/samples.png?n=4&seed=3').expect(200);
  assert.notEqual(png.headers.etag, plain.headers.etag);
  await request(app).get('/v1/models/digits/samples.png?n=4&seed=3&refine=dot&refine.steps=3').set('If-None-Match', png.headers.etag).expect(304);
  const bad = await request(app).get('/v1/models/digits/samples.png?refine=rank&refine.k=many').expect(400);
  assert.equal(bad.body.field, 'query.refine.k');
  const noMethod = await request(app).get('/v1/models/digits/samples.png?refine.k=3').expect(400);
  assert.equal(noMethod.body.field, 'query.refine.method');
  assert.equal((await request(app).get('/v1/models/digits/samples.png?refine=rank&refine=dot').expect(400)).body.field, 'query.refine.method');
  assert.equal((await request(app).get('/v1/models/digits/samples.png?refine=rank&refine.__proto__=1').expect(400)).body.field, 'query.refine.__proto__');
  assert.equal((await request(app).get('/v1/models/digits/samples.png?refine=rank&refine.k=2&refine.k=3').expect(400)).body.field, 'query.refine.k');
});

test('the server\'s limits: a larger k or steps is a 400 naming the field and the flag', async () => {
  const k = await post('/v1/models/points/samples', { n: 2, refine: { method: 'rank', k: LIMITS.maxRefineK + 1 } }).expect(400);
  assert.equal(k.body.field, 'body.refine.k');
  assert.match(k.body.error, /at most 12 on this server \(--max-refine-k\)/);
  const steps = await post('/v1/models/digits/samples', { n: 2, refine: { method: 'ddls', steps: 1e9 } }).expect(400);
  assert.equal(steps.body.field, 'body.refine.steps');
  const huge = await post('/v1/models/digits/samples', { n: 2, refine: { method: 'rank', k: 1e12 } }).expect(400);
  assert.equal(huge.body.field, 'body.refine.k');
  await post('/v1/models/digits/samples', { n: 2, refine: { method: 'rank', k: LIMITS.maxRefineK } }).expect(200);
});

test('bad refinements are 400s naming refine.<field>, and the server keeps serving', async () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['bare', { method: 'rank' }, 'body.refine.method', /this model has no critic/],
    ['bare', { method: 'dot' }, 'body.refine.method', /none for model bare/],
    ['points', { method: 'best' }, 'body.refine.method', /none, rank, dot, ddls/],
    ['points', { method: 'rank', steps: 3 }, 'body.refine.steps', /only k, sigma for method rank/],
    ['points', { method: 'rank', k: 'eight' }, 'body.refine.k', /an integer in \[1, 12\] on this server \(--max-refine-k\)/],
    ['points', { method: 'dot', stepSize: 0 }, 'body.refine.stepSize', /\(0, 10\]/],
    ['points', { k: 3 }, 'body.refine.method', /one of/],
    ['points', 'rank', 'body.refine', /an object/],
    ['points', null, 'body.refine', /an object/],
  ];
  for (const [model, refine, field, allowed] of cases) {
    const res = await post(`/v1/models/${model}/samples`, { n: 2, refine }).expect(400);
    assert.equal(res.body.field, field, JSON.stringify(refine));
    assert.match(res.body.error, allowed, JSON.stringify(refine));
  }
  // A model without a critic still serves, refine none included.
  await post('/v1/models/bare/samples', { n: 2, refine: { method: 'none' } }).expect(200);
  await post('/v1/models/points/samples', { n: 2, refine: { method: 'rank', k: 2 } }).expect(200);
});

test('interpolation takes no refinement (none only): a 400 that says why and where to refine', async () => {
  const res = await post('/v1/models/digits/interpolate', { seedA: 1, seedB: 2, steps: 3, refine: { method: 'dot' } }).expect(400);
  assert.equal(res.body.field, 'body.refine');
  assert.match(res.body.error, /not refined.*\/samples/);
  await post('/v1/models/digits/interpolate', { seedA: 1, seedB: 2, steps: 3, refine: { method: 'none' } }).expect(200);
  assert.equal((await post('/v1/models/digits/interpolate', { seedA: 1, seedB: 2, steps: 3, refine: { method: 'rnak' } }).expect(400)).body.field, 'body.refine.method');
});

test('the event loop answers while a long refinement runs in the session thread', async () => {
  const order: string[] = [];
  const heavy = served('digits', { seed: 9, n: 256, refine: { method: 'dot', steps: LIMITS.maxRefineSteps } }).then(() => order.push('refined'));
  await new Promise((r) => setTimeout(r, 20));
  await request(app).get('/v2/health/live').expect(200);
  order.push('live');
  await heavy;
  assert.deepEqual(order, ['live', 'refined']);
});

test('browsers can fetch critic.onnx and refine.onnx of a model that has them, by their own sha256', async () => {
  const manifest = (await request(app).get('/models/digits/manifest.json').expect(200)).body;
  for (const [file, sha] of [[manifest.critic.file, manifest.critic.sha256], [manifest.critic.refine.file, manifest.critic.refine.sha256]]) {
    const res = await request(app).get(`/models/digits/${file}?sha256=${sha}`).buffer(true).parse(binaryParser).expect(200);
    assert.ok((res.body as Buffer).equals(readFileSync(join(fx.root, 'digits', file))));
    assert.equal(res.headers['x-wganx-sha256'], manifest.export.sha256, 'the header names the version (the generator\'s sha256)');
    assert.equal(res.headers.etag, `"${sha}"`);
    const stale = await request(app).get(`/models/digits/${file}?sha256=${manifest.export.sha256}`).expect(409);
    assert.equal(stale.body.sha256, manifest.export.sha256);
  }
  const none = await request(app).get('/models/bare/critic.onnx').expect(404);
  assert.match(none.body.error, /has manifest\.json and generator\.onnx, not "critic\.onnx"/);
});

test('OpenAPI: the samples body\'s refine is one schema per method of the table, bounded by the server\'s limits', async () => {
  const spec = (await request(app).get('/openapi.json').expect(200)).body;
  const refine = spec.paths['/v1/models/{name}/samples'].post.requestBody.content['application/json'].schema.properties.refine;
  assert.deepEqual(refine.oneOf.map((o: { title: string }) => o.title), Object.keys(REFINE_METHODS));
  const byMethod = Object.fromEntries(refine.oneOf.map((o: { title: string; properties: Record<string, { maximum?: number; default?: number }> }) => [o.title, o.properties]));
  assert.equal(byMethod.rank.k.maximum, LIMITS.maxRefineK);
  assert.equal(byMethod.rank.k.default, REFINE_METHODS.rank.params.k.default);
  assert.equal(byMethod.ddls.steps.maximum, LIMITS.maxRefineSteps);
  assert.equal(byMethod.dot.stepSize.maximum, REFINE_METHODS.dot.params.stepSize.max);
});

test('WebGPU (SwiftShader): a refined request is Generator.sample\'s bytes on the same device, above --max-batch too', () => {
  const libs = '/usr/lib/chromium';
  const icd = join(libs, 'vk_swiftshader_icd.json');
  assert.ok(existsSync(icd), `${icd} is missing: install Debian's chromium package (.ci/run does)`);
  // WebGPU reads its libraries at process start: the engine and the reference run in a child.
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./refine-webgpu-child.ts', import.meta.url)), fx.root], {
    env: { ...process.env, LD_LIBRARY_PATH: libs, VK_ICD_FILENAMES: icd },
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(child.status, 0, child.stderr.slice(-2000));
  const results = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { model: string; method: string; n: number; device: string; same: boolean; maxDiff: number }[];
  assert.equal(results.length, 12);
  for (const r of results) {
    assert.equal(r.device, 'webgpu/webgpu');
    assert.ok(r.same, `${r.model} ${r.method} n=${r.n}: the server's bytes differ from Generator.sample's on WebGPU (max |diff| ${r.maxDiff})`);
  }
});

test('a refined job whose request failed is called off in the worker: the session stops refining, keeps serving, and refines again', async () => {
  const dir = join(fx.root, 'digits');
  const folder = await readModelFolder(dir);
  const cpu: DeviceChoice<NodeDevice> = { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] };
  const inst = await SessionInstance.create({ model: folder.bytes, graphs: { critic: folder.critic!.bytes, refine: folder.refine!.bytes }, manifest: folder.manifest, device: cpu, threads: 1, label: 'digits/generator.onnx' });
  try {
    const n = 256;
    const labels = seededSamples(folder.manifest, { seed: 1, start: 0, n }).labels;
    let call: () => void = () => {};
    const cancel = { cancelled: false, onCancel: (l: () => void) => void (call = l) };
    // 1,000 Langevin steps on 256 rows: far longer than the moment it is called off.
    const long = inst.run({ rows: n, segments: [{ kind: 'seeded', seed: 1, start: 0, count: n }], labels, refine: resolveRefine({ method: 'ddls', steps: 1000 }), cancel });
    await new Promise((r) => setTimeout(r, 200));
    cancel.cancelled = true;
    call();
    await assert.rejects(long, /the refinement was cancelled: its request failed/);
    // The session serves plain and refined batches afterwards, with the runtime's bytes.
    const plain = await inst.run({ rows: 3, segments: [{ kind: 'seeded', seed: 2, start: 0, count: 3 }], labels: Int32Array.from([0, 1, 2]) });
    assert.ok(bytes(plain.data).equals(bytes(await runtime('digits', { seed: 2, n: 3, labels: [0, 1, 2] }))));
    const refine = { method: 'dot', steps: 2 };
    const again = await inst.run({ rows: 4, segments: [{ kind: 'seeded', seed: 3, start: 0, count: 4 }], labels: seededSamples(folder.manifest, { seed: 3, start: 0, n: 4 }).labels, refine: resolveRefine(refine) });
    assert.ok(bytes(again.data).equals(bytes(await runtime('digits', { seed: 3, n: 4, refine }))));
  } finally {
    await inst.close();
  }
});

/** A model as servedRefine reads it. */
function fakeModel(critic: boolean, refine: boolean): LoadedModel {
  const file = (f: string) => ({ file: f, sha256: '0'.repeat(64), bytes: new Uint8Array() });
  return { name: 'm', critic: critic ? file('critic.onnx') : null, refine: refine ? file('refine.onnx') : null, refineMethods: refineMethodsFor({ critic, refine }) } as unknown as LoadedModel;
}

test('servedRefine: a default above the limit is refused saying so; a limit of 0 switches its methods off; every costly method is bounded', () => {
  const m = fakeModel(true, true);
  const limits = { maxRefineK: 4, maxRefineSteps: 0 };
  assert.throws(() => servedRefine(m, { method: 'rank' }, 'body.refine', limits), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'body.refine.k' && /rank's default/.test(e.message));
  assert.deepEqual(servedRefine(m, { method: 'rank', k: 4 }, 'body.refine', limits), { method: 'rank', params: { k: 4, sigma: SIGMA } });
  assert.throws(() => servedRefine(m, { method: 'dot', steps: 1 }, 'body.refine', limits), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'body.refine.method' && /none, rank for model m: this server switches dot off \(--max-refine-steps 0\)/.test(e.message));
  assert.deepEqual(servedRefine(m, undefined, 'body.refine', limits), { method: 'none', params: {} });
  assert.throws(() => servedRefine(fakeModel(true, false), { method: 'ddls' }, 'body.refine', { maxRefineK: 4, maxRefineSteps: 4 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'body.refine.method' && /no refine\.onnx/.test(e.message));
});

test('every method that runs a critic has a parameter bounded by a server flag, and the default limits take every method\'s defaults', () => {
  const defaults = resolveServeOptions();
  for (const [name, row] of Object.entries(REFINE_METHODS)) {
    assert.doesNotThrow(() => servedRefine(fakeModel(true, true), { method: name }, 'body.refine', defaults), `method ${name}'s defaults on a server with the default limits`);
    if (row.graph === null) continue;
    assert.ok(Object.keys(row.params).some((p) => Object.hasOwn(REFINE_LIMITS, p)), `method ${name}: none of ${Object.keys(row.params).join(', ')} is bounded by a --max-refine-* flag (src/serve/engine/refine.ts REFINE_LIMITS)`);
  }
});
