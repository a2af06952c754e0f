/** Model folders that fail to load beside good ones, and hot add / replace / remove without restart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/serve/http/app.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { silentLogger, type Logger } from '../../src/serve/options.js';
import { SessionInstance, type InferenceBackend } from '../../src/serve/engine/instance.js';
import { exportDigits, exportRing, fixtureModels, testOptions } from './fixtures.js';
import { reference, assertClose } from './helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Copy a model folder under a new name, with the manifest's name changed accordingly. */
function cloneModel(from: string, to: string, name: string, edit: (m: Record<string, any>, onnx: Buffer) => Buffer | void = () => {}) {
  cpSync(from, to, { recursive: true });
  const m = JSON.parse(readFileSync(join(to, 'manifest.json'), 'utf8'));
  m.name = name;
  const onnx = readFileSync(join(to, 'generator.onnx'));
  const replaced = edit(m, onnx);
  if (replaced) {
    writeFileSync(join(to, 'generator.onnx'), replaced);
    m.export.sha256 = sha(replaced);
  }
  writeFileSync(join(to, 'manifest.json'), JSON.stringify(m));
}

test('corrupt and invalid model folders are not ready with a reason; the good ones serve', async () => {
  const fx = await fixtureModels(['ring']);
  const ring = join(fx.models, 'ring');
  try {
    // Garbage ONNX whose manifest hash matches it: onnxruntime refuses it.
    cloneModel(ring, join(fx.models, 'garbage'), 'garbage', (_m, onnx) => Buffer.concat([onnx.subarray(0, 40), Buffer.from('not protobuf at all'.repeat(20))]));
    // ONNX truncated after the manifest was written: hash mismatch.
    cloneModel(ring, join(fx.models, 'truncated'), 'truncated');
    const t = readFileSync(join(fx.models, 'truncated', 'generator.onnx'));
    writeFileSync(join(fx.models, 'truncated', 'generator.onnx'), t.subarray(0, t.length >> 1));
    // Manifest that fails the schema, and one that is not JSON.
    cloneModel(ring, join(fx.models, 'badschema'), 'badschema', (m) => void (m.kind = 'sound'));
    mkdirSync(join(fx.models, 'notjson'));
    writeFileSync(join(fx.models, 'notjson', 'manifest.json'), '{oops');
    // Manifest naming inputs the graph lacks.
    cloneModel(ring, join(fx.models, 'wrongio'), 'wrongio', (m) => void (m.inputs[0].name = 'noise'));
    // Folder name that is not a model name, a stray file, and a folder without manifest.json
    // (not a generator, e.g. models/mnist-evaluator): skipped, not listed.
    cloneModel(ring, join(fx.models, 'Bad Name'), 'badname');
    writeFileSync(join(fx.models, 'README.txt'), 'not a model');
    mkdirSync(join(fx.models, 'classifier'));
    writeFileSync(join(fx.models, 'classifier', 'evaluator.json'), '{}');

    const engine = await Engine.start(testOptions(fx.models), { logger: silentLogger });
    const app = createApp(engine);
    try {
      const models = (await request(app).get('/v1/models').expect(200)).body.models as { name: string; state: string; reason: string | null }[];
      const by = Object.fromEntries(models.map((m) => [m.name, m]));
      assert.equal(by.ring.state, 'ready');
      assert.equal(by.garbage.state, 'failed');
      assert.match(by.garbage.reason!, /onnxruntime could not load garbage\/generator\.onnx/);
      assert.match(by.truncated.reason!, /sha256 .* manifest\.json says/);
      assert.match(by.badschema.reason!, /manifest\.json\.kind/);
      assert.match(by.notjson.reason!, /not valid JSON/);
      assert.match(by.wrongio.reason!, /lacks|"noise"/);
      assert.match(by['Bad Name'].reason!, /not a model name/);
      assert.equal(by.classifier, undefined);
      assert.ok(!('README.txt' in by));
      await request(app).post('/v1/models/ring/samples').send({ n: 2, format: 'json' }).expect(200);
      const r = await request(app).post('/v1/models/garbage/samples').send({ n: 2 }).expect(503);
      assert.match(r.body.error, /not ready: onnxruntime could not load/);
      await request(app).get('/v2/models/garbage/ready').expect(503);
      // Strict readiness (Triton's default): not ready while a model folder fails, and the body says which.
      const ready = (await request(app).get('/v2/health/ready').expect(503)).body;
      assert.equal(ready.ready, false);
      assert.deepEqual(ready.models.map((m: { name: string }) => m.name).sort(), ['Bad Name', 'badschema', 'garbage', 'notjson', 'truncated', 'wrongio']);
      assert.match(ready.models.find((m: { name: string }) => m.name === 'garbage').reason, /onnxruntime could not load/);
      assert.match(ready.reason, /strict readiness: every model folder must load, and "Bad Name" \(failed\), .* have not \(--no-strict-readiness/);
    } finally {
      await engine.close();
    }
    const lenient = await Engine.start(testOptions(fx.models, { strictReadiness: false }), { logger: silentLogger });
    await request(createApp(lenient)).get('/v2/health/ready').expect(200);
    await lenient.close();
  } finally {
    fx.cleanup();
  }
});

/** A logger that keeps what it is told, by level. */
function recordingLogger(): Logger & { lines: { level: string; text: string }[] } {
  const lines: { level: string; text: string }[] = [];
  return { lines, info: (text) => void lines.push({ level: 'info', text }), warn: (text) => void lines.push({ level: 'warn', text }), error: (text) => void lines.push({ level: 'error', text }) };
}

test('--models naming one model folder serves that model, and reloads it when its files change', async () => {
  const fx = await fixtureModels(['ring']);
  const ring = join(fx.models, 'ring');
  const logger = recordingLogger();
  const engine = await Engine.start(testOptions(ring), { logger });
  const app = createApp(engine);
  try {
    const models = (await request(app).get('/v1/models').expect(200)).body.models as { name: string; state: string; warning: string | null }[];
    assert.deepEqual(models.map((m) => [m.name, m.state, m.warning]), [['ring', 'ready', null]]);
    assert.ok(logger.lines.some((l) => l.level === 'info' && l.text === `${ring} is one model folder (it holds manifest.json): serving that model as "ring"`), JSON.stringify(logger.lines));
    assert.deepEqual((await request(app).get('/v2/health/ready').expect(200)).body, { ready: true });
    const res = await request(app).post('/v1/models/ring/samples').send({ n: 2, seed: 3, format: 'json' }).expect(200);
    assertClose(res.body.samples.flatMap((s: { point: number[] }) => s.point), await reference(ring, 3, 0, 2), 1e-6);
    await request(app).get('/models/ring/generator.onnx').expect(200);
    // Replaced in place: the one model reloads.
    const staging = join(fx.root, 'staging-ring');
    await exportRing(staging, '2');
    for (const f of ['generator.onnx', 'manifest.json']) renameSync(join(staging, f), join(ring, f));
    await engine.registry.scan();
    assert.equal((await request(app).get('/v1/models/ring').expect(200)).body.version, '2');
  } finally {
    await engine.close();
    fx.cleanup();
  }
});

test('an empty models folder is a warning that names it, and the server is not ready (saying why) until a model appears', async () => {
  const fx = await fixtureModels([]);
  mkdirSync(fx.models, { recursive: true });
  const logger = recordingLogger();
  const engine = await Engine.start(testOptions(fx.models), { logger });
  const app = createApp(engine);
  try {
    const warnings = logger.lines.filter((l) => l.level === 'warn').map((l) => l.text);
    assert.equal(warnings.length, 1, JSON.stringify(logger.lines));
    assert.equal(warnings[0].startsWith(`no model folders in ${fx.models}: nothing to serve`), true, warnings[0]);
    assert.match(warnings[0], /--models models\) or one model folder \(e\.g\. --models models\/ring\)$/);
    const body = (await request(app).get('/v2/health/ready').expect(503)).body;
    assert.deepEqual(body, { ready: false, reason: 'no model folders in --models: nothing to serve', models: [] });
    await exportRing(join(fx.models, 'ring'));
    await engine.registry.scan();
    await request(app).get('/v2/health/ready').expect(200);
  } finally {
    await engine.close();
    fx.cleanup();
  }
});

