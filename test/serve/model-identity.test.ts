/**
 * What a response says about the model that made it, and how a query string names a class: every
 * sampling route (samples, samples.png, interpolate, KServe infer) carries `X-Wganx-Model-Version`
 * and `X-Wganx-Sha256`, samples.png its seed too; `?class=2` is the class named "2" when the model
 * has one (class folders named by numbers sort as text), else index 2.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { Express } from 'express';
import { exportModel } from '../../src/export/index.js';
import { createApp } from '../../src/serve/http/app.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { silentLogger } from '../../src/serve/options.js';
import { petsGenerator, testOptions } from './fixtures.js';
import { binaryInfer } from './helpers.js';

// Class folders 0, 1, 2 of a data set laid out as text sorts them: "1", "2", "0" is not the order,
// but any order where a name is another class's index shows the rule.
const LABELS = ['1', '2', '0'];
let dir: string;
let engine: Engine;
let app: Express;
let sha: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wganx-identity-'));
  await exportModel(petsGenerator(), join(dir, 'numbered'), { name: 'numbered', labels: LABELS, version: '7' });
  engine = await Engine.start(testOptions(dir), { logger: silentLogger });
  app = createApp(engine);
  sha = (await request(app).get('/v1/models/numbered').expect(200)).body.sha256;
});

after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const binary = (res: any, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

function assertIdentity(res: request.Response, what: string): void {
  assert.equal(res.headers['x-wganx-model-version'], '7', what);
  assert.equal(res.headers['x-wganx-sha256'], sha, what);
}

test('every sampling route names the model version and file that answered; samples.png its seed (0 when none is given)', async () => {
  assert.match(sha, /^[0-9a-f]{64}$/);
  const samples = await request(app).post('/v1/models/numbered/samples').send({ n: 2, seed: 4, format: 'npy' }).buffer(true).parse(binary).expect(200);
  assertIdentity(samples, 'samples');
  const png = await request(app).get('/v1/models/numbered/samples.png?n=2').expect(200);
  assertIdentity(png, 'samples.png');
  assert.equal(png.headers['x-wganx-seed'], '0');
  const walk = await request(app).post('/v1/models/numbered/interpolate').send({ seedA: 1, seedB: 2, steps: 3 }).expect(200);
  assertIdentity(walk, 'interpolate');
  const { body, headerLength } = binaryInfer({ inputs: [{ name: 'z', shape: [1, 4], datatype: 'FP32', data: [0, 0, 0, 0] }, { name: 'label', shape: [1, 1], datatype: 'INT64', data: [0] }] });
  const infer = await request(app).post('/v2/models/numbered/infer').set('content-type', 'application/octet-stream').set('inference-header-content-length', String(headerLength)).send(body).expect(200);
  assertIdentity(infer, 'infer');
});

test('a query string class is the class of that name when the model has one, else digits are an index; a JSON body says which it means', async () => {
  const get = (q: string) => request(app).get(`/v1/models/numbered/samples.png?n=2&seed=3&${q}`).buffer(true).parse(binary).expect(200);
  const post = (cls: number | string) => request(app).post('/v1/models/numbered/samples').send({ n: 2, seed: 3, format: 'png', class: cls }).buffer(true).parse(binary).expect(200);
  // "2" names class 1; "0" names class 2; POST says it with a number or a string.
  assert.deepEqual((await get('class=2')).body, (await post(1)).body);
  assert.deepEqual((await get('class=2')).body, (await post('2')).body);
  assert.notDeepEqual((await get('class=2')).body, (await post(2)).body);
  assert.deepEqual((await get('class=0')).body, (await post(2)).body);
  // Digits that name no class are an index: 3 is out of range, and the error lists indices and names.
  const bad = await request(app).get('/v1/models/numbered/samples.png?n=2&class=3').expect(400);
  assert.match(bad.body.error, /query\.class: 3 is not allowed; expected a class index from 0 to 2 or one of the names "1", "2", "0"/);
  // A negative index in a body is the model's range error, not the schema's.
  const negative = await request(app).post('/v1/models/numbered/samples').send({ n: 2, class: -1 }).expect(400);
  assert.match(negative.body.error, /body\.class: -1 is not allowed; expected a class index from 0 to 2 or one of the names/);
});
