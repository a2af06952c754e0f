/**
 * bench:serve — the serving engine and HTTP server on the DCGAN generator (latent 100 → 28×28×1,
 * random weights, exported with our exporter), measured side by side in one run:
 *
 * 1. engine samples/s at batch 64 (seeded requests of n = 64 through batcher + worker thread, two
 *    in flight as under load; one at a time is printed too) against a bare onnxruntime-node
 *    session on the same file, same thread count (target ratio ≥ 0.9: the median over short
 *    back-to-back pairs, as the machine's speed drifts); also the engine with its
 *    latents drawn the other way (a second thread ahead of the session, the default on GPUs, or
 *    in the session's thread, the default on the CPU), to show what that thread buys;
 * 2. HTTP load with autocannon (a child process, so that it does not share the server's event
 *    loop): batch-1 `format=json` sample requests at concurrency 1, 16 and 64, dynamic batching on
 *    (--max-batch 64) versus off (--max-batch 1): requests/s, p50/p99 latency, non-2xx count, and the
 *    server's event-loop delay p99 (perf_hooks.monitorEventLoopDelay) and busy time per request
 *    (performance.eventLoopUtilization: one thread parses and answers every request, so this caps
 *    requests/s once batching leaves the accelerator idle). Targets: on ≥ 5× off at
 *    concurrency 64, event-loop delay p99 ≤ 20 ms, zero non-2xx below the queue limit.
 *
 * Rounds interleave the contenders so that machine noise hits them alike; medians are printed.
 *
 * `--device` (default cpu) picks the execution provider of both the engine and the bare session
 * (auto as `wganx serve` does it: CUDA, then WebGPU, then CPU).
 *
 * `--stand-in` measures a GPU stand-in instead of the DCGAN (./flat-cost.ts): a 28×28 image
 * generator whose batch of 64 costs about what a batch of 1 costs, as a small GAN's batch does on a
 * GPU. On a CPU the DCGAN's cost grows with the batch, so its on/off ratio is capped by the model
 * (the "batching ceiling" printed); the stand-in's ceiling is 27–46× on a 2-core Xeon, so its ratio
 * measures the server. `--links` sets its fixed cost: the default 4 (~1.3 ms a run on a 2-core Xeon) puts the
 * batching-off server at the rate the DCGAN's batching-off server had on an H200 (515–785 req/s).
 *
 *   npm run bench:serve [-- --rounds 3 --duration 5 --engine-ms 2000 --threads 1 --model models/mnist-cgan --device cpu]
 *   npm run bench:serve -- --stand-in [--links 4]
 *   npm run bench:serve -- --peers [...]   (against PyTorch: ./serve-peers.ts)
 */
import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sampleLatents } from '../src/core/latent.js';
import { exportModel } from '../src/export/index.js';
import { createApp } from '../src/serve/http/app.js';
import { createHttpServer } from '../src/serve/http/server.js';
import { Engine } from '../src/serve/engine/engine.js';
import { SessionInstance } from '../src/serve/engine/instance.js';
import { readModelFolder } from '../src/runtime/model-folder.js';
import { createSession, Generator, runtimeVersion } from '../src/runtime/node.js';
import { resolveServeOptions, silentLogger, type DeviceRequest } from '../src/serve/options.js';
import { dcganGenerator, median } from './common.js';
import { writeFlatCostModel } from './flat-cost.js';

// `--peers`: wganx over HTTP against the bare session and PyTorch (./serve-peers.ts, its own flags).
if (process.argv.slice(2).includes('--peers')) {
  await import('./serve-peers.js');
  process.exit();
}

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    'engine-ms': { type: 'string', default: '2000' },
    model: { type: 'string' },
    threads: { type: 'string', default: '1' },
    device: { type: 'string', default: 'cpu' },
    'stand-in': { type: 'boolean', default: false },
    links: { type: 'string', default: '4' },
  },
});
if (args['stand-in'] && args.model) throw new Error('--stand-in and --model: give one of them');
const ROUNDS = Number(args.rounds);
const DURATION_S = Number(args.duration);
const ENGINE_MS = Number(args['engine-ms']);
/** ORT intra-op threads for the engine and the bare session alike (1: this 2-core box also runs autocannon). */
const THREADS = Number(args.threads);
const ENGINE_BATCH = 64;
/**
 * The headline engine/bare ratio comes from this many back-to-back pairs per round (bare then
 * engine, or engine then bare, alternately; ENGINE_MS / PAIRS each): a shared machine's speed drifts
 * within seconds (the bare session alone varied 36–50 k samples/s between rounds on an H200 box).
 */
const PAIRS = 4;
const CONCURRENCY = [1, 16, 64];
const AUTOCANNON = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'autocannon', 'autocannon.js');