test('a copied model folder (cp -r models/ring models/ring2) serves under its folder name with a warning saying how to keep it; readiness holds', async () => {
  const fx = await fixtureModels(['ring']);
  cpSync(join(fx.models, 'ring'), join(fx.models, 'ring2'), { recursive: true });
  const logger = recordingLogger();
  const engine = await Engine.start(testOptions(fx.models), { logger });
  const app = createApp(engine);
  try {
    const by = Object.fromEntries(((await request(app).get('/v1/models').expect(200)).body.models as { name: string; state: string; warning: string | null }[]).map((m) => [m.name, m]));
    assert.equal(by.ring.state, 'ready');
    assert.equal(by.ring.warning, null);
    assert.equal(by.ring2.state, 'ready');
    const expected = 'manifest.json names the model "ring" but its folder is "ring2" (a copy?): serving it as "ring2". To keep the copy, set "name": "ring2" in ring2/manifest.json; to serve it as "ring", rename the folder';
    assert.equal(by.ring2.warning, expected);
    assert.ok(logger.lines.some((l) => l.level === 'warn' && l.text === `model "ring2": ${expected}`), JSON.stringify(logger.lines));
    assert.equal((await request(app).get('/models/ring2/manifest.json').expect(200)).body.name, 'ring2');
    await request(app).post('/v1/models/ring2/samples').send({ n: 2, format: 'json' }).expect(200);
    await request(app).get('/v2/health/ready').expect(200);
  } finally {
    await engine.close();
    fx.cleanup();
  }
});

