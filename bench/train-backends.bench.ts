/**
 * Which portable tfjs backend trains the MLP nets faster: wasm (with src/train/wasm-kernels.ts)
 * or cpu? Times one WGAN-GP iteration (5 critic updates with the penalty + 1 generator update)
 * of the toy MLPs and of the MNIST conditional MLP, alternating backends round by round, and
 * prints the median milliseconds and the cpu/wasm ratio side by side.
 *
 *   node --import tsx bench/train-backends.bench.ts [--rounds 3] [--iters 5] [--only <text in a case label>]
 */
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../src/tfjs/backend.js';
import { resolveTrainConfig, type TrainConfig } from '../src/train/config.js';
import { openDataset } from '../src/data/index.js';
import { registerTrainingGradients } from '../src/tfjs/gradients.js';
import { buildNets, disposeNets } from '../src/train/models/index.js';
import { createOptimizer } from '../src/train/optimizers.js';
import { createRunRngs } from '../src/core/random.js';
import { netSpec } from '../src/train/run.js';
import { criticStep, generatorStep, trainableVariables, type StepContext } from '../src/train/steps.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg('rounds', 3);
const ITERS = arg('iters', 5);

const CASES: Array<{ label: string; opts: Parameters<typeof resolveTrainConfig>[0] }> = [
  { label: 'toy MLP 3×64, batch 256', opts: { dataset: 'ring8', hidden: 64, layers: 3, batch: 256, latent: 2 } },
  { label: 'toy MLP 3×128, batch 256', opts: { dataset: 'ring8', hidden: 128, layers: 3, batch: 256, latent: 2 } },
  { label: 'toy MLP 3×256, batch 256', opts: { dataset: 'ring8', hidden: 256, layers: 3, batch: 256, latent: 2 } },
  { label: 'MNIST cond. MLP 3×512, batch 64', opts: { dataset: 'mnist', conditional: true, hidden: 512, layers: 3, batch: 64 } },
  { label: 'MNIST DCGAN 32 ch, batch 64', opts: { dataset: 'mnist', arch: 'dcgan', hidden: 32, batch: 64 } },
];

async function timeIteration(config: TrainConfig, backend: 'cpu' | 'wasm'): Promise<number> {
  await startBackend(backend, []);
  const dataset = await openDataset(config);
  const rngs = createRunRngs(0);
  const nets = buildNets(config.arch, netSpec(config, dataset), rngs.init);
  const criticVars = trainableVariables(nets.critic);
  const generatorVars = trainableVariables(nets.generator);
  const hp = { lr: config.lr, beta1: config.beta1, beta2: config.beta2 };
  const ctx: StepContext = { config, dataset, nets, criticVars, generatorVars, optD: createOptimizer('adam', criticVars, hp), optG: createOptimizer('adam', generatorVars, hp), rngs };
  const iteration = () => {
    for (let k = 0; k < config.nCritic; k++) criticStep(ctx, config.lr);
    generatorStep(ctx, config.lr);
  };
  iteration(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < ITERS; i++) iteration();
  const ms = (performance.now() - t0) / ITERS;
  disposeNets(nets);
  ctx.optD.dispose();
  ctx.optG.dispose();
  return ms;
}

registerTrainingGradients();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`WGAN-GP iteration (5 critic + 1 generator update), median of ${ROUNDS} rounds × ${ITERS} iterations, 1 thread`);
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : null;
for (const c of CASES.filter((k) => only === null || k.label.includes(only))) {
  const config = resolveTrainConfig({ ...c.opts, out: 'runs/bench', algo: 'wgan-gp' });
  const times: Record<'cpu' | 'wasm', number[]> = { cpu: [], wasm: [] };
  for (let r = 0; r < ROUNDS; r++) for (const b of r % 2 ? (['wasm', 'cpu'] as const) : (['cpu', 'wasm'] as const)) times[b].push(await timeIteration(config, b));
  const cpu = median(times.cpu);
  const wasm = median(times.wasm);
  console.log(`${c.label.padEnd(34)} cpu ${cpu.toFixed(0).padStart(6)} ms   wasm ${wasm.toFixed(0).padStart(6)} ms   cpu/wasm ${(cpu / wasm).toFixed(2)}×`);
}
console.log(`tensors alive at the end: ${tf.memory().numTensors}`);
