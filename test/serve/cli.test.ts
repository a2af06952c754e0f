/**
 * The real `wganx serve` process: SIGTERM with requests in flight, explicit devices that are
 * unavailable, and the WebGPU provider through SwiftShader (Chromium's software Vulkan) against CPU.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureModels } from './fixtures.js';
import { assertClose, reference } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];
const CHROMIUM_LIBS = '/usr/lib/chromium';
const SWIFTSHADER_ICD = join(CHROMIUM_LIBS, 'vk_swiftshader_icd.json');

let fx: Awaited<ReturnType<typeof fixtureModels>>;
before(async () => {
  fx = await fixtureModels(['ring', 'pets']);
});
after(() => fx.cleanup());

interface Served {
  child: ChildProcess;
  base: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** Start `wganx serve` on a free port and wait for its "listening" line. */
async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = spawn(process.execPath, [...CLI, 'serve', '--models', fx.models, '--port', '0', '--host', '127.0.0.1', '--threads', '1', '--reload-interval', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stdout!.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const base = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = err.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m) resolve(m[1]);
    });
    void exit.then((code) => reject(new Error(`wganx serve exited with ${code} before listening:\n${err}`)));
  });
  return { child, base, stderr: () => err, exit };
}

const postJson = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('SIGTERM: requests in flight complete, new ones are refused, exit code 0', async () => {
  // A 60 s queue delay keeps the requests waiting in the queue until the drain starts them.
  const s = await serve(['--device', 'cpu', '--max-queue-delay-ms', '60000', '--max-batch', '64', '--drain-timeout', '30000']);
  const pending = [1, 2, 3].map((seed) => postJson(`${s.base}/v1/models/ring/samples`, { n: 1, seed, format: 'json' }));
  for (;;) {
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    if (/wganx_queue_length\{model="ring"\} 3/.test(metrics)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  s.child.kill('SIGTERM');
  const responses = await Promise.all(pending);
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
  const bodies = await Promise.all(responses.map((r) => r.json()));
  assert.deepEqual(bodies.map((b) => b.seed), [1, 2, 3]);
  assert.equal(await s.exit, 0);
  assert.match(s.stderr(), /SIGTERM received/);
  assert.match(s.stderr(), /drained; bye/);
  await assert.rejects(fetch(`${s.base}/v2/health/live`), 'nothing listens any more');
});

test('the API key comes from WGANX_API_KEY when --api-key is not given', async () => {
  const s = await serve(['--device', 'cpu'], { WGANX_API_KEY: 'from-env' });
  try {
    assert.equal((await fetch(`${s.base}/v1/models`)).status, 401);
    assert.equal((await fetch(`${s.base}/v1/models`, { headers: { authorization: 'Bearer from-env' } })).status, 200);
    assert.equal((await fetch(`${s.base}/v2/health/live`)).status, 200);
  } finally {
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0);
  }
});

/** onnxruntime-node's CUDA provider library: where it is installed, `--device cuda` does not fail. */
const CUDA_LIB = spawnSync(process.execPath, ['-e', "const p=require('path');process.stdout.write(p.join(p.dirname(require.resolve('onnxruntime-node/package.json')),'bin/napi-v6',process.platform,process.arch,'libonnxruntime_providers_cuda.so'))"], { cwd: ROOT, encoding: 'utf8' }).stdout;

test('--device cuda without the CUDA provider fails with one clear line and exit code 1', { skip: existsSync(CUDA_LIB) ? `the CUDA provider is installed here (${CUDA_LIB}): --device cuda is usable, so it cannot fail` : false }, () => {
  const r = spawnSync(process.execPath, [...CLI, 'serve', '--models', fx.models, '--port', '0', '--device', 'cuda'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('wganx: '));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^wganx: --device cuda is unavailable: onnxruntime-node's CUDA provider library is not installed/);
});

test('an unknown device and a missing models folder fail with a clear line', () => {
  const bad = spawnSync(process.execPath, [...CLI, 'serve', '--models', fx.models, '--device', 'tpu'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /tpu/);
  const missing = spawnSync(process.execPath, [...CLI, 'serve', '--models', join(fx.root, 'nope'), '--device', 'cpu'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--models: ".*nope" is not allowed; expected an existing folder/);
});

/** The float32 payload of a .npy response. */
function npyFloats(body: ArrayBuffer): Float32Array {
  const buf = Buffer.from(body);
  const headerLen = buf.readUInt16LE(8);
  return new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + headerLen, buf.byteOffset + buf.length));
}

test('WebGPU provider through SwiftShader gives the CPU provider outputs within 1e-3', async () => {
  assert.ok(existsSync(SWIFTSHADER_ICD), `${SWIFTSHADER_ICD} is missing: install Debian's chromium package (.ci/run does)`);
  const env = { LD_LIBRARY_PATH: CHROMIUM_LIBS, VK_ICD_FILENAMES: SWIFTSHADER_ICD };
  // --max-batch 16: the larger requests below split into full batches that queue behind each other.
  const s = await serve(['--device', 'webgpu', '--max-batch', '16'], env);
  try {
    const models = await (await fetch(`${s.base}/v1/models`)).json();
    assert.equal(models.device.device, 'webgpu');
    assert.deepEqual(models.device.providers, ['webgpu', 'cpu']);
    assert.ok(models.models.every((m: { ready: boolean }) => m.ready), JSON.stringify(models.models.map((m: { reason: string }) => m.reason)));
    // Seeded samples: same latents as the CPU reference.
    const ring = await (await postJson(`${s.base}/v1/models/ring/samples`, { n: 16, seed: 4, format: 'json' })).json();
    assertClose(ring.samples.flatMap((x: { point: number[] }) => x.point), await reference(join(fx.models, 'ring'), 4, 0, 16), 1e-3, 'ring on webgpu vs cpu');
    const labels = [0, 1, 2, 1, 0, 2, 2, 1];
    const pets = await postJson(`${s.base}/v1/models/pets/samples`, { n: 8, seed: 9, format: 'npy', labels });
    assert.equal(pets.status, 200);
    assertClose(npyFloats(await pets.arrayBuffer()), await reference(join(fx.models, 'pets'), 9, 0, 8, labels), 1e-3, 'pets on webgpu vs cpu');
    // Both models at once, several requests each: a session's batches pipeline in its worker while
    // the two sessions take turns on the shared device; every answer still matches the CPU's.
    const seeds = [11, 12, 13, 14];
    const [rings, petsAll] = await Promise.all([
      Promise.all(seeds.map(async (seed) => (await postJson(`${s.base}/v1/models/ring/samples`, { n: 40, seed, format: 'json' })).json())),
      Promise.all(seeds.map(async (seed) => npyFloats(await (await postJson(`${s.base}/v1/models/pets/samples`, { n: 24, seed, format: 'npy', labels: [...labels, ...labels, ...labels] })).arrayBuffer()))),
    ]);
    for (const [i, seed] of seeds.entries()) {
      assertClose(rings[i].samples.flatMap((x: { point: number[] }) => x.point), await reference(join(fx.models, 'ring'), seed, 0, 40), 1e-3, `concurrent ring seed ${seed}`);
      assertClose(petsAll[i], await reference(join(fx.models, 'pets'), seed, 0, 24, [...labels, ...labels, ...labels]), 1e-3, `concurrent pets seed ${seed}`);
    }
  } finally {
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0);
  }
  // auto does not pick a software adapter, and says why.
  const a = await serve(['--device', 'auto'], env);
  try {
    const models = await (await fetch(`${a.base}/v1/models`)).json();
    assert.equal(models.device.device, 'cpu');
    assert.match(models.device.refused.find((r: { device: string }) => r.device === 'webgpu').reason, /SwiftShader/);
    assert.match(a.stderr(), /device webgpu refused: .*SwiftShader/);
  } finally {
    a.child.kill('SIGTERM');
    assert.equal(await a.exit, 0);
  }
});