/** Samples/s of `fn` (one batch per call) over about `ms`, after one warm-up call. */
async function rate(fn: () => Promise<unknown>, batch = ENGINE_BATCH, ms = ENGINE_MS): Promise<number> {
  await fn();
  let n = 0;
  const t0 = performance.now();
  do {
    await fn();
    n++;
  } while (performance.now() - t0 < ms || n < 3);
  return (n * batch) / ((performance.now() - t0) / 1000);
}

/** Samples/s with `depth` calls of `fn` always in flight (a server sees concurrent requests). */
async function rateInFlight(fn: () => Promise<unknown>, depth: number, ms = ENGINE_MS): Promise<number> {
  await Promise.all(Array.from({ length: depth }, fn));
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: depth }, async () => {
      while (performance.now() - t0 < ms) {
        await fn();
        n++;
      }
    }),
  );
  return (n * ENGINE_BATCH) / ((performance.now() - t0) / 1000);
}

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  loopP99: number;
  /** Event-loop busy time per request, µs: what caps requests/s when batching leaves the GPU idle. */
  loopUsPerReq: number;
}

/** autocannon in a child process against `url`; the server's event-loop delay is measured here. */
async function load(url: string, connections: number): Promise<LoadResult> {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const elu0 = performance.eventLoopUtilization();
  const body = JSON.stringify({ n: 1, format: 'json' });
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, '--json', '-c', String(connections), '-d', String(DURATION_S), '-m', 'POST', '-H', 'content-type=application/json', '-b', body, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.resume();
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`autocannon exited with ${code}`))));
  });
  loop.disable();
  const busyMs = performance.eventLoopUtilization(elu0).active;
  const r = JSON.parse(out);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts, loopP99: loop.percentile(99) / 1e6, loopUsPerReq: (busyMs * 1000) / Math.max(1, r.requests.total) };
}