test('hot reload: add, replace (in-flight requests finish on the old version), failed replacement, remove', async () => {
  const fx = await fixtureModels(['ring']);
  // A 60 s queue delay: a 1-sample request waits in the old version's queue until that version is retired.
  const engine = await Engine.start(testOptions(fx.models, { maxQueueDelayMs: 60_000, maxBatch: 64 }), { logger: silentLogger });
  const app = createApp(engine);
  const full = (name: string, seed: number) => request(app).post(`/v1/models/${name}/samples`).send({ n: 64, seed, format: 'json' }); // fills a batch: runs at once
  try {
    await request(app).post('/v1/models/digits/samples').send({ n: 64 }).expect(404);

    // Add: export into a temp folder and rename it in (how a deploy should do it).
    await exportDigits(join(fx.root, 'staging-digits'));
    renameSync(join(fx.root, 'staging-digits'), join(fx.models, 'digits'));
    await engine.registry.scan();
    await full('digits', 1).expect(200);

    // Replace ring v1 → v2 while a request waits in v1's queue.
    const ringDir = join(fx.models, 'ring');
    const v1 = await reference(ringDir, 5, 0, 1);
    const old = engine.registry.get('ring')!;
    const inflight = request(app).post('/v1/models/ring/samples').send({ n: 1, seed: 5, format: 'json' }).then((r) => r);
    while (old.batcher.queueLength === 0) await new Promise((r) => setTimeout(r, 5));
    const staging = join(fx.root, 'staging-ring');
    await exportRing(staging, '2');
    rmSync(ringDir, { recursive: true });
    renameSync(staging, ringDir);
    await engine.registry.scan();
    const done = await inflight;
    assert.equal(done.status, 200);
    assert.equal(done.headers['x-wganx-model-version'], '1');
    assertClose(done.body.samples[0].point, v1, 1e-6, 'in-flight request computed by version 1');
    const now = await full('ring', 5).expect(200);
    assert.equal(now.headers['x-wganx-model-version'], '2');
    assertClose(now.body.samples[0].point, await reference(ringDir, 5, 0, 1), 1e-6, 'new requests use version 2');
    assert.equal((await request(app).get('/v1/models/ring')).body.version, '2');

    // A broken replacement keeps version 2 serving and reports the error.
    const onnx = join(ringDir, 'generator.onnx');
    writeFileSync(onnx + '.tmp', Buffer.from('garbage'));
    renameSync(onnx + '.tmp', onnx);
    await engine.registry.scan();
    const info = (await request(app).get('/v1/models/ring').expect(200)).body;
    assert.equal(info.state, 'ready');
    assert.equal(info.version, '2');
    assert.match(info.reloadError, /sha256/);
    await full('ring', 5).expect(200);

    // Remove, while a request waits in digits' queue: it completes, later ones get 404.
    const digits = engine.registry.get('digits')!;
    const waiting = request(app).post('/v1/models/digits/samples').send({ n: 1, seed: 3, format: 'json' }).then((r) => r);
    while (digits.batcher.queueLength === 0) await new Promise((r) => setTimeout(r, 5));
    rmSync(join(fx.models, 'digits'), { recursive: true });
    await engine.registry.scan();
    const last = await waiting;
    assert.equal(last.status, 200);
    assert.equal(last.body.samples.length, 1);
    await full('digits', 1).expect(404);
    assert.deepEqual((await request(app).get('/v1/models')).body.models.map((m: { name: string }) => m.name), ['ring']);
  } finally {
    await engine.close();
    fx.cleanup();
  }
});

