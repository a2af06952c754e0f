/**
 * bench:peer — train the PyTorch peer of a `wganx train` image-folder run (issue 33) and leave a
 * model folder that `wganx eval --model <out> --data <folder>` measures like wganx's own.
 *
 *   npm run bench:peer -- --data data/emoji --steps 10000 --seed 1 [--diffaugment color,translation,cutout] --out runs/peer/emoji-torch-s1
 *   npm run bench:peer -- ... --resume            (continue from <out>/checkpoint.pt; --steps may grow)
 *   node dist/cli.js eval --model runs/peer/emoji-torch-s1 --data data/emoji   (or npx tsx src/cli.ts eval …)
 *
 * The recipe defaults to the bundled colour model's (`wganx train --dataset data/emoji --conditional
 * --algo wgan-gp --arch dcgan --image-size 32 --hidden 32 --batch 64 --latent 64 --lr 2e-4 --beta1 0.5
 * --lr-schedule linear --g-cond concat --ac-weight 1 --ac-weight-g 1`, β2 0.9, n_critic 5, λ 10);
 * every one of those flags can be given here too, with `wganx train`'s names, and is checked by the
 * same `resolveTrainConfig`. The training split is decoded by the project's loader with the same
 * options as the wganx run (size, channels auto, resize cover, white background, the holdout folder
 * or the content-hash fraction), handed to python as uint8 `.npy` files, and trained by
 * bench/torch_wgan_gp.py (the same nets, losses, DiffAugment and schedule; seeded; progress lines;
 * a checkpoint every --checkpoint-every steps). Python exports the generator with torch.onnx
 * (opset 17) and saves its outputs on fixed inputs; this script embeds the manifest (the same
 * training provenance fields as wganx's, backend `pytorch <version>`), checks the file in
 * onnxruntime-node against those outputs (within 1e-4 at batch 1 and 64, or nothing is written)
 * and writes `<out>/generator.onnx` + `<out>/manifest.json`.
 *
 * PyTorch comes from Debian (`apt-get install python3-torch`), or from the python3 that WGANX_PYTHON names.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sampleLatents } from '../src/core/latent.js';
import { MANIFEST_FILE, parseManifest, type ManifestInput } from '../src/core/manifest.js';
import { imageFolderOptions } from '../src/data/index.js';
import { openImageFolder } from '../src/data/image-folder.js';
import { encodeNpy } from '../src/encode/encode.js';
import { embedManifest } from '../src/export/metadata.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { createSession, openGenerator } from '../src/runtime/node.js';
import { quoteCommand, resolveTrainConfig, type TrainOptions } from '../src/train/config.js';
import { hyperparameters } from '../src/train/run.js';
import { PYTHON, TORCH_SCRIPT, torchMissing, torchNetSpec } from './torch-peer.js';

/** Batches at which the ONNX file is compared with PyTorch's outputs (wganx's export uses the same). */
export const PEER_PARITY_BATCHES = [1, 64] as const;
export const PEER_PARITY_SEED = 20170126;
export const PEER_PARITY_TOLERANCE = 1e-4;
export const PEER_OPSET = 17;

/** The bundled colour model's recipe (issue 33): the defaults of this script. */
const RECIPE: TrainOptions = {
  conditional: true, algo: 'wgan-gp', arch: 'dcgan', imageSize: 32, hidden: 32, batch: 64, latent: 64, lr: 2e-4, beta1: 0.5,
  lrSchedule: 'linear', gCond: 'concat', acWeight: 1, acWeightG: 1, steps: 10000,
};

const NUMBER_FLAGS = {
  steps: 'steps', seed: 'seed', 'image-size': 'imageSize', hidden: 'hidden', batch: 'batch', latent: 'latent', lr: 'lr', beta1: 'beta1', beta2: 'beta2',
  'n-critic': 'nCritic', lambda: 'lambda', 'ac-weight': 'acWeight', 'ac-weight-g': 'acWeightG', holdout: 'holdout',
} as const;
const STRING_FLAGS = {
  diffaugment: 'diffaugment', 'g-cond': 'gCond', 'd-cond': 'dCond', 'critic-norm': 'criticNorm', 'critic-activation': 'criticActivation', 'lr-schedule': 'lrSchedule',
  resize: 'resize', background: 'background', 'holdout-dir': 'holdoutDir', channels: 'channels', name: 'name',
} as const;

const { values: args } = parseArgs({
  options: {
    data: { type: 'string' },
    out: { type: 'string' },
    ...Object.fromEntries(Object.keys({ ...NUMBER_FLAGS, ...STRING_FLAGS }).map((k) => [k, { type: 'string' as const }])),
    unconditional: { type: 'boolean', default: false },
    threads: { type: 'string', default: '0' },
    'log-every': { type: 'string', default: '50' },
    'checkpoint-every': { type: 'string', default: '500' },
    resume: { type: 'boolean', default: false },
  },
  strict: true,
});

