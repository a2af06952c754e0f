/**
 * A body over --max-body-bytes gets its 413 in every client: the server reads (and drops) the
 * rest of the body before it closes, so clients that send the whole body before reading (Python's
 * urllib, Node's fetch) read the answer instead of a broken pipe.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startServer } from '../../src/serve/http/server.js';
import { silentLogger } from '../../src/serve/options.js';
import { fixtureModels, testOptions } from './fixtures.js';

let fx: Awaited<ReturnType<typeof fixtureModels>>;
before(async () => {
  fx = await fixtureModels(['ring']);
});
after(() => fx.cleanup());

const LIMIT = 64 * 1024;
const BODY = 8 * 1024 * 1024; // far past the socket buffers: the client is still sending when the 413 is written

/** Python's urllib posting BODY bytes `times` times; prints the status and the error of each. */
const URLLIB = `
import json, sys, urllib.request, urllib.error
url, size, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = []
for _ in range(times):
    req = urllib.request.Request(url, data=b'{' + b' ' * (size - 2) + b'}', headers={'Content-Type': 'application/json'})
    try:
        urllib.request.urlopen(req, timeout=60)
        out.append(['no error'])
    except urllib.error.HTTPError as e:
        out.append([e.code, json.loads(e.read())['error']])
    except Exception as e:
        out.append(['failed', repr(e)])
print(json.dumps(out))`;

test('a body over --max-body-bytes: Python urllib and Node fetch read the 413 (a JSON error), every time, on /v1 and /v2', async () => {
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1', maxBodyBytes: LIMIT }), { logger: silentLogger });
  try {
    for (const path of ['/v1/models/ring/samples', '/v2/models/ring/infer']) {
      const py = await new Promise<string>((resolve, reject) => execFile('/usr/bin/python3', ['-c', URLLIB, `${srv.url}${path}`, String(BODY), '8'], { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
      const tooLarge = `request body is larger than the limit of ${LIMIT} bytes`;
      assert.deepEqual(JSON.parse(py), Array.from({ length: 8 }, () => [413, tooLarge]), `urllib on ${path}`);
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(BODY, 32) });
        assert.equal(res.status, 413, `fetch on ${path}`);
        assert.equal(((await res.json()) as { error: string }).error, tooLarge);
      }
    }
    // The server still serves.
    const ok = await fetch(`${srv.url}/v1/models/ring/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1,"format":"json"}' });
    assert.equal(ok.status, 200);
  } finally {
    await srv.shutdown();
  }
});