test('the models folder is polled: a new folder is served without any call', async () => {
  const fx = await fixtureModels(['ring']);
  const engine = await Engine.start(testOptions(fx.models, { reloadIntervalMs: 50 }), { logger: silentLogger });
  try {
    await exportDigits(join(fx.root, 'staging'));
    renameSync(join(fx.root, 'staging'), join(fx.models, 'digits'));
    const deadline = Date.now() + 20_000;
    while (!engine.registry.get('digits') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(engine.registry.get('digits'), 'digits was picked up by polling');
  } finally {
    await engine.close();
    fx.cleanup();
  }
});

test('a model whose session thread crashes is loaded again: the other session serves meanwhile; with none left it is not ready until reloaded', async () => {
  const fx = await fixtureModels(['ring']);
  const sessions: SessionInstance[] = [];
  const errors: string[] = [];
  const logger: Logger = { ...silentLogger, error: (m) => errors.push(m) };
  const engine = await Engine.start(testOptions(fx.models, { instances: 2 }), {
    logger,
    createBackend: async (o) => {
      const s = await SessionInstance.create(o);
      sessions.push(s);
      return s;
    },
  });
  const app = createApp(engine);
  const sample = () => request(app).post('/v1/models/ring/samples').send({ n: 8, seed: 5, format: 'json' }).expect(200);
  /** As a crash would: the session's worker thread ends (exit code 1). */
  const crash = (s: SessionInstance) => (s as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  const reloaded = async (from: unknown) => {
    const deadline = Date.now() + 20_000;
    while ((engine.registry.get('ring') === from || !engine.registry.get('ring')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.notEqual(engine.registry.get('ring'), from, 'a new version was loaded');
    assert.ok(engine.registry.get('ring'));
  };
  try {
    const expected = (await sample()).body.samples;
    const v1 = engine.registry.get('ring');
    assert.equal(sessions.length, 2);

    // One of two sessions crashes: the version stays ready on the other while a new one loads.
    await crash(sessions[0]);
    assert.equal(engine.registry.entry('ring')!.state, 'ready');
    assert.deepEqual((await sample()).body.samples, expected);
    await reloaded(v1);
    assert.equal(sessions.length, 4);
    assert.match(errors[0], /^model "ring": worker for ring\/generator\.onnx exited \(code 1\); loading it again \(its other sessions keep serving\)$/);

    // Both sessions of the new version crash: loading again (503 with Retry-After meanwhile, never a 500 or a hang).
    const v2 = engine.registry.get('ring');
    await Promise.all([crash(sessions[2]), crash(sessions[3])]);
    const deadline = Date.now() + 5_000;
    while (errors.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    const entry = engine.registry.entry('ring')!;
    assert.equal(entry.state, 'loading');
    assert.match(entry.reason!, /^session stopped: worker for ring\/generator\.onnx exited \(code 1\)$/);
    const res = await request(app).post('/v1/models/ring/samples').send({ n: 8, seed: 5, format: 'json' }).expect(503);
    assert.match(res.body.error, /^model "ring" is not ready: loading \(session stopped: worker for ring\/generator\.onnx exited \(code 1\)\)$/);
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.match((await request(app).get('/metrics')).text, /wganx_requests_total\{model="ring",endpoint="samples",outcome="unavailable",code="503"\} 1\n/);
    await reloaded(v2);
    assert.match(errors.at(-1)!, /^model "ring": worker for ring\/generator\.onnx exited \(code 1\); loading it again$/);
    assert.deepEqual((await sample()).body.samples, expected, 'the reloaded model gives the same samples');
    assert.equal(sessions.length, 6);
  } finally {
    await engine.close();
    fx.cleanup();
  }
});

/** Fake sessions (zero outputs of the model's row shape) that can be made to stop. */
class CrashableBackend implements InferenceBackend {
  closed = 0;
  private listener: ((err: Error) => void) | null = null;
  constructor(private readonly rowShape: number[]) {}
  async run(batch: { rows: number }) {
    return { data: new Float32Array(batch.rows * this.rowShape.reduce((a, b) => a * b, 1)), dims: [batch.rows, ...this.rowShape], computeMs: 0 };
  }
  async close() {
    this.closed++;
  }
  onLost(l: (err: Error) => void) {
    this.listener = l;
  }
  crash() {
    this.listener?.(new Error('worker exited (code 1)'));
  }
}

test('a crash reloads only that model, one load at a time; a reload that fails after the last session stopped leaves it failed', async () => {
  const fx = await fixtureModels(['ring']);
  const made: CrashableBackend[] = [];
  let gate: Promise<void> | null = null;
  let failNext: string | null = null;
  const engine = await Engine.start(testOptions(fx.models, { instances: 2 }), {
    logger: silentLogger,
    createBackend: async (o) => {
      if (o.label.startsWith('digits/')) return new CrashableBackend([8, 8, 1]);
      if (gate) await gate;
      if (failNext) throw new Error(failNext);
      const b = new CrashableBackend([2]);
      made.push(b);
      return b;
    },
  });
  const settle = async (done: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(done(), 'settled in time');
  };
  let release: () => void = () => {};
  try {
    const v1 = engine.registry.get('ring')!;
    // A folder added meanwhile is not loaded by the crash's reload: only the next scan loads it.
    await exportDigits(join(fx.root, 'staging'));
    renameSync(join(fx.root, 'staging'), join(fx.models, 'digits'));

    // One session stops; its reload is held. Then the other stops too, and the held reload fails.
    gate = new Promise((r) => (release = r));
    made[0].crash();
    assert.equal(engine.registry.entry('ring')!.state, 'ready', 'the other session keeps serving');
    made[1].crash();
    const entry = engine.registry.entry('ring')!;
    assert.deepEqual([entry.state, entry.reason], ['loading', 'session stopped: worker exited (code 1)']);
    failNext = 'out of device memory';
    gate = null;
    release();
    await settle(() => engine.registry.entry('ring')!.state !== 'loading');
    assert.deepEqual([entry.state, entry.reason, entry.reloadError, entry.model], ['failed', 'out of device memory', null, null]);
    assert.equal(engine.registry.entry('digits'), undefined, 'no other folder was scanned');
    assert.deepEqual([made[0].closed, made[1].closed], [1, 1], 'the stopped version was closed once');

    // The next scan loads digits; ring's files did not change, so it stays failed until they do.
    failNext = null;
    await engine.registry.scan();
    assert.ok(engine.registry.get('digits'));
    assert.equal(engine.registry.entry('ring')!.state, 'failed');
    assert.equal(made.length, 2, 'one reload was tried for the two stopped sessions: both were lost before it could finish');

    // ring's files change: while they load, the old failure is not given as the reason; then it serves.
    gate = new Promise((r) => (release = r));
    const manifest = join(fx.models, 'ring', 'manifest.json');
    await new Promise((r) => setTimeout(r, 5));
    writeFileSync(manifest, readFileSync(manifest)); // a new mtime
    const scanning = engine.registry.scan();
    await settle(() => engine.registry.entry('ring')!.state === 'loading');
    assert.equal(engine.registry.entry('ring')!.reason, null);
    gate = null;
    release();
    await scanning;
    assert.equal(engine.registry.entry('ring')!.state, 'ready');
    assert.notEqual(v1, null);
  } finally {
    gate = null;
    release(); // a held load must not keep close() waiting when an assertion failed
    await engine.close();
    fx.cleanup();
  }
});
