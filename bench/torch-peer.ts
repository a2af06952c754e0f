/**
 * The PyTorch peer's side of the Node scripts (bench:train, bench:peer): where the python and the
 * script are, whether PyTorch runs here, and the description of a run's nets that
 * bench/torch_wgan_gp.py reads (the same nets as src/train/models, layer for layer).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainConfig } from '../src/train/config.js';

export const TORCH_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_wgan_gp.py');
/** Debian's python3 by default; WGANX_PYTHON names another one (a venv with its own torch). */
export const PYTHON = process.env.WGANX_PYTHON ?? '/usr/bin/python3';

/** null when PyTorch runs here, else the reason it does not. */
export function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? null : `PyTorch is not installed for ${PYTHON} (${(r.stderr || r.error?.message || '').trim().split('\n').pop()}); apt-get install python3-torch libopenblas0-pthread`;
}

/** The nets of `config` as the python script's spec keys (both modes). */
export function torchNetSpec(config: TrainConfig, shape: readonly number[], classes: number): Record<string, unknown> {
  const base = {
    hidden: config.hidden, batch: config.batch, latent: config.latent, n_critic: config.nCritic, lambda: config.lambda, classes,
    g_cond: config.gCond, d_cond: config.dCond, ac_weight: classes > 0 ? config.acWeight : 0, ac_weight_g: classes > 0 ? config.acWeightG : 0,
    critic_norm: config.criticNorm, critic_activation: config.criticActivation, diffaugment: config.diffaugment,
  };
  if (config.arch === 'dcgan' || config.arch === 'resnet') return { ...base, arch: config.arch, size: shape[0], channels: shape[2] };
  if (config.arch === 'mlp') return { ...base, arch: 'mlp', layers: config.layers, g_norm: config.gNorm, shape };
  throw new Error(`the PyTorch peer has no ${config.arch} nets (bench/torch_wgan_gp.py: dcgan, resnet, mlp)`);
}
