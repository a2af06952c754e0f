/**
 * bench:augment — samples/s that `wganx augment` writes as PNG files and as WebDataset tar shards,
 * against the runtime's raw samples/s (`Generator.sample`, nothing encoded or written) for the
 * same model and batch, in one run. Rounds interleave the three so machine noise hits them alike;
 * prints medians and the median of each round's ratio (target ≥ 0.8: encoding and writing must not
 * be the bottleneck). Files go under --dir: creating many small files costs very different amounts
 * on different file systems, so run it where data sets will be written (and on a tmpfs such as
 * /dev/shm to see the encoding alone).
 *
 *   npm run bench:augment [-- --rounds 3 --samples 16384 --batch 256 --model models/mnist-cgan --dir runs/bench-augment]
 *
 * Without --model it measures the bundled MNIST generators and the benchmarks' DCGAN (exported
 * here to a temporary folder).
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { augment } from '../src/augment/run.js';
import { exportModel } from '../src/export/index.js';
import { openGenerator } from '../src/runtime/node.js';
import { dcganGenerator, median } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    samples: { type: 'string', default: '16384' },
    batch: { type: 'string', default: '256' },
    model: { type: 'string', multiple: true },
    dir: { type: 'string', default: 'runs/bench-augment' },
  },
});
const ROUNDS = Number(args.rounds);
const N = Number(args.samples);
const BATCH = Number(args.batch);
// Files go where a data set would (file creation costs differ widely between file systems).
mkdirSync(args.dir, { recursive: true });
const tmp = mkdtempSync(join(args.dir, 'run-'));

async function models(): Promise<string[]> {
  if (args.model?.length) return args.model;
  const found = ['models/mnist-cgan', 'models/mnist-dcgan'].filter((m) => existsSync(join(m, 'manifest.json')));
  await tf.setBackend('cpu');
  const dir = join(tmp, 'bench-dcgan');
  await exportModel(await dcganGenerator(), dir, { name: 'bench-dcgan' });
  return [...found, dir];
}

/** The runtime alone: N samples in batches of BATCH, the outputs dropped. */
async function raw(model: string): Promise<number> {
  const g = await openGenerator(model, { device: 'cpu' });
  try {
    await g.sample({ seed: 0, start: 0, n: BATCH }); // warm-up
    const t0 = performance.now();
    for (let start = 0; start < N; start += BATCH) await g.sample({ seed: 0, start, n: Math.min(BATCH, N - start) });
    return N / ((performance.now() - t0) / 1000);
  } finally {
    await g.dispose();
  }
}

/** `augment()` end to end into a fresh folder (the session load is outside its clock, as in raw). */
async function written(model: string, format: 'png' | 'tar', round: number): Promise<number> {
  const out = join(tmp, `${format}-${round}`);
  try {
    const r = await augment({ model, count: N, out, format, batch: BATCH, chunk: 1024, device: 'cpu' }, { log: () => {}, progress: false });
    return r.samplesPerSecond;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

try {
  console.log(`bench:augment — ${N} samples per measurement, batch ${BATCH}, ${ROUNDS} rounds, ${availableParallelism()} cores, device cpu, files under ${tmp}`);
  console.log('model            raw samples/s   png samples/s   tar samples/s   png/raw   tar/raw');
  for (const model of await models()) {
    const r: Record<'raw' | 'png' | 'tar', number[]> = { raw: [], png: [], tar: [] };
    for (let round = 0; round < ROUNDS; round++) {
      r.raw.push(await raw(model));
      r.png.push(await written(model, 'png', round));
      r.tar.push(await written(model, 'tar', round));
    }
    const [a, p, t] = [median(r.raw), median(r.png), median(r.tar)];
    // Ratios within each round (measured back to back), then their median.
    const ratio = (xs: number[]) => median(xs.map((x, i) => x / r.raw[i]));
    const name = model.split('/').pop()!;
    console.log(`${name.padEnd(16)} ${a.toFixed(0).padStart(13)}   ${p.toFixed(0).padStart(13)}   ${t.toFixed(0).padStart(13)}   ${ratio(r.png).toFixed(2).padStart(7)}   ${ratio(r.tar).toFixed(2).padStart(7)}`);
    console.log(`  rounds: raw ${r.raw.map((x) => x.toFixed(0)).join(' ')} | png ${r.png.map((x) => x.toFixed(0)).join(' ')} | tar ${r.tar.map((x) => x.toFixed(0)).join(' ')}`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
