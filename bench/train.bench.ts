/**
 * bench:train — one WGAN-GP iteration (5 critic updates with the gradient penalty + 1 generator
 * update, Adam) of the nets `wganx train` builds, on every usable tfjs backend and on PyTorch
 * (bench/torch_wgan_gp.py: the same nets, layer for layer, at its best intra-op thread count;
 * Debian's PyTorch does its products in OpenBLAS, which torch.set_num_threads does not size: the
 * peer pins it to 1 thread under torch's own, and also tries it on every core under one torch
 * thread, bench/torch_threads.py), in
 * interleaved rounds. Prints milliseconds per iteration (medians) and each backend's ratio to
 * PyTorch's time. Both sides first run `--warmup` untimed iterations (JIT, first-use sessions
 * and heap growth make the first few slower; bench/RESULTS.md), since a training run's time is
 * its steady state.
 *
 *   npm run bench:train [-- --rounds 3 --iters 3 --warmup 3 --only DCGAN --heavy --backends wasm:1,wasm,wasm+ort,cpu --batches 64,256 --torch-threads 1,2]
 *   npm run bench:train -- --backends webgpu,wasm --torch-device cuda   (a GPU machine: PyTorch on CUDA)
 *
 * A backend is `name` or `wasm:<threads>`: `wasm` alone has every core (at most 8,
 * src/tfjs/wasm-threads.ts), `wasm:1` is the one-thread build. A `+ort` suffix (`wasm+ort`,
 * `wasm:1+ort`; column `wasm+ort×n`) runs wasm's matrix products on onnxruntime-node's native
 * kernels with that many threads, the wasm backend on its one-thread build (src/runtime/node-gemm.ts,
 * `wganx train --matmul auto`, the default); without it they stay on XNNPACK (`--matmul xnnpack`).
 * Each measurement runs in a fresh process, since the wasm backend's threads are fixed when it first
 * starts.
 *
 * `--backends webgpu,wasm` adds tfjs's WebGPU backend (src/tfjs/webgpu.ts): on a GPU machine with
 * the Vulkan loader and the driver's ICD; without a GPU, SwiftShader stands in when the environment
 * points at it (LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json).
 *
 * The nets: a toy MLP, MNIST's conditional MLP and DCGANs, and the bundled colour model's net (issue
 * 33: 32×32×3 emoji, 9 classes, `--g-cond concat`, projection critic with an AC head), which reads
 * data/emoji (`npm run data:emoji -- --out data/emoji`); without that folder its row is printed as
 * skipped, with the reason. Two heavier rows on the same images, the DCGAN at 64 px and the
 * WGAN-GP paper's ResNet (128 channels) at 32 px, run with `--heavy` (tens of seconds an
 * iteration on a CPU; e.g. `--heavy --only ResNet --rounds 1 --iters 1 --warmup 1`).
 *
 * PyTorch comes from Debian (`apt-get install python3-torch libopenblas0-pthread`), or from the
 * python3 that WGANX_PYTHON names; when it is missing the script says so and prints the tfjs
 * columns alone. The cpu backend is slow on the convolutional nets (tens of seconds per
 * iteration): `--backends wasm` leaves it out.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openDataset } from '../src/data/index.js';
import { createRunRngs } from '../src/core/random.js';
import { registerTrainingGradients } from '../src/tfjs/gradients.js';
import { startBackend, type BackendChoice } from '../src/tfjs/backend.js';
import { MAX_WASM_THREADS, planWasmThreads } from '../src/tfjs/wasm-threads.js';
import { openNodeGemm } from '../src/runtime/node-gemm.js';
import { resolveTrainConfig, type TrainConfig, type TrainOptions } from '../src/train/config.js';
import { buildNets, disposeNets } from '../src/train/models/index.js';
import { createOptimizer } from '../src/train/optimizers.js';
import { netSpec } from '../src/train/run.js';
import { criticStepTensor, generatorStepTensor, readCriticStep, trainableVariables, type StepContext } from '../src/train/steps.js';
import { median } from './common.js';
import { PYTHON, TORCH_SCRIPT, torchMissing, torchNetSpec } from './torch-peer.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    iters: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    only: { type: 'string' },
    heavy: { type: 'boolean', default: false },
    backends: { type: 'string', default: 'wasm:1,wasm,wasm+ort,cpu' },
    'torch-threads': { type: 'string', default: '1,2' },
    'torch-device': { type: 'string', default: 'cpu' },
    batches: { type: 'string', default: '64' },
    child: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const ITERS = Number(args.iters);
const WARMUP = Number(args.warmup);
for (const [flag, v, min] of [['--rounds', ROUNDS, 1], ['--iters', ITERS, 1], ['--warmup', WARMUP, 0]] as const) {
  if (!Number.isInteger(v) || v < min) throw new Error(`${flag}: got ${v}; expected an integer ≥ ${min}`);
}
const TORCH_DEVICE = args['torch-device']!;
if (TORCH_DEVICE !== 'cpu' && TORCH_DEVICE !== 'cuda') throw new Error(`--torch-device: got ${JSON.stringify(TORCH_DEVICE)}; allowed: cpu, cuda`);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The colour data set of issue 33 (`npm run data:emoji -- --out data/emoji`). */
const EMOJI = join(ROOT, 'data', 'emoji');
const EMOJI_MISSING = existsSync(EMOJI) ? null : `${EMOJI} is missing (npm run data:emoji -- --out data/emoji)`;

