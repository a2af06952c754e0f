/**
 * The browser runtime (src/runtime/web.ts) on onnxruntime-web's WASM build, run here in Node with a
 * fetch stub in place of a server: the thread count is fixed at the first session of a page (a later
 * different request is refused, naming the count), and an ONNX file that does not match its
 * manifest's sha256 is refused. test/web/page.test.ts covers the same module in Chromium.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { openWebSession, wasmStarted, wasmThreads } from '../../src/runtime/web.js';

const MODELS = fileURLToPath(new URL('../../models', import.meta.url));

/** `fetch` answering `<anything>/<model>/<file>` from models/<model>/<file>, optionally with other bytes for the ONNX file. */
function stub(onnx?: Uint8Array): typeof fetch {
  return (async (url: string | URL) => {
    const [model, file] = String(url).split('/').slice(-2);
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