function wholeNumber(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag}: got ${JSON.stringify(value)}; expected a whole number ≥ 0`);
  return n;
}

/** A little-endian float32 `.npy` file (what numpy.save writes for float32 arrays). */
function readNpyFloat32(file: string): Float32Array {
  const buf = readFileSync(file);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.subarray(major === 1 ? 10 : 12, start).toString('latin1');
  if (!header.includes("'<f4'")) throw new Error(`${file}: expected float32 data, header ${header.trim()}`);
  const bytes = buf.subarray(start);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  if (!args.data) throw new Error('--data <folder> is required (e.g. data/emoji)');
  if (!args.out) throw new Error('--out <dir> is required (e.g. runs/peer/emoji-torch-s1): the run and model folder');
  const missing = torchMissing();
  if (missing) throw new Error(missing);
  const given: Record<string, unknown> = {};
  const flags = args as Record<string, string | boolean | undefined>;
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) if (flags[flag] !== undefined) given[key] = Number(flags[flag]);
  for (const [flag, key] of Object.entries(STRING_FLAGS)) if (flags[flag] !== undefined) given[key] = flags[flag];
  const command = quoteCommand(['npm', 'run', 'bench:peer', '--', ...process.argv.slice(2)]);
  const config = resolveTrainConfig({
    ...RECIPE, ...given, dataset: args.data, out: args.out, conditional: !args.unconditional, algo: 'wgan-gp', export: false, eval: false, command,
    // An unconditional peer has no label to condition on: the recipe's conditioning flags go too.
    ...(args.unconditional ? { acWeight: 0, acWeightG: 0, gCond: undefined, dCond: undefined } : {}),
  } as TrainOptions);
  if (config.arch !== 'dcgan' || config.algo !== 'wgan-gp') throw new Error('the peer trains the dcgan nets with wgan-gp');
  const threads = wholeNumber('threads', args.threads);
  const logEvery = wholeNumber('log-every', args['log-every']);
  const checkpointEvery = wholeNumber('checkpoint-every', args['checkpoint-every']);

  // The training split, decoded as wganx decodes it, as uint8 NHWC pixels for python.
  const folder = await openImageFolder(config.dataset, { ...imageFolderOptions(config, log), flag: '--data' });
  const train = folder.train;
  const [size, , channels] = train.shape;
  const classes = config.conditional ? (train.labels?.length ?? 0) : 0;
  log(`data: ${train.description}`);
  const all = train.all();
  const pixels = Uint8Array.from(all.x, (v) => Math.round((v + 1) * 127.5));
  const work = path.join(config.out, 'peer');
  mkdirSync(work, { recursive: true });
  const file = (name: string) => path.join(work, name);
  writeFileSync(file('images.npy'), encodeNpy(pixels, [train.size, size, size, channels]));
  if (classes > 0) writeFileSync(file('labels.npy'), encodeNpy(all.labels!, [train.size]));

  // Fixed parity inputs: the counter-based latents of PEER_PARITY_SEED, classes in turn.
  const rows = Math.max(...PEER_PARITY_BATCHES);
  const z = sampleLatents({ seed: PEER_PARITY_SEED, start: 0, count: rows, dim: config.latent });
  const parityLabels = BigInt64Array.from({ length: rows }, (_, i) => BigInt(classes > 0 ? i % classes : 0));
  writeFileSync(file('parity-z.npy'), encodeNpy(z, [rows, config.latent]));
  writeFileSync(file('parity-labels.npy'), encodeNpy(parityLabels, [rows, 1]));

  const spec = {
    ...torchNetSpec(config, train.shape, classes),
    images: file('images.npy'), labels: classes > 0 ? file('labels.npy') : null, out: config.out,
    steps: config.steps, seed: config.seed, lr: config.lr, beta1: config.beta1, beta2: config.beta2, lr_schedule: config.lrSchedule,
    log_every: logEvery, checkpoint_every: checkpointEvery, resume: args.resume, threads,
    parity: { z: file('parity-z.npy'), labels: file('parity-labels.npy'), batches: PEER_PARITY_BATCHES, dir: work },
  };
  writeFileSync(file('spec.json'), JSON.stringify(spec, null, 2));
  log(`pytorch: ${PYTHON} ${TORCH_SCRIPT} train ${file('spec.json')}`);
  const r = spawnSync(PYTHON, [TORCH_SCRIPT, 'train', file('spec.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    const resumable = !args.resume && existsSync(path.join(config.out, 'checkpoint.pt'));
    throw new Error(`the PyTorch peer failed (${r.error?.message ?? (r.signal ? `signal ${r.signal}` : `exit ${r.status}`)})${resumable ? `; the same command with --resume continues from ${path.join(config.out, 'checkpoint.pt')}` : ''}`);
  }
  const result = JSON.parse(readFileSync(path.join(config.out, 'peer-result.json'), 'utf8')) as {
    onnx: string; torch: string; threads: number; steps: number; seconds: number; parity: Record<string, string>;
  };

  // The manifest, inside the ONNX file (without its own sha256) and beside it.
  const draft: ManifestInput = {
    schemaVersion: 1,
    name: config.name,
    version: '1',
    kind: 'image',
    description: `${classes > 0 ? 'class-conditional ' : ''}WGAN-GP dcgan generator trained on ${config.dataset} with PyTorch ${result.torch} (bench/peer-train.ts, the peer of wganx train)`,
    latent: { dim: config.latent, distribution: 'normal' },
    conditional: classes > 0 ? { numClasses: classes, labels: [...train.labels!] } : null,
    inputs: [
      { name: 'z', dtype: 'float32', shape: ['batch', config.latent], role: 'latent' },
      ...(classes > 0 ? [{ name: 'label', dtype: 'int64' as const, shape: ['batch', 1], role: 'label' as const }] : []),
    ],
    outputs: [{ name: 'samples', dtype: 'float32', shape: ['batch', size, size, channels] }],
    output: { layout: 'NHWC', range: [-1, 1], modes: null },
    training: {
      algorithm: config.algo,
      dataset: config.dataset,
      steps: result.steps,
      hyperparameters: hyperparameters(config),
      command: config.command,
      backend: `pytorch ${result.torch}`,
      durationSeconds: result.seconds,
      metrics: {},
      peer: { script: 'bench/torch_wgan_gp.py', threads: result.threads },
      ...(train.holdout ? { holdout: train.holdout } : {}),
    },
    export: {
      tool: `torch.onnx ${result.torch}`,
      opset: PEER_OPSET,
      createdAt: new Date().toISOString(),
      file: 'generator.onnx',
      sha256: null,
      parity: { maxAbsDiff: {}, tolerance: PEER_PARITY_TOLERANCE, inputsSeed: PEER_PARITY_SEED },
      fp16: null,
    },
  };

  // Parity: onnxruntime-node on the file against PyTorch's outputs for the same inputs.
  const bytes = readFileSync(result.onnx);
  const session = await createSession(bytes, { providers: ['cpu'], threads: 1 });
  const maxAbsDiff: Record<string, number> = {};
  try {
    for (const b of PEER_PARITY_BATCHES) {
      const feeds = {
        z: { dtype: 'float32' as const, data: z.subarray(0, b * config.latent), dims: [b, config.latent] },
        ...(classes > 0 ? { label: { dtype: 'int64' as const, data: parityLabels.subarray(0, b), dims: [b, 1] } } : {}),
      };
      const got = (await session.run(feeds)).samples.data as Float32Array;
      const want = readNpyFloat32(result.parity[String(b)]);
      if (got.length !== want.length) throw new Error(`parity at batch ${b}: onnxruntime gave ${got.length} values, PyTorch ${want.length}`);
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i] - want[i]);
        if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
      }
      if (!(worst <= PEER_PARITY_TOLERANCE)) throw new Error(`parity at batch ${b}: max |onnxruntime − PyTorch| = ${worst} > ${PEER_PARITY_TOLERANCE}; nothing was written`);
      maxAbsDiff[String(b)] = worst;
    }
  } finally {
    await session.release();
  }
  draft.export.parity.maxAbsDiff = maxAbsDiff;
  const inside = parseManifest(draft);
  const onnx = embedManifest(bytes, inside);
  const sha256 = createHash('sha256').update(onnx).digest('hex');
  const manifest = parseManifest({ ...draft, export: { ...draft.export, sha256 } });
  await writeFileAtomic(path.join(config.out, 'generator.onnx'), onnx);
  await writeFileAtomic(path.join(config.out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(result.onnx, { force: true });

  // The folder opens as a model (schema, sha256) and samples.
  const generator = await openGenerator(config.out, { device: 'cpu', threads: 1 });
  try {
    const { dims } = await generator.sample({ seed: 0, n: 2 });
    log(`parity: max |onnxruntime − PyTorch| ${Object.entries(maxAbsDiff).map(([b, d]) => `${d.toExponential(1)} at batch ${b}`).join(', ')}`);
    log(`model: ${config.out} (${manifest.name}; samples [${dims.join(', ')}]); measure it with: wganx eval --model ${config.out} --data ${config.dataset}`);
  } finally {
    await generator.dispose();
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench:peer: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