async function listen(engine: Engine): Promise<{ url: string; server: http.Server }> {
  const server = createHttpServer(createApp(engine));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

// ── set-up ─────────────────────────────────────────────────────────────────────────────────────
await tf.setBackend('cpu');
const root = mkdtempSync(join(tmpdir(), 'wganx-bench-serve-'));
let modelsDir: string;
let name: string;
if (args.model) {
  modelsDir = dirname(args.model);
  name = args.model.split('/').filter(Boolean).pop()!;
} else if (args['stand-in']) {
  modelsDir = join(root, 'models');
  name = 'gpu-stand-in';
  await writeFlatCostModel(modelsDir, name, { links: Number(args.links) });
} else {
  modelsDir = join(root, 'models');
  name = 'dcgan';
  await exportModel(await dcganGenerator(), join(modelsDir, name), { name });
}
const common = { modelsDir, device: args.device as DeviceRequest /* validated by resolveServeOptions */, reloadIntervalMs: 0, threads: THREADS };
const on = await Engine.start(resolveServeOptions({ ...common, maxBatch: 64 }), { logger: silentLogger }); // the server's defaults
if (on.entry(name)?.state !== 'ready') throw new Error(`model ${name} did not load: ${on.entry(name)?.reason}`);
const model = on.model(name);
/** Where the batching engine runs the model (auto compares a GPU with the CPU per model). */
const modelDevice = model.device;
// Batching off runs on that same device: auto would choose again for batch 1 (often the CPU).
const off = await Engine.start(resolveServeOptions({ ...common, device: modelDevice.device, maxBatch: 1 }), { logger: silentLogger });
// The same engine with the other latent-drawing mode than its device's default (see instance.ts).
const latentThreadByDefault = modelDevice.providers.some((p) => p !== 'cpu');
const alt = await Engine.start(resolveServeOptions({ ...common, device: modelDevice.device, maxBatch: 64 }), {
  logger: silentLogger,
  createBackend: (o) => SessionInstance.create({ ...o, latentThread: !latentThreadByDefault }),
});
// The bare contender: the runtime's generator on this thread, without the engine: the engine's
// device and threads, idle threads asleep as in the engine's sessions.
const folder = await readModelFolder(join(modelsDir, name));
const bareSession = await createSession(folder.bytes, { providers: modelDevice.providers, threads: THREADS, spinning: false });
const bare = new Generator(folder.manifest, bareSession, { ...on.device, device: modelDevice.device, providers: modelDevice.providers });
const manifest = model.manifest;
const dim = manifest.latent.dim;
console.log(`bench:serve — model ${name}${args['stand-in'] ? ` (${manifest.description})` : ''} (latent ${dim} → [${model.rowShape.join('×')}]), ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), onnxruntime-node ${runtimeVersion()}, Node ${process.version}`);
console.log(`device ${modelDevice.device} (requested ${on.device.requested}; providers ${modelDevice.providers.join(', ')})${modelDevice.choice ? `; ${modelDevice.choice}` : ''}${on.device.refused.map((r) => `; ${r.device} refused: ${r.reason}`).join('')}`);
console.log(`${ROUNDS} interleaved rounds; engine ~${ENGINE_MS} ms per contender, HTTP ${DURATION_S} s per run; ${THREADS} intra-op thread(s)\n`);

// ── 1. engine vs bare session at batch 64 ─────────────────────────────────────────────────────
const engineRates: number[] = [];
const engineSeqRates: number[] = [];
const bareRates: number[] = [];
let seed = 1;
const z = sampleLatents({ seed: 0, start: 0, count: ENGINE_BATCH, dim });
/** Bare-session inputs for the first `rows` latents; a conditional model gets label 0, as the engine's default here. */
function bareFeeds(rows: number): { z: Float32Array; labels: Int32Array | null } {
  return { z: z.slice(0, rows * dim), labels: manifest.conditional ? new Int32Array(rows) : null };
}
const feeds = bareFeeds(ENGINE_BATCH);
const altModel = alt.model(name);
const engineAltRates: number[] = [];
/** The bare session drawing fresh latents before each run on the thread that runs it (here the bench's), as the engine's worker does. */
const bareFreshRates: number[] = [];
const freshFeeds = () => ({ ...feeds, z: sampleLatents({ seed: seed++, start: 0, count: ENGINE_BATCH, dim }) });
/** engine/bare of each back-to-back pair (see PAIRS). */
const pairRatios: number[] = [];
const submit = () => on.submit(model, { rows: ENGINE_BATCH, source: { kind: 'seeded', seed: seed++, start: 0 }, labels: null });
for (let r = 0; r < ROUNDS; r++) {
  const slices = { bare: [] as number[], engine: [] as number[] };
  for (let p = 0; p < PAIRS; p++) {
    const bareFirst = p % 2 === 0;
    const first = bareFirst ? await rate(() => bare.run(feeds.z, feeds.labels), ENGINE_BATCH, ENGINE_MS / PAIRS) : await rateInFlight(submit, 2, ENGINE_MS / PAIRS);
    const second = bareFirst ? await rateInFlight(submit, 2, ENGINE_MS / PAIRS) : await rate(() => bare.run(feeds.z, feeds.labels), ENGINE_BATCH, ENGINE_MS / PAIRS);
    const [b, e] = bareFirst ? [first, second] : [second, first];
    slices.bare.push(b);
    slices.engine.push(e);
    pairRatios.push(e / b);
  }
  bareRates.push(median(slices.bare));
  engineRates.push(median(slices.engine));
  bareFreshRates.push(
    await rate(() => {
      const f = freshFeeds();
      return bare.run(f.z, f.labels);
    }),
  );
  engineSeqRates.push(await rate(submit));
  engineAltRates.push(await rateInFlight(() => alt.submit(altModel, { rows: ENGINE_BATCH, source: { kind: 'seeded', seed: seed++, start: 0 }, labels: null }), 2));
}
const engineRatio = median(pairRatios);
// The most batching can give: the bare session's samples/s at batch 64 over batch 1.
const z1 = bareFeeds(1);
const bare1: number[] = [];
for (let r = 0; r < ROUNDS; r++) bare1.push(await rate(() => bare.run(z1.z, z1.labels), 1));
const ceiling = median(bareRates) / median(bare1);
console.log(`engine vs bare runtime session, batch ${ENGINE_BATCH} (samples/s):`);
console.log(`  bare    ${bareRates.map((x) => x.toFixed(0)).join(' ')}   median ${median(bareRates).toFixed(0)}   (per round: median of ${PAIRS} slices)`);
console.log(`  bare    ${bareFreshRates.map((x) => x.toFixed(0)).join(' ')}   median ${median(bareFreshRates).toFixed(0)}   (drawing fresh latents before each run, on the same thread)`);
console.log(`  engine  ${engineRates.map((x) => x.toFixed(0)).join(' ')}   median ${median(engineRates).toFixed(0)}   (2 requests of ${ENGINE_BATCH} in flight, as under load; per round: median of ${PAIRS} slices, each beside a bare one)`);
console.log(`  engine  ${engineSeqRates.map((x) => x.toFixed(0)).join(' ')}   median ${median(engineSeqRates).toFixed(0)}   (one request at a time: + a thread round trip per batch)`);
const ways = ['latents drawn in the session thread', 'latents drawn ahead on a second thread'];
console.log(`  engine  ${engineAltRates.map((x) => x.toFixed(0)).join(' ')}   median ${median(engineAltRates).toFixed(0)}   (2 in flight, ${ways[Number(!latentThreadByDefault)]}; the engine above: ${ways[Number(latentThreadByDefault)]})`);
const altRatio = median(engineAltRates.map((e, i) => e / engineRates[i]));
const seqRatio = median(engineSeqRates.map((e, i) => e / bareRates[i]));
const freshRatio = median(engineRates.map((e, i) => e / bareFreshRates[i]));
console.log(`  pairs engine/bare: ${pairRatios.map((x) => x.toFixed(2)).join(' ')}`);
console.log(`  ratio engine/bare (median of ${pairRatios.length} back-to-back pairs): ${engineRatio.toFixed(3)}   target ≥ 0.9 → ${engineRatio >= 0.9 ? 'met' : 'MISSED'}; one at a time: ${seqRatio.toFixed(3)}; engine/bare with fresh latents: ${freshRatio.toFixed(3)}`);
console.log(`  ratio ${latentThreadByDefault ? 'in the session thread / ahead on a second thread' : 'ahead on a second thread / in the session thread'} (median of per-round ratios): ${altRatio.toFixed(3)}`);
console.log(`  bare session at batch 1: median ${median(bare1).toFixed(0)} samples/s → batching ceiling (batch 64 / batch 1 samples/s) ${ceiling.toFixed(2)}×\n`);
await bare.dispose();

// ── 2. HTTP load, batching on vs off ──────────────────────────────────────────────────────────
const servers = { on: await listen(on), off: await listen(off) };
const results: Record<string, Record<number, LoadResult[]>> = { on: {}, off: {} };
for (let r = 0; r < ROUNDS; r++) {
  for (const c of CONCURRENCY) {
    for (const mode of ['on', 'off'] as const) {
      const res = await load(`${servers[mode].url}/v1/models/${name}/samples`, c);
      (results[mode][c] ??= []).push(res);
      console.log(`  round ${r + 1} c=${String(c).padStart(2)} batching ${mode.padEnd(3)} ${res.rps.toFixed(0).padStart(6)} req/s  p50 ${String(res.p50).padStart(4)} ms  p99 ${String(res.p99).padStart(4)} ms  loop p99 ${res.loopP99.toFixed(1).padStart(5)} ms  loop busy ${res.loopUsPerReq.toFixed(0).padStart(4)} µs/req  non-2xx ${res.non2xx}  errors ${res.errors}`);
    }
  }
}
console.log('\nHTTP, batch-1 json sample requests (medians over rounds):');
console.log('  conc  batching   req/s   p50 ms   p99 ms   loop p99 ms   loop busy µs/req   non-2xx');
for (const c of CONCURRENCY) {
  for (const mode of ['on', 'off'] as const) {
    const rs = results[mode][c];
    const m = (f: (x: LoadResult) => number) => median(rs.map(f));
    console.log(`  ${String(c).padStart(4)}  ${mode.padEnd(8)} ${m((x) => x.rps).toFixed(0).padStart(7)} ${m((x) => x.p50).toFixed(0).padStart(8)} ${m((x) => x.p99).toFixed(0).padStart(8)} ${m((x) => x.loopP99).toFixed(1).padStart(13)} ${m((x) => x.loopUsPerReq).toFixed(0).padStart(18)} ${String(rs.reduce((a, x) => a + x.non2xx + x.errors, 0)).padStart(9)}`);
  }
  const ratio = median(results.on[c].map((x, i) => x.rps / results.off[c][i].rps));
  console.log(`        on/off ratio ${ratio.toFixed(2)}×${c === 64 ? `   target ≥ 5× → ${ratio >= 5 ? 'met' : 'MISSED'} (model's batching ceiling ${ceiling.toFixed(2)}×)` : ''}`);
}
const worstLoop = Math.max(...Object.values(results).flatMap((byC) => Object.values(byC).map((rs) => median(rs.map((x) => x.loopP99)))));
const non2xx = Object.values(results).flatMap((byC) => Object.values(byC).flat()).reduce((a, x) => a + x.non2xx + x.errors, 0);
console.log(`\nworst median event-loop delay p99: ${worstLoop.toFixed(1)} ms   target ≤ 20 ms → ${worstLoop <= 20 ? 'met' : 'MISSED'}`);
console.log(`non-2xx + errors over every run (queue limit ${on.options.maxQueue} > 64 connections): ${non2xx}   target 0 → ${non2xx === 0 ? 'met' : 'MISSED'}`);

for (const s of Object.values(servers)) {
  s.server.closeAllConnections();
  s.server.close();
}
await Promise.all([on.close(), off.close(), alt.close()]);
rmSync(root, { recursive: true, force: true });
