/**
 * bench:serve-large — is the event loop free while the server answers the largest requests it
 * accepts? Each request kind runs alone against an in-process server while a client pings
 * `GET /v2/health/live` back to back; printed per kind (medians over rounds): the large request's
 * time, the event loop's largest delay and p99 (perf_hooks, 1 ms resolution), and the slowest
 * ping against the slowest ping with the server idle. Target: loop delay p99 ≤ 20 ms (issue 4).
 *
 *   npm run bench:serve-large [-- --rounds 3 --model models/mnist-cgan]
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createApp } from '../src/serve/http/app.js';
import { createHttpServer } from '../src/serve/http/server.js';
import { Engine } from '../src/serve/engine/engine.js';
import { resolveServeOptions, silentLogger } from '../src/serve/options.js';
import { median } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    model: { type: 'string', default: 'models/mnist-cgan' },
  },
});
const ROUNDS = Number(args.rounds);
const name = args.model.split('/').filter(Boolean).pop()!;
const engine = await Engine.start(resolveServeOptions({ modelsDir: dirname(args.model), device: 'cpu', threads: 1, reloadIntervalMs: 0 }), { logger: silentLogger });
if (engine.entry(name)?.state !== 'ready') throw new Error(`model ${name} did not load: ${engine.entry(name)?.reason}`);
const model = engine.model(name);
const server = createHttpServer(createApp(engine));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** One request; resolves with the status and the body's size once the whole body has arrived. */
function send(method: string, path: string, body?: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode!, bytes }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Pings back to back until `done` settles; returns the slowest ping (ms). */
async function pingWhile(done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  let worst = 0;
  while (!finished) {
    const t = performance.now();
    await send('GET', '/v2/health/live');
    worst = Math.max(worst, performance.now() - t);
  }
  return worst;
}

const dim = model.manifest.latent.dim;
const label = model.io.label;
const MAX = engine.options.maxSamples;
/** A KServe request for MAX rows (zero latents, class 0): the JSON answer holds MAX·rowSize numbers. */
const inferBody = JSON.stringify({
  inputs: [
    { name: model.io.latent.name, shape: [MAX, dim], datatype: 'FP32', data: new Array(MAX * dim).fill(0) },
    ...(label ? [{ name: label.name, shape: [MAX, 1], datatype: label.dtype === 'int64' ? 'INT64' : 'INT32', data: new Array(MAX).fill(0) }] : []),
  ],
});
const kinds: [string, string, string, string?][] = [
  [`samples n=${MAX} json (one PNG each)`, 'POST', `/v1/models/${name}/samples`, JSON.stringify({ n: MAX, seed: 1, format: 'json' })],
  [`samples n=${MAX} json scale 4`, 'POST', `/v1/models/${name}/samples`, JSON.stringify({ n: MAX, seed: 1, format: 'json', scale: 4 })],
  [`samples n=${MAX} png grid scale 4`, 'POST', `/v1/models/${name}/samples`, JSON.stringify({ n: MAX, seed: 1, format: 'png', scale: 4 })],
  [`samples n=${MAX} npy`, 'POST', `/v1/models/${name}/samples`, JSON.stringify({ n: MAX, seed: 1, format: 'npy' })],
  [`interpolate 64 steps gif scale 8`, 'POST', `/v1/models/${name}/interpolate`, JSON.stringify({ seedA: 1, seedB: 2, steps: 64, format: 'gif', scale: 8 })],
  [`KServe infer batch ${MAX}, JSON out`, 'POST', `/v2/models/${name}/infer`, inferBody],
];

const idle: number[] = [];
for (let i = 0; i < 200; i++) {
  const t = performance.now();
  await send('GET', '/v2/health/live');
  idle.push(performance.now() - t);
}
const idleWorst = Math.max(...idle.slice(20));
console.log(`model ${name}; ${ROUNDS} rounds; a ping with the server idle: median ${median(idle).toFixed(2)} ms, slowest ${idleWorst.toFixed(1)} ms\n`);
console.log('request                                  time ms   bytes      loop max ms   loop p99 ms   slowest ping ms');
let worstP99 = 0;
for (const [label, method, path, body] of kinds) {
  const rows: { ms: number; bytes: number; max: number; p99: number; ping: number }[] = [];
  await send(method, path, body); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const t = performance.now();
    const req = send(method, path, body);
    const ping = await pingWhile(req);
    const res = await req;
    const ms = performance.now() - t;
    loop.disable();
    if (res.status !== 200) throw new Error(`${label}: status ${res.status}`);
    rows.push({ ms, bytes: res.bytes, max: loop.max / 1e6, p99: loop.percentile(99) / 1e6, ping });
  }
  const m = (f: (x: (typeof rows)[number]) => number) => median(rows.map(f));
  worstP99 = Math.max(worstP99, m((x) => x.p99));
  console.log(`${label.padEnd(40)} ${m((x) => x.ms).toFixed(0).padStart(7)} ${String(m((x) => x.bytes)).padStart(10)} ${m((x) => x.max).toFixed(1).padStart(13)} ${m((x) => x.p99).toFixed(1).padStart(13)} ${m((x) => x.ping).toFixed(1).padStart(17)}`);
}
console.log(`\nworst median event-loop delay p99: ${worstP99.toFixed(1)} ms   target ≤ 20 ms → ${worstP99 <= 20 ? 'met' : 'MISSED'}`);
server.closeAllConnections();
server.close();
agent.destroy();
await engine.close();