interface Case {
  label: string;
  opts: TrainOptions;
  /** Why the row cannot run here (its data are missing), or null. */
  skip?: string | null;
  /** A row of tens of seconds an iteration on a CPU: it runs only with `--heavy`. */
  heavy?: boolean;
}

const NETS: Case[] = [
  { label: 'toy MLP 3×256', opts: { dataset: 'ring8', hidden: 256, layers: 3, latent: 2 } },
  { label: 'MNIST cond. MLP 3×512', opts: { dataset: 'mnist', conditional: true, hidden: 512, layers: 3 } },
  { label: 'MNIST DCGAN 32 ch', opts: { dataset: 'mnist', arch: 'dcgan', hidden: 32 } },
  { label: 'MNIST DCGAN 64 ch', opts: { dataset: 'mnist', arch: 'dcgan', hidden: 64 } },
  // The bundled colour model's net (issue 33: ≤ 2× PyTorch's iteration): 32×32×3, 9 classes, z ‖ label, projection critic + AC head.
  {
    label: 'emoji cond. DCGAN 32 ch + AC',
    opts: { dataset: EMOJI, conditional: true, arch: 'dcgan', imageSize: 32, hidden: 32, latent: 64, gCond: 'concat', acWeight: 1, acWeightG: 1 },
    skip: EMOJI_MISSING,
  },
  // Issue 33's larger nets, on the same images: the DCGAN grown to 64 px, and the WGAN-GP paper's
  // ResNet (128 channels, its reference recipe) at 32 px. Meant for GPUs; timed here on request.
  {
    label: 'emoji cond. DCGAN 32 ch + AC, 64 px',
    opts: { dataset: EMOJI, conditional: true, arch: 'dcgan', imageSize: 64, hidden: 32, latent: 64, gCond: 'concat', acWeight: 1, acWeightG: 1 },
    skip: EMOJI_MISSING,
    heavy: true,
  },
  {
    label: 'emoji cond. ResNet 128 ch, 32 px',
    opts: { dataset: EMOJI, conditional: true, arch: 'resnet', imageSize: 32, latent: 128 },
    skip: EMOJI_MISSING,
    heavy: true,
  },
];
const CASES: Case[] = args.batches!.split(',').map(Number).flatMap((batch) => NETS.map((n) => ({ ...n, label: `${n.label}, batch ${batch}`, opts: { ...n.opts, batch } })));

