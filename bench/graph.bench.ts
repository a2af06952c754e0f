/**
 * bench:graph — the exporter's graph rewrite (src/export/graph-rewrite.ts: wide strided
 * ConvTransposes as stride phases) against the plain graph, on a bare onnxruntime-node session
 * (src/runtime, CPU), in one run of interleaved rounds (the contenders' order rotates each round):
 *
 * - samples/s of each graph at each batch, the ratio rewritten / plain per round (median and the
 *   quartiles), batch-1 latency p50;
 * - GFLOP/s (FLOPs counted from the graph, ./serve-peers-graph.ts) against the matrix-product peak
 *   (an n×n MatMul on the same threads) measured in every round.
 * A slice during which other processes used more than `--max-foreign` cores (/proc/stat) is measured
 * again (up to 6 tries).
 *
 * The generators, exported both ways by the real exporter (random weights, random batch-norm
 * statistics): `mnist-dcgan` (the bundled model's net: conditional, 28×28×1, 32 base channels),
 * `dcgan-64ch` (bench:serve's DCGAN, 64 base channels), `colour-32` (the emoji recipe: conditional
 * 32×32×3, 32 base channels), `colour-64` (the same at 64×64×3), and the MLP `mnist-cgan` as a
 * control (no ConvTranspose: the same graph twice). `--model <folder>` adds a model folder written
 * before the rewrite (its file against the file rewritten).
 *
 *   npm run bench:graph [-- --rounds 7 --slice-ms 300 --batches 1,64,256 --threads 0 --models mnist-dcgan,colour-32
 *     --model models/<name> --peak-n 1024 --max-foreign 0.3]
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { CounterRng } from '../src/core/random.js';
import { convertLayersModel } from '../src/export/index.js';
import { rewriteGraph } from '../src/export/graph-rewrite.js';
import { decodeModel, encodeModel } from '../src/export/onnx-builder.js';
import { createSession, runtimeVersion } from '../src/runtime/node.js';
import type { Session, TensorValue } from '../src/runtime/session.js';
import { buildNets, type NetSpec } from '../src/train/models/index.js';
import { median } from './common.js';
import { describeFlops, graphFlops, matmulPeak, matmulSession, type GraphFlops } from './serve-peers-graph.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    'slice-ms': { type: 'string', default: '300' },
    batches: { type: 'string', default: '1,64,256' },
    threads: { type: 'string', default: '0' },
    models: { type: 'string', default: 'mnist-dcgan,mnist-cgan,dcgan-64ch,colour-32,colour-64' },
    model: { type: 'string', multiple: true, default: [] },
    'peak-n': { type: 'string', default: '1024' },
    'max-foreign': { type: 'string', default: '0.3' },
  },
});
const ROUNDS = Number(args.rounds);
const SLICE_MS = Number(args['slice-ms']);
const BATCHES = args.batches.split(',').map(Number);
const THREADS = Number(args.threads);
const PEAK_N = Number(args['peak-n']);
const MAX_FOREIGN = Number(args['max-foreign']);
const MAX_ATTEMPTS = 6;
for (const [flag, v] of [['rounds', ROUNDS], ['slice-ms', SLICE_MS], ['peak-n', PEAK_N], ...BATCHES.map((b) => ['batches', b] as const)] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${flag}: a positive integer, not ${v}`);
}
if (!Number.isInteger(THREADS) || THREADS < 0) throw new Error(`--threads: 0 (one per core) or more, not ${args.threads}`);

const base = (over: Partial<NetSpec>): NetSpec => ({
  kind: 'image', dataShape: [28, 28, 1], latent: 64, numClasses: 10, hidden: 32, layers: 3,
  criticActivation: 'leaky_relu', criticNorm: 'none', gCond: 'concat', dCond: 'projection', ...over,
});
/** The built generators: the nets of src/train/models with the bundled / benchmark models' settings. */
const BUILT: Record<string, { about: string; arch: 'dcgan' | 'mlp'; spec: NetSpec }> = {
  'mnist-dcgan': { about: 'conditional DCGAN 28×28×1, 32 base channels (the bundled model\'s net)', arch: 'dcgan', spec: base({}) },
  'mnist-cgan': { about: 'conditional MLP 28×28×1 (control: no ConvTranspose)', arch: 'mlp', spec: base({ hidden: 256 }) },
  'dcgan-64ch': { about: 'DCGAN 28×28×1, 64 base channels, latent 100 (bench:serve\'s)', arch: 'dcgan', spec: base({ numClasses: 0, latent: 100, hidden: 64, gCond: 'multiply' }) },
  'colour-32': { about: 'conditional DCGAN 32×32×3, 32 base channels (the emoji recipe)', arch: 'dcgan', spec: base({ dataShape: [32, 32, 3], numClasses: 9 }) },
  'colour-64': { about: 'conditional DCGAN 64×64×3, 32 base channels (the emoji recipe at 64 px)', arch: 'dcgan', spec: base({ dataShape: [64, 64, 3], numClasses: 9 }) },
};

