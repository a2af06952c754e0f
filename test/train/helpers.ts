/**
 * Shared pieces of the trainer tests: the CLI command line, temp folders, tiny configs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveTrainConfig, type TrainConfig, type TrainOptions } from '../../src/train/config.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];

export function tempDir(prefix = 'wganx-train-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A tiny, fast run on the cpu backend, no export, no progress output. */
export function tinyConfig(out: string, opts: TrainOptions = {}): TrainConfig {
  return resolveTrainConfig({
    dataset: 'ring8',
    steps: 4,
    batch: 8,
    hidden: 8,
    // Hidden layers of the MLP; the convolutional nets refuse --layers (their depth follows the image).
    ...(opts.arch === undefined || opts.arch === 'mlp' ? { layers: 2 } : {}),
    latent: 2,
    backend: 'cpu',
    sampleEvery: 0,
    checkpointEvery: 0,
    export: false,
    command: 'wganx train (test)',
    out,
    ...opts,
  });
}