/** The PyTorch script's description of the same nets, with the timing settings. */
function torchSpec(config: TrainConfig, shape: readonly number[], classes: number) {
  return { ...torchNetSpec(config, shape, classes), iters: ITERS, warmup: WARMUP, threads: args['torch-threads']!.split(',').map(Number), device: TORCH_DEVICE };
}

function torchIteration(spec: object): { ms: number; threads: number; blasThreads?: number } {
  const r = spawnSync(PYTHON, [TORCH_SCRIPT, JSON.stringify(spec)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`the PyTorch peer failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** One measurement, in this (child) process: the median ms of ITERS iterations after WARMUP untimed ones. */
async function tfjsIteration(config: TrainConfig, backend: BackendChoice, threads: number, ort: boolean): Promise<number> {
  await startBackend(backend, [], { threads, matmul: ort ? 'onnxruntime' : 'xnnpack', openGemm: (n) => openNodeGemm({ threads: n }) });
  const dataset = await openDataset(config);
  const rngs = createRunRngs(0);
  const nets = await buildNets(config.arch, netSpec(config, dataset), rngs.init);
  const criticVars = trainableVariables(nets.critic);
  const generatorVars = trainableVariables(nets.generator);
  const hp = { lr: config.lr, beta1: config.beta1, beta2: config.beta2 };
  const ctx: StepContext = { config, dataset, nets, criticVars, generatorVars, optD: createOptimizer('adam', criticVars, hp), optG: createOptimizer('adam', generatorVars, hp), rngs };
  // As the training loop runs it: the figures stay on the device, read once per iteration
  // (asynchronously: WebGPU has no synchronous read in Node), which also waits for the GPU.
  const iteration = async () => {
    let last: tf.Tensor | null = null;
    for (let k = 0; k < config.nCritic; k++) {
      const t = criticStepTensor(ctx, config.lr);
      last?.dispose();
      last = t;
    }
    const g = generatorStepTensor(ctx, config.lr);
    await readCriticStep(last!);
    await g.data();
    tf.dispose([last!, g]);
  };
  for (let i = 0; i < WARMUP; i++) await iteration(); // WebGPU compiles its shaders here
  const times: number[] = [];
  for (let i = 0; i < ITERS; i++) {
    const t0 = performance.now();
    await iteration();
    times.push(performance.now() - t0);
  }
  disposeNets(nets);
  ctx.optD.dispose();
  ctx.optG.dispose();
  return median(times);
}

interface Contender {
  /** Column label: `wasm×2`, `cpu`, … */
  label: string;
  backend: BackendChoice;
  threads: number;
  /** wasm's matrix products on onnxruntime-node (`+ort`). */
  ort: boolean;
}

/** `name`, `wasm:<threads>`, either with `+ort` (wasm only) → what the child process starts. */
function parseContender(spec: string): Contender {
  const ort = spec.endsWith('+ort');
  const [name, t] = spec.replace(/\+ort$/, '').split(':') as [BackendChoice, string | undefined];
  const threads = t === undefined ? 0 : Number(t);
  if ((t !== undefined || ort) && name !== 'wasm') throw new Error(`--backends: ${JSON.stringify(spec)}; only wasm takes a thread count (wasm:<n>) or +ort`);
  if (!Number.isInteger(threads) || threads < 0 || threads > MAX_WASM_THREADS) throw new Error(`--backends: ${JSON.stringify(spec)}; threads allowed: 0 to ${MAX_WASM_THREADS}`);
  const n = planWasmThreads(threads).threads;
  return { label: name !== 'wasm' ? name : ort ? `wasm+ort×${n}` : `wasm×${n}`, backend: name, threads, ort };
}

/** Measure in a fresh process (the same node flags, this script with --child). */
function childIteration(opts: TrainOptions, c: Contender): number {
  const job = JSON.stringify({ opts, backend: c.backend, threads: c.threads, ort: c.ort });
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--iters', String(ITERS), '--warmup', String(WARMUP), '--child', job], { encoding: 'utf8', timeout: 1_800_000 });
  if (r.status !== 0) throw new Error(`${c.label} failed: ${r.stderr || r.error?.message}`);
  if (r.stderr.trim()) process.stderr.write(`${c.label}: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number }).ms;
}