interface Contender {
  name: string;
  session: Session;
}
interface Model {
  key: string;
  about: string;
  flops: GraphFlops;
  changes: string[];
  contenders: [Contender, Contender];
  feeds: (batch: number) => Record<string, TensorValue>;
}

/** Random latents (and classes) for every input of `bytes`, the batch dimension set to `batch`. */
function feedsFor(bytes: Uint8Array, seed: number): (batch: number) => Record<string, TensorValue> {
  const graph = decodeModel(bytes).graph!;
  const rng = new CounterRng(seed, 0);
  const cache = new Map<number, Record<string, TensorValue>>();
  return (batch) => {
    if (!cache.has(batch)) {
      const feeds: Record<string, TensorValue> = {};
      for (const input of graph.input ?? []) {
        const dims = (input.type!.tensorType!.shape!.dim ?? []).map((d, i) => (i === 0 ? batch : Number(d.dimValue)));
        const n = dims.reduce((a, b) => a * b, 1);
        feeds[input.name!] = input.type!.tensorType!.elemType === 7 ? { dtype: 'int64', data: BigInt64Array.from({ length: n }, (_, k) => BigInt(k % 9)), dims } : { dtype: 'float32', data: rng.normal(n), dims };
      }
      cache.set(batch, feeds);
    }
    return cache.get(batch)!;
  };
}

async function open(key: string, about: string, plain: Uint8Array): Promise<Model> {
  const rewritten = rewriteGraph(decodeModel(plain));
  const fast = encodeModel(rewritten.model);
  const session = (bytes: Uint8Array) => createSession(bytes, { providers: ['cpu'], threads: THREADS });
  const contenders: [Contender, Contender] = [
    { name: 'plain', session: await session(plain) },
    { name: 'rewritten', session: await session(fast) },
  ];
  const feeds = feedsFor(plain, 7);
  // The two graphs must agree before they are timed.
  const outs = await Promise.all(contenders.map(async (c) => (await c.session.run(feeds(5)))[c.session.outputNames[0]].data as Float32Array));
  const diff = outs[0].reduce((m, v, i) => Math.max(m, Math.abs(v - outs[1][i])), 0);
  if (!(diff <= 1e-5)) throw new Error(`${key}: the rewritten graph differs from the plain one by ${diff}`);
  return { key, about, flops: await graphFlops(fast), changes: rewritten.changes, contenders, feeds };
}

async function builtModel(key: string): Promise<Model> {
  const row = BUILT[key];
  if (!row) throw new Error(`--models: "${key}" is not one of ${Object.keys(BUILT).join(', ')}`);
  const { generator, critic } = await buildNets(row.arch, row.spec, new CounterRng(36, 0));
  critic.dispose();
  for (const layer of generator.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const names = layer.weights.map((w) => w.originalName.split('/').pop());
    layer.setWeights(layer.getWeights().map((w, i) => (names[i] === 'moving_variance' ? tf.randomUniform(w.shape, 0.5, 2, 'float32', 3) : tf.randomNormal(w.shape, 0, 0.5, 'float32', 4))));
  }
  const plain = convertLayersModel(generator, { rewrite: false, outputNames: ['samples'] }).bytes;
  generator.dispose();
  return open(key, row.about, plain);
}

/** Jiffies the whole machine was busy, and this process's. */
function cpuTicks(): { busy: number; own: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { busy: cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7], own: Number(f[11]) + Number(f[12]) };
}
const PROC = existsSync('/proc/stat');
const foreign = { kept: [] as number[], redone: 0 };

