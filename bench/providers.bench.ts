/**
 * bench:providers — every execution provider that `wganx serve --device` offers, side by side on
 * the same ONNX files: bare sessions of the runtime (src/runtime/node.ts, no server), samples/s at several batch sizes, and the
 * largest difference of each provider's output from the CPU provider's on the same inputs.
 *
 * Models: every folder under --models (default models/, the bundled generators) plus the random
 * DCGAN generator of bench:serve (latent 100 → 28×28×1, conv-transpose layers: the shape of model
 * a GPU helps most). A device that is not usable here (no CUDA provider library, no WebGPU
 * adapter) is listed with the reason and skipped. Rounds interleave the devices; medians printed.
 *
 *   npm run bench:providers [-- --devices cuda,webgpu,cpu --batches 1,64,1024 --rounds 3 --ms 1000 --threads 0]
 *
 * --threads 0 (default) gives the CPU provider every core, as a user serving on CPU would.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sampleLatents } from '../src/core/latent.js';
import { exportModel } from '../src/export/index.js';
import type { Manifest } from '../src/core/manifest.js';
import { NODE_DEVICES, type NodeDevice as Device } from '../src/runtime/devices.js';
import { readModelFolder } from '../src/runtime/model-folder.js';
import { createSession, Generator, probeNodeDevice, runtimeVersion } from '../src/runtime/node.js';
import { dcganGenerator, median } from './common.js';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: 'models' },
    devices: { type: 'string', default: 'cuda,webgpu,cpu' },
    batches: { type: 'string', default: '1,64,1024' },
    rounds: { type: 'string', default: '3' },
    ms: { type: 'string', default: '1000' },
    threads: { type: 'string', default: '0' },
    dcgan: { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const ROUNDS = Number(args.rounds);
const MS = Number(args.ms);
const THREADS = Number(args.threads) || availableParallelism();
const BATCHES = args.batches!.split(',').map(Number);
const requested = args.devices!.split(',') as Device[];
for (const d of requested) {
  if (!(d in NODE_DEVICES)) throw new Error(`--devices: "${d}" is not a device; allowed: ${Object.keys(NODE_DEVICES).join(', ')}`);
}
if (BATCHES.some((b) => !Number.isInteger(b) || b < 1)) throw new Error(`--batches: "${args.batches}" must be positive integers separated by commas`);

interface Model {
  name: string;
  bytes: Uint8Array;
  manifest: Manifest;
}

async function readModel(dir: string, name: string): Promise<Model> {
  const { manifest, bytes } = await readModelFolder(dir);
  return { name, bytes, manifest };
}

const tmp = mkdtempSync(join(tmpdir(), 'wganx-bench-providers-'));
const models: Model[] = [];
if (existsSync(args.models!)) {
  for (const e of readdirSync(args.models!, { withFileTypes: true })) {
    if (e.isDirectory() && existsSync(join(args.models!, e.name, 'manifest.json'))) models.push(await readModel(join(args.models!, e.name), e.name));
  }
}
if (args.dcgan) {
  await tf.setBackend('cpu');
  const dir = join(tmp, 'dcgan');
  const g = await dcganGenerator();
  await exportModel(g, dir, { name: 'dcgan' });
  g.dispose();
  models.push(await readModel(dir, 'dcgan (random weights)'));
}

/** Latents of samples 0…rows−1 of seed 0, and classes cycling through the model's. */
function inputs(m: Model, rows: number): { z: Float32Array; labels: Int32Array | null } {
  const { dim, distribution } = m.manifest.latent;
  const classes = m.manifest.conditional?.numClasses ?? 0;
  return { z: sampleLatents({ seed: 0, start: 0, count: rows, dim, distribution }), labels: classes ? Int32Array.from({ length: rows }, (_, i) => i % classes) : null };
}

// ── which devices work here ───────────────────────────────────────────────────────────────────
console.log(`bench:providers — ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), onnxruntime-node ${runtimeVersion()}, Node ${process.version}; CPU provider with ${THREADS} thread(s)`);
const devices: Device[] = [];
for (const d of requested) {
  const reason = await probeNodeDevice(d);
  console.log(`  ${d.padEnd(6)} ${reason === null ? 'usable' : `refused: ${reason}`}`);
  if (reason === null) devices.push(d);
}
if (!devices.includes('cpu')) devices.push('cpu'); // the reference for the differences
console.log(`${ROUNDS} interleaved rounds, ~${MS} ms per device and batch\n`);

async function rate(g: Generator, f: ReturnType<typeof inputs>, rows: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  do {
    await g.run(f.z, f.labels);
    n++;
  } while (performance.now() - t0 < MS || n < 3);
  return (n * rows) / ((performance.now() - t0) / 1000);
}

console.log(`model                      batch  ${devices.map((d) => `${d} samples/s`.padStart(18)).join('')}  ${devices.filter((d) => d !== 'cpu').map((d) => `${d}/cpu  max|${d}−cpu|`.padStart(26)).join('')}`);
for (const m of models) {
  const sessions = new Map<Device, Generator>();
  for (const d of devices) {
    const providers = [...NODE_DEVICES[d]];
    const session = await createSession(m.bytes, { providers, threads: THREADS });
    sessions.set(d, new Generator(m.manifest, session, { requested: d, device: d, providers, refused: [] }));
  }
  for (const rows of BATCHES) {
    const f = inputs(m, rows);
    const outs = new Map<Device, Float32Array>();
    for (const [d, s] of sessions) outs.set(d, (await s.run(f.z, f.labels)).data.slice()); // warm-up + outputs
    const rates = new Map<Device, number[]>(devices.map((d) => [d, []]));
    for (let r = 0; r < ROUNDS; r++) for (const [d, s] of sessions) rates.get(d)!.push(await rate(s, f, rows));
    const ref = outs.get('cpu')!;
    const cols = devices.map((d) => median(rates.get(d)!).toFixed(0).padStart(18)).join('');
    const cmp = devices
      .filter((d) => d !== 'cpu')
      .map((d) => {
        const o = outs.get(d)!;
        let diff = 0;
        for (let i = 0; i < ref.length; i++) diff = Math.max(diff, Math.abs(o[i] - ref[i]));
        const ratio = median(rates.get(d)!.map((x, i) => x / rates.get('cpu')![i]));
        return `${(ratio < 0.1 ? ratio.toPrecision(2) : ratio.toFixed(2)).padStart(10)}×  ${diff.toExponential(1).padStart(12)}`;
      })
      .join('');
    console.log(`${m.name.slice(0, 26).padEnd(26)} ${String(rows).padStart(6)}  ${cols}  ${cmp}`);
  }
  for (const s of sessions.values()) await s.dispose();
}
rmSync(tmp, { recursive: true, force: true });