/** Width of the first column. */
const LABEL_WIDTH = 42;

function benchConfig(opts: TrainOptions): TrainConfig {
  return resolveTrainConfig({ ...opts, out: 'runs/bench', algo: 'wgan-gp', export: false });
}

registerTrainingGradients();
if (args.child) {
  const job = JSON.parse(args.child) as { opts: TrainOptions; backend: BackendChoice; threads: number; ort: boolean };
  const ms = await tfjsIteration(benchConfig(job.opts), job.backend, job.threads, job.ort);
  // Every tensor of a measurement is disposed (stdout carries only the result line).
  if (tf.memory().numTensors > 0) console.error(`tensors alive at the end: ${tf.memory().numTensors}`);
  console.log(JSON.stringify({ ms }));
} else {
  const contenders = args.backends!.split(',').map(parseContender);
  const labels = contenders.map((c) => c.label);
  if (new Set(labels).size !== labels.length) throw new Error(`--backends: ${args.backends} names the same contender twice (${labels.join(', ')})`);
  const missing = torchMissing();
  console.log(`bench:train — WGAN-GP iteration (5 critic + 1 generator update, Adam), ${ROUNDS} interleaved rounds × ${ITERS} iterations after ${WARMUP} untimed (medians); ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), tfjs ${tf.version.tfjs}; wasm×n = n threads`);
  const torchWhere = TORCH_DEVICE === 'cuda' ? 'on CUDA' : `the best of ${args['torch-threads']} intra-op threads (OpenBLAS on 1 under them, or on all under 1: 1+BLAS n)`;
  console.log(missing ? `PyTorch: ${missing} — no PyTorch column` : `PyTorch: ${PYTHON} ${TORCH_SCRIPT}, ${torchWhere}`);
  const columns = [...contenders.map((c) => c.label), ...(missing ? [] : ['pytorch'])];
  const header = `${'net'.padEnd(LABEL_WIDTH)}${columns.map((c) => `${c} ms`.padStart(15)).join('')}${missing ? '' : contenders.map((c) => `${c.label}/pytorch`.padStart(20)).join('')}`;
  console.log(`\n${header}`);
  for (const c of CASES.filter((k) => !args.only || k.label.includes(args.only))) {
    if (c.skip || (c.heavy && !args.heavy)) {
      console.log(`${c.label.padEnd(LABEL_WIDTH)}skipped: ${c.skip ?? 'tens of seconds an iteration on a CPU; --heavy runs it'}`);
      continue;
    }
    const config = benchConfig(c.opts);
    const dataset = await openDataset(config);
    const classes = config.conditional ? (dataset.labels?.length ?? 0) : 0;
    const times = new Map<string, number[]>(columns.map((k) => [k, []]));
    const torchThreads: string[] = [];
    const runners: { label: string; run: () => number }[] = [
      ...contenders.map((k) => ({ label: k.label, run: () => childIteration(c.opts, k) })),
      ...(missing ? [] : [{ label: 'pytorch', run: () => { const t = torchIteration(torchSpec(config, dataset.shape, classes)); torchThreads.push(t.blasThreads && t.blasThreads > 1 ? `${t.threads}+BLAS ${t.blasThreads}` : String(t.threads)); return t.ms; } }]),
    ];
    for (let r = 0; r < ROUNDS; r++) {
      for (const who of r % 2 === 0 ? runners : [...runners].reverse()) times.get(who.label)!.push(who.run());
    }
    const med = (k: string) => median(times.get(k)!);
    const cols = columns.map((k) => med(k).toFixed(0).padStart(15)).join('');
    const ratios = missing ? '' : contenders.map((k) => `${(med(k.label) / med('pytorch')).toFixed(2)}×`.padStart(20)).join('');
    console.log(`${c.label.padEnd(LABEL_WIDTH)}${cols}${ratios}${missing ? '' : `   (PyTorch threads: ${torchThreads.join(', ')})`}`);
  }
}
