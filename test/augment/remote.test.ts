/**
 * `wganx augment --remote` (src/augment/remote.ts) against servers that fail: an answer cut off
 * mid-body is retried like a connection error; a server that wants an API key gets it from
 * `--api-key` or `WGANX_API_KEY`; 401/403 are reported at once; a key is never printed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../src/serve/http/server.js';
import { silentLogger } from '../../src/serve/options.js';
import { openRemote } from '../../src/augment/remote.js';
import { generatorIO } from '../../src/runtime/generator.js';
import { exportPets, fixtureModels, testOptions } from '../serve/fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];
const KEY = 'k3y-s3cret-9f2';

let fx: Awaited<ReturnType<typeof fixtureModels>>;
let tmp: string;
before(async () => {
  fx = await fixtureModels(['pets']);
  tmp = mkdtempSync(join(tmpdir(), 'wganx-augment-remote-'));
});
after(() => {
  fx.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

/** The CLI as a user runs it (asynchronously: the servers below live in this process). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stderr: string }> {
  const base = { ...process.env };
  delete base.WGANX_API_KEY;
  const child = spawn(process.execPath, [...CLI, 'augment', ...args], { cwd: ROOT, env: { ...base, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((r) => child.on('exit', (status) => r({ status, stderr })));
}

const listen = (server: Server) => new Promise<string>((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

test('an answer cut off mid-body (the server dies while sending) is retried like a connection error: the same files as a run without faults', async () => {
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1' }), { logger: silentLogger });
  // A proxy that sends the first two answers of /infer only half-way, then drops the connection.
  let cut = 0;
  const proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k))) as Record<string, string>;
    const up = await fetch(`${srv.url}${req.url}`, { method: req.method, headers, body: body.length ? body : undefined });
    const bytes = Buffer.from(await up.arrayBuffer());
    const out: Record<string, string> = { 'content-length': String(bytes.length) };
    for (const [k, v] of up.headers) if (k !== 'content-length' && k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v;
    res.writeHead(up.status, out);
    if (req.url!.endsWith('/infer') && cut < 2) {
      cut++;
      res.write(bytes.subarray(0, bytes.length >> 1), () => res.socket!.destroy());
      return;
    }
    res.end(bytes);
  });
  const url = await listen(proxy);
  try {
    const args = ['--model', join(fx.models, 'pets'), '--per-class', '4', '--chunk', '6', '--format', 'npz', '--device', 'cpu'];
    const local = join(tmp, 'local');
    assert.equal((await cli([...args, '--out', local])).status, 0);
    const remote = join(tmp, 'cut');
    const r = await cli([...args, '--out', remote, '--remote', url]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(cut, 2);
    assert.match(r.stderr, /--remote: http:\/\/127\.0\.0\.1:\d+\/v2\/models\/pets\/versions\/1\/infer: the answer \(HTTP 200\) was cut off: terminated.*; retrying in 0\.3 s \(attempt 2 of 8\)/);
    for (const f of ['part-000000.npz', 'part-000001.npz', 'manifest.jsonl']) assert.ok(readFileSync(join(remote, f)).equals(readFileSync(join(local, f))), f);
  } finally {
    proxy.close();
    await srv.shutdown();
  }
});

test('a server that wants an API key: the key from --api-key or WGANX_API_KEY; 401 reported at once, with or without a wrong key; a key in the URL refused; the key never printed', async () => {
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1', apiKey: KEY }), { logger: silentLogger });
  try {
    const args = (out: string) => ['--model', 'pets', '--remote', srv.url, '--count', '6', '--chunk', '3', '--format', 'npz', '--out', join(tmp, out)];
    const none = await cli(args('no-key'));
    assert.equal(none.status, 1, none.stderr);
    assert.doesNotMatch(none.stderr, /retrying/);
    assert.equal(none.stderr.trim(), `wganx: --remote: ${srv.url}/v1/models/pets answered HTTP 401 (Unauthorized): it needs an API key: give it with --api-key or WGANX_API_KEY`);
    const wrong = await cli([...args('wrong-key'), '--api-key', 'not-the-k3y']);
    assert.equal(wrong.status, 1, wrong.stderr);
    assert.equal(wrong.stderr.trim(), `wganx: --remote: ${srv.url}/v1/models/pets answered HTTP 401 (Unauthorized): the API key given (--api-key or WGANX_API_KEY) was refused`);
    assert.doesNotMatch(wrong.stderr, /not-the-k3y/);

    const viaFlag = await cli([...args('flag'), '--api-key', KEY]);
    assert.equal(viaFlag.status, 0, viaFlag.stderr);
    const viaEnv = await cli(args('env'), { WGANX_API_KEY: KEY });
    assert.equal(viaEnv.status, 0, viaEnv.stderr);
    assert.ok(readFileSync(join(tmp, 'env', 'part-000001.npz')).equals(readFileSync(join(tmp, 'flag', 'part-000001.npz'))));
    for (const r of [viaFlag, viaEnv]) assert.doesNotMatch(r.stderr, new RegExp(KEY));
    assert.doesNotMatch(readFileSync(join(tmp, 'env', 'summary.json'), 'utf8'), new RegExp(KEY));

    // A key put in the URL: refused at once, without echoing it.
    const inUrl = srv.url.replace('http://', `http://user:${KEY}@`);
    const url = await cli(['--model', 'pets', '--remote', inUrl, '--count', '6', '--out', join(tmp, 'url-key'), '--format', 'npz']);
    assert.equal(url.status, 1, url.stderr);
    assert.match(url.stderr.trim(), /^wganx: --remote: "http:\/\/127\.0\.0\.1:\d+ with credentials \(not shown\)" is not allowed; expected an http\(s\) URL such as http:\/\/gpu-box:8080 without user:key@: give the key with --api-key or WGANX_API_KEY$/);
    const query = await cli(['--model', 'pets', '--remote', `${srv.url}/?api_key=${KEY}`, '--count', '6', '--out', join(tmp, 'query-key'), '--format', 'npz']);
    assert.equal(query.status, 1, query.stderr);
    for (const r of [url, query]) assert.doesNotMatch(r.stderr, new RegExp(KEY));
  } finally {
    await srv.shutdown();
  }
});

test('a model the server lacks: a wganx server is named with the models it serves; a server with no /v1/models is said to be no wganx server', async () => {
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1' }), { logger: silentLogger });
  // A KServe-only server: 404 for every path (no wganx model list).
  const bare = createServer((_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}'));
  const bareUrl = await listen(bare);
  try {
    const missing = await cli(['--model', 'cats', '--remote', srv.url, '--count', '6', '--format', 'npz', '--out', join(tmp, 'missing')]);
    assert.equal(missing.status, 1, missing.stderr);
    assert.equal(missing.stderr.trim(), `wganx: --model: "cats" is not allowed; expected a model folder, or one of the models ${srv.url} serves: pets (${srv.url} does not serve a model "cats")`);
    assert.doesNotMatch(missing.stderr, /publishes no manifest/);
    const plain = await cli(['--model', 'pets', '--remote', bareUrl, '--count', '6', '--format', 'npz', '--out', join(tmp, 'plain')]);
    assert.equal(plain.status, 1, plain.stderr);
    assert.equal(plain.stderr.trim(), `wganx: --model: "pets" is not allowed; expected a model folder holding manifest.json: ${bareUrl} publishes no manifest for "pets" (it is no wganx server, which would; give the folder for a plain KServe server)`);
  } finally {
    bare.close();
    await srv.shutdown();
  }
});

test('a model the server could not load: its reason is passed on', async () => {
  const broken = join(fx.models, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'manifest.json'), '{oops');
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1' }), { logger: silentLogger });
  try {
    const r = await cli(['--model', 'broken', '--remote', srv.url, '--count', '6', '--format', 'npz', '--out', join(tmp, 'broken')]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim(), new RegExp(`^wganx: --model: "broken" is not allowed; expected a model folder, or one of the models ${srv.url} serves: .*\\(${srv.url} could not load "broken": .*manifest\\.json.*\\)$`));
  } finally {
    await srv.shutdown();
    rmSync(broken, { recursive: true, force: true });
  }
});

test('a model replaced on the server during a run stops it, naming the change, instead of mixing two models in one data set', async () => {
  const models = join(tmp, 'hot-models');
  cpSync(join(fx.models, 'pets'), join(models, 'pets'), { recursive: true });
  const srv = await startServer(testOptions(models, { port: 0, host: '127.0.0.1' }), { logger: silentLogger });
  try {
    const batch = (source: Awaited<ReturnType<typeof openRemote>>) => {
      const dim = generatorIO(source.manifest).latent.dim;
      return source.run(new Float32Array(2 * dim).fill(0.5), Int32Array.from([0, 1]));
    };
    // The answer of another file under the same version (X-Wganx-Sha256 of wganx serve).
    let otherFile = false;
    const rewrite: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!otherFile || !String(input).endsWith('/infer')) return res;
      const headers = new Headers(res.headers);
      headers.set('x-wganx-sha256', 'f'.repeat(64));
      return new Response(await res.arrayBuffer(), { status: res.status, headers });
    };
    const source = await openRemote({ url: srv.url, model: 'pets', log: () => {}, fetch: rewrite });
    assert.equal((await batch(source)).data.length > 0, true);
    otherFile = true;
    await assert.rejects(batch(source), /--remote: http:\/\/127\.0\.0\.1:\d+ replaced "pets" during the run \(sha256 [0-9a-f]{12}… → ffffffffffff…\); the samples written so far are from the model the run started with/);

    // A new version deployed: the run's requests name version 1, which the server no longer has.
    const pinned = await openRemote({ url: srv.url, model: 'pets', log: () => {} });
    await batch(pinned);
    rmSync(join(models, 'pets'), { recursive: true });
    await exportPets(join(models, 'pets'), '2');
    await srv.engine.rescan();
    await assert.rejects(batch(pinned), /replaced "pets" during the run \(version "1" → \["2"\]\)/);
  } finally {
    await srv.shutdown();
  }
});