/** `run` again while other processes used more than MAX_FOREIGN cores meanwhile. */
async function quiet<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const [c0, t0] = [PROC ? cpuTicks() : null, performance.now()];
    const out = await run();
    if (!c0) return out;
    const c1 = cpuTicks();
    const load = (c1.busy - c0.busy - (c1.own - c0.own)) / 100 / ((performance.now() - t0) / 1000);
    if (load <= MAX_FOREIGN || attempt === MAX_ATTEMPTS) {
      foreign.kept.push(load);
      return out;
    }
    foreign.redone++;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Samples/s of `session` on `feeds` over about SLICE_MS, and each call's milliseconds. */
async function slice(session: Session, feeds: Record<string, TensorValue>, batch: number): Promise<{ rate: number; ms: number[] }> {
  await session.run(feeds);
  const ms: number[] = [];
  const t0 = performance.now();
  while (ms.length < 3 || performance.now() - t0 < SLICE_MS) {
    const t = performance.now();
    await session.run(feeds);
    ms.push(performance.now() - t);
  }
  return { rate: (ms.length * batch) / ((performance.now() - t0) / 1000), ms };
}

const keys = args.models.split(',').filter(Boolean);
await tf.setBackend('cpu');
console.log(`bench:graph — onnxruntime-node ${runtimeVersion()} CPU, ${THREADS || `${cpus().length} (one per core)`} intra-op thread(s); ${cpus()[0]?.model ?? '?'}; ${ROUNDS} rounds of ${SLICE_MS} ms slices`);
const models: Model[] = [];
for (const key of keys) models.push(await builtModel(key));
for (const dir of args.model) {
  const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')) as { name: string; export: { file: string } };
  models.push(await open(basename(dir), `model folder ${dir}`, new Uint8Array(readFileSync(`${dir}/${manifest.export.file}`))));
}
const peakSession = await matmulSession(THREADS);

// rates[model][batch][contender] = samples/s per round; lat[model][contender] = batch-1 call ms
const rates = models.map(() => BATCHES.map(() => [[], []] as [number[], number[]]));
const latency = models.map(() => [[], []] as [number[], number[]]);
const peaks: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  peaks.push(await quiet(() => matmulPeak(peakSession, PEAK_N, SLICE_MS)));
  for (const [mi, m] of models.entries()) {
    for (const [bi, batch] of BATCHES.entries()) {
      const order = r % 2 ? [1, 0] : [0, 1];
      for (const ci of order) {
        const s = await quiet(() => slice(m.contenders[ci].session, m.feeds(batch), batch));
        rates[mi][bi][ci].push(s.rate);
        if (batch === 1) latency[mi][ci].push(...s.ms);
      }
    }
  }
  process.stderr.write(`round ${r + 1}/${ROUNDS}\n`);
}

const peak = median(peaks);
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * p)];
console.log(`\nmatrix-product peak: ${peak.toFixed(1)} GFLOP/s (MatMul ${PEAK_N}³, median of ${peaks.length}); other processes' load in the kept slices: median ${median(foreign.kept).toFixed(2)} cores, ${foreign.redone} slices measured again`);
for (const [mi, m] of models.entries()) {
  console.log(`\n${m.key}: ${m.about}; ${describeFlops(m.flops)}`);
  for (const line of m.changes) console.log(`  rewrite: ${line}`);
  if (m.changes.length === 0) console.log('  rewrite: none (the same graph twice)');
  for (const [bi, batch] of BATCHES.entries()) {
    const [plain, fast] = rates[mi][bi];
    const ratios = fast.map((v, i) => v / plain[i]);
    const cell = (xs: number[]) => {
      const rate = median(xs);
      const gflops = (rate * m.flops.perSample) / 1e9;
      return `${rate.toFixed(0).padStart(7)}/s ${gflops.toFixed(1).padStart(6)} GFLOP/s ${((100 * gflops) / peak).toFixed(0).padStart(3)} %`;
    };
    console.log(`  batch ${String(batch).padStart(3)}: plain ${cell(plain)}   rewritten ${cell(fast)}   ×${median(ratios).toFixed(2)} (quartiles ${q(ratios, 0.25).toFixed(2)}–${q(ratios, 0.75).toFixed(2)})`);
  }
  if (BATCHES.includes(1)) console.log(`  batch 1 latency p50: plain ${median(latency[mi][0]).toFixed(3)} ms, rewritten ${median(latency[mi][1]).toFixed(3)} ms`);
}
for (const m of models) for (const c of m.contenders) await c.session.release();
await peakSession.release();
