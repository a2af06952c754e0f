/**
 * What a model folder's files may show to clients: a manifest.json that is not JSON is named with
 * its problem, never its bytes (GET /v1/models is public); a manifest or ONNX file that is a link
 * to a file outside its folder is refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { Engine } from '../../src/serve/engine/engine.js';
import { createApp } from '../../src/serve/http/app.js';
import { silentLogger } from '../../src/serve/options.js';
import { fixtureModels, testOptions } from './fixtures.js';

let fx: Awaited<ReturnType<typeof fixtureModels>>;
let outside: string;
before(async () => {
  fx = await fixtureModels(['ring']);
  outside = mkdtempSync(join(tmpdir(), 'wganx-outside-'));
});
after(() => {
  fx.cleanup();
  rmSync(outside, { recursive: true, force: true });
});

test('GET /v1/models: a manifest.json that is not JSON never leaks its bytes; links to files outside the folder are refused', async () => {
  const models = join(fx.root, 'leaky');
  mkdirSync(models);
  cpSync(join(fx.models, 'ring'), join(models, 'ring'), { recursive: true });
  const secret = 'SECRET-d41d8cd98f00b204';
  // Not JSON, in the folder and through a link to a file elsewhere.
  mkdirSync(join(models, 'garbled'));
  writeFileSync(join(models, 'garbled', 'manifest.json'), `${secret} and more`);
  writeFileSync(join(outside, 'passwd'), `root:x:0:0:${secret}`);
  mkdirSync(join(models, 'linked'));
  symlinkSync(join(outside, 'passwd'), join(models, 'linked', 'manifest.json'));
  // A valid manifest, but linked from outside; and a linked ONNX file.
  cpSync(join(fx.models, 'ring'), join(outside, 'ring-copy'), { recursive: true });
  mkdirSync(join(models, 'ring2'));
  symlinkSync(join(outside, 'ring-copy', 'manifest.json'), join(models, 'ring2', 'manifest.json'));
  mkdirSync(join(models, 'ring3'));
  cpSync(join(fx.models, 'ring', 'manifest.json'), join(models, 'ring3', 'manifest.json'));
  symlinkSync(join(outside, 'ring-copy', 'generator.onnx'), join(models, 'ring3', 'generator.onnx'));
  // A link inside the folder is fine.
  mkdirSync(join(models, 'ring4'));
  cpSync(join(fx.models, 'ring', 'generator.onnx'), join(models, 'ring4', 'weights.onnx'));
  cpSync(join(fx.models, 'ring', 'manifest.json'), join(models, 'ring4', 'manifest.json'));
  symlinkSync('weights.onnx', join(models, 'ring4', 'generator.onnx'));

  const engine = await Engine.start(testOptions(models), { logger: silentLogger });
  try {
    const body = (await request(createApp(engine)).get('/v1/models').expect(200)).body as { models: { name: string; state: string; reason: string | null }[] };
    const by = Object.fromEntries(body.models.map((m) => [m.name, m]));
    assert.doesNotMatch(JSON.stringify(body), /SECRET|root:x/);
    assert.equal(by.garbled.state, 'failed');
    assert.match(by.garbled.reason!, /manifest\.json is not valid JSON \(32 bytes\)/);
    assert.equal(by.linked.state, 'failed');
    assert.match(by.linked.reason!, /manifest\.json is a link to a file outside the model folder/);
    assert.equal(by.ring2.state, 'failed');
    assert.match(by.ring2.reason!, /manifest\.json is a link to a file outside the model folder/);
    assert.equal(by.ring3.state, 'failed');
    assert.match(by.ring3.reason!, /generator\.onnx is a link to a file outside the model folder/);
    assert.equal(by.ring4.state, 'ready', by.ring4.reason ?? '');
    assert.equal(by.ring.state, 'ready');
  } finally {
    await engine.close();
  }
});
