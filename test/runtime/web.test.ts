/**
 * The browser runtime (src/runtime/web.ts) on onnxruntime-web's WASM build, run here in Node with a
 * fetch stub in place of a server: the thread count is fixed at the first session of a page (a later
 * different request is refused, naming the count), and an ONNX file that does not match its
 * manifest's sha256 is refused, and the pair's download is retried a bounded number of times (a
 * server answering 503 + Retry-After for ever makes it fail, saying so, after `tries`).
 * test/web/page.test.ts covers the same module in Chromium; test/serve/web-routes.test.ts runs it
 * against a server that reloads the model between the two downloads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { fetchModel, FETCH_TRIES, openWebSession, wasmStarted, wasmThreads } from '../../src/runtime/web.js';

const MODELS = fileURLToPath(new URL('../../models', import.meta.url));

/** `fetch` answering `<anything>/<model>/<file>` from models/<model>/<file> (a query ignored, as static hosts do), optionally with other bytes for the ONNX file. */
function stub(onnx?: Uint8Array): typeof fetch {
  return (async (url: string | URL) => {
    const [model, file] = String(url).split('?')[0].split('/').slice(-2);
    const bytes = file.endsWith('.onnx') && onnx ? onnx : await readFile(join(MODELS, model, file));
    return new Response(new Uint8Array(bytes), { status: 200 });
  }) as typeof fetch;
}

test('the WASM thread count is the one the first session started with; a different later request is refused naming it', async () => {
  assert.equal(wasmStarted(), false);
  const first = await openWebSession('http://host/models/ring/', { device: 'wasm', threads: 1, fetch: stub() });
  try {
    assert.equal(first.choice.device, 'wasm');
    assert.deepEqual(first.choice.providers, ['wasm']);
    assert.equal(wasmStarted(), true);
    assert.equal(wasmThreads(), 1);
    await assert.rejects(openWebSession('http://host/models/ring/', { device: 'wasm', threads: 2, fetch: stub() }), (err: unknown) => err instanceof InvalidArgumentError && err.field === 'threads' && /expected 1, the count onnxruntime-web started with/.test(err.message));
    const again = await openWebSession('http://host/models/ring/', { device: 'wasm', threads: 1, fetch: stub() });
    await again.session.release();
  } finally {
    await first.session.release();
  }
});

test('an ONNX file that does not match the manifest is refused before a session is made', async () => {
  const bytes = new Uint8Array(await readFile(join(MODELS, 'ring', 'generator.onnx')));
  bytes[bytes.length - 1] ^= 1;
  await assert.rejects(openWebSession('http://host/models/ring/', { device: 'wasm', fetch: stub(bytes) }), /has sha256 .*, manifest\.json says .* \(file replaced or damaged\)/);
});

/** An HTTP server answering every request with `status`, `headers` and wganx serve's JSON error body; counts the requests. */
async function alwaysAnswering(status: number, headers: Record<string, string>): Promise<{ url: string; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify({ error: 'model "ring" is loading', model: 'ring', state: 'loading' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/ring/`, requests, server };
}

test('a server that answers 503 + Retry-After every time: the download fails after `tries` requests, saying why', async () => {
  const srv = await alwaysAnswering(503, { 'Retry-After': '0' });
  try {
    await assert.rejects(fetchModel(srv.url, { tries: 3 }), (err: Error) => {
      assert.match(err.message, /^cannot fetch a matching manifest\.json and ONNX file from http:\/\/127\.0\.0\.1:\d+\/models\/ring\/ in 3 tries \(the model was being replaced or loaded meanwhile\); the last: the manifest: HTTP 503 model "ring" is loading$/);
      return true;
    });
    assert.deepEqual(srv.requests, ['/models/ring/manifest.json', '/models/ring/manifest.json', '/models/ring/manifest.json']);
    srv.requests.length = 0;
    await assert.rejects(fetchModel(srv.url), new RegExp(`in ${FETCH_TRIES} tries`));
    assert.equal(srv.requests.length, FETCH_TRIES);
  } finally {
    srv.server.close();
  }
});

test('a 503 without Retry-After, or another error status, fails at the first request; tries outside 1..100 is refused', async () => {
  for (const [status, headers] of [[503, {}], [404, {}], [500, { 'Retry-After': '0' }]] as const) {
    const srv = await alwaysAnswering(status, headers);
    try {
      await assert.rejects(fetchModel(srv.url), new RegExp(`: cannot fetch the manifest from ${srv.url}manifest\\.json: HTTP ${status} `));
      assert.equal(srv.requests.length, 1, `HTTP ${status} was retried`);
    } finally {
      srv.server.close();
    }
  }
  for (const tries of [0, 1.5, 101]) {
    await assert.rejects(fetchModel('http://host/models/ring/', { tries, fetch: stub() }), (err: unknown) => err instanceof InvalidArgumentError && err.field === 'tries');
  }
});
