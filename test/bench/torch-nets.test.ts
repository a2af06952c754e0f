/**
 * The PyTorch peer's nets (bench/torch_wgan_gp.py) mirror src/train/models layer for layer: for each
 * architecture, conditional or not, the peer's generator and critic have exactly as many trainable
 * weights as wganx's, built from the same description (bench/torch-peer.ts `torchNetSpec`), and
 * the generator makes images of the data's shape. Skipped, saying why, where PyTorch is not
 * installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { PYTHON, torchMissing, torchNetSpec } from '../../bench/torch-peer.js';
import { createRunRngs } from '../../src/core/random.js';
import { resolveTrainConfig, type TrainOptions } from '../../src/train/config.js';
import { buildNets, disposeNets } from '../../src/train/models/index.js';
import { netSpec } from '../../src/train/run.js';
import type { Dataset } from '../../src/data/dataset.js';

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
const missing = torchMissing();
const skip = missing ? `PyTorch is missing: ${missing}` : false;

/** Trainable weights and the generator's output shape (NCHW) of the peer's nets for `spec`. */
function torchCounts(spec: Record<string, unknown>): { g: number; d: number; out: number[] } {
  const code = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(BENCH)})`,
    'import torch, torch_wgan_gp as W',
    'spec = json.loads(sys.argv[1])',
    'g, d, shape = W.build(spec)',
    'y = torch.zeros(2, dtype=torch.long) if spec["classes"] else None',
    'g.eval()',
    'out = g(torch.randn(2, spec["latent"]), y)',
    'n = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)',
    'print(json.dumps({"g": n(g), "d": n(d), "out": list(out.shape)}))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', code, JSON.stringify(spec)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const CASES: { name: string; opts: Partial<TrainOptions>; shape: [number, number, number]; classes: number }[] = [
  { name: 'dcgan 32 px RGB, conditional (concat G, projection critic, AC head)', opts: { arch: 'dcgan', hidden: 8, latent: 16, gCond: 'concat', acWeight: 1 }, shape: [32, 32, 3], classes: 4 },
  { name: 'dcgan 28 px grey, unconditional', opts: { arch: 'dcgan', hidden: 8, latent: 16 }, shape: [28, 28, 1], classes: 0 },
  { name: 'resnet 32 px RGB, conditional (conditional batch norm, AC head)', opts: { arch: 'resnet', hidden: 16, latent: 8, acWeight: 1 }, shape: [32, 32, 3], classes: 9 },
  { name: 'resnet 16 px RGB, unconditional', opts: { arch: 'resnet', hidden: 16, latent: 8 }, shape: [16, 16, 3], classes: 0 },
  { name: 'resnet 64 px RGB, conditional with a concat critic', opts: { arch: 'resnet', hidden: 8, latent: 8, dCond: 'concat' }, shape: [64, 64, 3], classes: 3 },
  { name: 'mlp, conditional', opts: { arch: 'mlp', hidden: 32, layers: 2, latent: 8 }, shape: [28, 28, 1], classes: 10 },
];

for (const c of CASES) {
  test(`the PyTorch peer's ${c.name} has wganx's weight count and output shape`, { skip, timeout: 60_000 }, async () => {
    const config = resolveTrainConfig({ dataset: 'mnist', out: 'runs/test', conditional: c.classes > 0, ...c.opts } as TrainOptions);
    const dataset = { kind: 'image', shape: c.shape, labels: c.classes > 0 ? Array.from({ length: c.classes }, (_, i) => `c${i}`) : null } as unknown as Dataset;
    const nets = await buildNets(config.arch, netSpec(config, dataset), createRunRngs(0).init);
    const count = (m: (typeof nets)['generator']) => m.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    const want = { g: count(nets.generator), d: count(nets.critic) };
    disposeNets(nets);
    const got = torchCounts(torchNetSpec(config, c.shape, c.classes));
    assert.deepEqual({ g: got.g, d: got.d }, want);
    const side = c.opts.arch === 'mlp' ? null : c.shape[0];
    if (side !== null) assert.deepEqual(got.out, [2, c.shape[2], side, side]);
  });
}
