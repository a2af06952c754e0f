/**
 * The browser side of the server (src/serve/http/routes-web.ts): the page at `/` with cross-origin
 * isolation and its CSP, its files, the model list and model files with strong ETags, the API key
 * on model files but not on the page, and a clear 503 while the page is not built; model files
 * name their version and can be asked for by it, and the wganx/web module, run here in Node against
 * a listening server, fetches one version when a hot reload lands between its two downloads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
// @ts-expect-error -- a plain .mjs build script without type declarations
import { buildWeb, ORT_FILES } from '../../scripts/build-web.mjs';
import { ORT_WEB_FILES } from '../../src/runtime/web-files.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { createApp } from '../../src/serve/http/app.js';
import { silentLogger } from '../../src/serve/options.js';
import { fetchModel } from '../../src/web/index.js';
import { exportRing, fixtureModels, testOptions } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** supertest body parser that keeps binary bodies as Buffers. */
const binary = (res: any, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

let fx: Awaited<ReturnType<typeof fixtureModels>>;
let engine: Engine;
let webDir: string;
before(async () => {
  fx = await fixtureModels(['ring', 'digits']);
  engine = await Engine.start(testOptions(fx.models), { logger: silentLogger });
  webDir = mkdtempSync(join(tmpdir(), 'wganx-webdir-'));
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>page</title>');
  writeFileSync(join(webDir, 'app.js'), 'console.log(1)');
  mkdirSync(join(webDir, 'models'));
  writeFileSync(join(webDir, 'models', 'index.json'), '["static-only"]');
});
after(async () => {
  await engine.close();
  fx.cleanup();
  rmSync(webDir, { recursive: true, force: true });
});

test('the page at / and its files are cross-origin isolated, with a CSP that keeps requests on the origin', async () => {
  const app = createApp(engine, { webDir });
  const page = await request(app).get('/').expect(200).expect('content-type', /html/);
  assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
  assert.match(page.headers['content-security-policy'], /default-src 'self'; script-src 'self' 'wasm-unsafe-eval'/);
  const js = await request(app).get('/app.js').expect(200).expect('content-type', /javascript/);
  assert.equal(js.headers['cross-origin-embedder-policy'], 'require-corp');
  assert.equal(js.text, 'console.log(1)');
  // No listing, no missing files, and the static copy's models/ is not what the server serves.
  await request(app).get('/nope.js').expect(404).expect('content-type', /json/);
  const index = await request(app).get('/models/index.json').expect(200);
  assert.deepEqual(index.body, ['digits', 'ring']);
  assert.ok(index.headers['x-wganx-server']);
  // Nor through an encoded path that the static files would decode into that folder.
  for (const path of ['/%6dodels/index.json', '/models%2Findex.json', '/./models/index.json', '//models/index.json']) {
    const res = await request(app).get(path);
    assert.ok(!String(res.text).includes('static-only'), `${path} served the static copy`);
  }
  // The page under its file name carries the same CSP.
  const html = await request(app).get('/index.html').expect(200);
  assert.equal(html.headers['content-security-policy'], page.headers['content-security-policy']);
  // The API docs stay at /docs.
  await request(app).get('/docs').expect(200).expect('content-type', /html/);
});

test('model files: the manifest and the ONNX file it names, with strong ETags and 304s; nothing else', async () => {
  const app = createApp(engine, { webDir });
  const manifest = await request(app).get('/models/ring/manifest.json').expect(200).expect('content-type', /json/);
  assert.equal(manifest.body.name, 'ring');
  await request(app).get('/models/ring/manifest.json').set('If-None-Match', manifest.headers.etag).expect(304);
  const onnx = await request(app).get('/models/ring/generator.onnx').buffer(true).parse((res, cb) => {
    const parts: Buffer[] = [];
    res.on('data', (c: Buffer) => parts.push(c));
    res.on('end', () => cb(null, Buffer.concat(parts)));
  }).expect(200);
  const onDisk = readFileSync(join(fx.models, 'ring', 'generator.onnx'));
  assert.ok(Buffer.compare(onnx.body as Buffer, onDisk) === 0);
  assert.equal(onnx.headers.etag, `"${createHash('sha256').update(onDisk).digest('hex')}"`);
  assert.equal(onnx.headers['cache-control'], 'no-cache');
  await request(app).get('/models/ring/generator.onnx').set('If-None-Match', onnx.headers.etag).expect(304);
  const other = await request(app).get('/models/ring/secret.txt').expect(404);
  assert.match(other.body.error, /has manifest.json and generator.onnx, not "secret.txt"/);
  await request(app).get('/models/nope/manifest.json').expect(404);
  await request(app).get('/models/..%2F..%2Fetc/passwd').expect(400);
});

test('with an API key the page and its files are public, the models are not; an unbuilt page answers 503 naming the fix', async () => {
  const keyed = await Engine.start(testOptions(fx.models, { apiKey: 'k' }), { logger: silentLogger });
  try {
    const app = createApp(keyed, { webDir });
    await request(app).get('/').expect(200);
    await request(app).get('/app.js').expect(200);
    await request(app).get('/models/index.json').expect(401);
    await request(app).get('/models/ring/generator.onnx').expect(401);
    await request(app).get('/models/ring/manifest.json').set('Authorization', 'Bearer k').expect(200);
  } finally {
    await keyed.close();
  }
  const unbuilt = createApp(engine, { webDir: join(webDir, 'missing') });
  const res = await request(unbuilt).get('/').expect(503);
  assert.match(res.body.error, /the browser page is not built .*run npm run build; the API docs are at \/docs/);
});

test('--default-model comes first in the page\'s model list and on /docs; a name that is no model folder changes nothing', async () => {
  const withDefault = await Engine.start(testOptions(fx.models, { defaultModel: 'ring' }), { logger: silentLogger });
  const unknown = await Engine.start(testOptions(fx.models, { defaultModel: 'nope' }), { logger: silentLogger });
  try {
    const app = createApp(withDefault, { webDir });
    assert.deepEqual((await request(app).get('/models/index.json').expect(200)).body, ['ring', 'digits']);
    const docs = (await request(app).get('/docs').expect(200)).text;
    assert.ok(docs.indexOf('/v1/models/ring/samples.png') >= 0 && docs.indexOf('/v1/models/ring/samples.png') < docs.indexOf('/v1/models/digits/samples.png'), 'ring first on /docs');
    // The API's own listing stays by name.
    assert.deepEqual((await request(app).get('/v1/models').expect(200)).body.models.map((m: { name: string }) => m.name), ['digits', 'ring']);
    assert.deepEqual((await request(createApp(unknown, { webDir })).get('/models/index.json').expect(200)).body, ['digits', 'ring']);
  } finally {
    await withDefault.close();
    await unknown.close();
  }
});

test("onnxruntime-web's WebAssembly files come from the installed package, isolated like the page; its other files do not", async () => {
  const app = createApp(engine, { webDir });
  const ortDir = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
  assert.deepEqual([...ORT_WEB_FILES], ORT_FILES, 'the server hands out what the static copy copies');
  for (const file of ORT_WEB_FILES) {
    const res = await request(app).get(`/${file}`).buffer(true).parse(binary).expect(200);
    assert.equal(res.headers['cross-origin-embedder-policy'], 'require-corp', file);
    assert.match(res.headers['content-type'], file.endsWith('.wasm') ? /application\/wasm/ : /javascript/, file);
    assert.ok((res.body as Buffer).equals(readFileSync(join(ortDir, file))), `${file}: the installed package's bytes`);
  }
  for (const other of ['/ort.min.js', '/ort.min.js.map', '/ort-wasm-simd-threaded.jspi.wasm', '/package.json']) await request(app).get(other).expect(404);
});

test('npm run build writes the page alone into dist/web (no onnxruntime-web files, models or source map); --static adds what a static host needs', async () => {
  const out = mkdtempSync(join(tmpdir(), 'wganx-build-web-'));
  try {
    // What an earlier build left there goes.
    for (const f of ['app.js.map', ...ORT_FILES]) writeFileSync(join(out, f), 'old');
    mkdirSync(join(out, 'models', 'ring'), { recursive: true });
    await buildWeb({ outDir: out });
    assert.deepEqual(readdirSync(out).sort(), ['app.js', 'index.html', 'style.css']);
    assert.doesNotMatch(readFileSync(join(out, 'app.js'), 'utf8'), /sourceMappingURL/);
    await buildWeb({ outDir: out, static: true, modelsDir: join(ROOT, 'models'), defaultModel: 'mnist-dcgan' });
    assert.deepEqual(readdirSync(out).sort(), ['app.js', 'index.html', 'models', ...ORT_FILES, 'style.css'].sort());
    assert.equal(JSON.parse(readFileSync(join(out, 'models', 'index.json'), 'utf8'))[0], 'mnist-dcgan');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Export ring version `version` beside the models and move its files into models/ring (how a deploy replaces a model). */
async function replaceRing(root: string, models: string, version: string): Promise<void> {
  const staging = join(root, `staging-${version}`);
  await exportRing(staging, version);
  for (const f of ['generator.onnx', 'manifest.json']) renameSync(join(staging, f), join(models, 'ring', f));
}

test('model files name their version; asked for by another version\'s sha256 they answer 409 with the loaded one; a malformed sha256 is a 400', async () => {
  const app = createApp(engine, { webDir });
  const loaded = sha256(readFileSync(join(fx.models, 'ring', 'generator.onnx')));
  const manifest = await request(app).get('/models/ring/manifest.json').expect(200);
  assert.equal(manifest.body.export.sha256, loaded);
  assert.equal(manifest.headers['x-wganx-sha256'], loaded);
  assert.equal(manifest.headers['x-wganx-model-version'], '1');
  const onnx = await request(app).get(`/models/ring/generator.onnx?sha256=${loaded}`).buffer(true).parse(binary).expect(200);
  assert.equal(sha256(onnx.body as Buffer), loaded);
  assert.equal(onnx.headers['x-wganx-sha256'], loaded);
  const other = 'ab'.repeat(32);
  for (const file of ['generator.onnx', 'manifest.json']) {
    const stale = await request(app).get(`/models/ring/${file}?sha256=${other}`).expect(409).expect('content-type', /json/);
    assert.deepEqual({ ...stale.body, error: undefined }, { error: undefined, model: 'ring', version: '1', sha256: loaded });
    assert.match(stale.body.error, /^model "ring" is now version "1" \(sha256 [0-9a-f]{12}…\), not sha256 abababababab…: fetch manifest\.json again$/);
  }
  for (const bad of ['?sha256=AB', `?sha256=${loaded.toUpperCase()}`, `?sha256=${loaded}&sha256=${loaded}`, '?sha256=']) {
    const res = await request(app).get(`/models/ring/generator.onnx${bad}`).expect(400);
    assert.equal(res.body.field, 'sha256', bad);
  }
});

test('while a replacement rewrites the folder, the ONNX file served is still the loaded version (never a 503, never the new bytes)', async () => {
  const own = await fixtureModels(['ring']);
  const served = await Engine.start(testOptions(own.models), { logger: silentLogger });
  try {
    const app = createApp(served, { webDir });
    const loaded = sha256(readFileSync(join(own.models, 'ring', 'generator.onnx')));
    // The new files are in place, the registry has not loaded them yet.
    await replaceRing(own.root, own.models, '2');
    const onnx = await request(app).get('/models/ring/generator.onnx').buffer(true).parse(binary).expect(200);
    assert.equal(sha256(onnx.body as Buffer), loaded);
    assert.equal(onnx.headers['x-wganx-sha256'], loaded);
    assert.equal((await request(app).get('/models/ring/manifest.json').expect(200)).body.version, '1');
    // A folder whose ONNX file is gone or unreadable: the same.
    rmSync(join(own.models, 'ring', 'generator.onnx'));
    assert.equal(sha256((await request(app).get('/models/ring/generator.onnx').buffer(true).parse(binary).expect(200)).body as Buffer), loaded);
  } finally {
    await served.close();
    own.cleanup();
  }
});

test('wganx/web fetches one version when a hot reload lands between the manifest and the ONNX file', async () => {
  const own = await fixtureModels(['ring']);
  const served = await Engine.start(testOptions(own.models), { logger: silentLogger });
  const server = createApp(served, { webDir }).listen(0, '127.0.0.1');
  try {
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/ring/`;
    const asked: string[] = [];
    let reloaded = false;
    // The browser's fetch, with the reload done after the first manifest arrives and before the ONNX file is asked for.
    const fetcher = (async (url: string | URL) => {
      const res = await fetch(url);
      asked.push(`${new URL(String(url)).pathname.split('/').pop()} ${res.status}`);
      if (!reloaded) {
        reloaded = true;
        await replaceRing(own.root, own.models, '2');
        await served.registry.scan();
      }
      return res;
    }) as typeof fetch;
    const got = await fetchModel(base, { fetch: fetcher });
    assert.equal(got.manifest.version, '2');
    assert.equal(sha256(got.bytes), got.manifest.export.sha256);
    assert.equal(got.manifest.export.sha256, sha256(readFileSync(join(own.models, 'ring', 'generator.onnx'))));
    // The first ONNX request named version 1 and was refused; the second pair is version 2's.
    assert.deepEqual(asked, ['manifest.json 200', 'generator.onnx 409', 'manifest.json 200', 'generator.onnx 200']);
  } finally {
    server.close();
    await served.close();
    own.cleanup();
  }
});
