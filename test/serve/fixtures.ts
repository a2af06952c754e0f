/**
 * Tiny generators exported with the real exporter into a temp models folder:
 * - `ring`: MLP points generator, z[2] → [2];
 * - `digits`: image generator, z[8] → Dense → Conv2DTranspose → tanh, 8×8×1 NHWC;
 * - `pets`: conditional RGB image generator, (z[4], label) → Embedding ⊙ z → 8×8×3.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportModel } from '../../src/export/index.js';
import { resolveServeOptions, type ServeOptions } from '../../src/serve/options.js';

await tf.setBackend('cpu');

export function ringGenerator(): tf.LayersModel {
  return tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 16, activation: 'relu' }), tf.layers.dense({ units: 2 })] });
}

export function digitsGenerator(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [8], units: 4 * 4 * 4, activation: 'relu' }),
      tf.layers.reshape({ targetShape: [4, 4, 4] }),
      tf.layers.conv2dTranspose({ filters: 1, kernelSize: 4, strides: 2, padding: 'same', activation: 'tanh' }),
    ],
  });
}

export function petsGenerator(): tf.LayersModel {
  const z = tf.input({ shape: [4] });
  const label = tf.input({ shape: [1] });
  const emb = tf.layers.flatten().apply(tf.layers.embedding({ inputDim: 3, outputDim: 4 }).apply(label)) as tf.SymbolicTensor;
  let h = tf.layers.multiply().apply([z, emb]) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 8 * 8 * 3, activation: 'tanh' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reshape({ targetShape: [8, 8, 3] }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: [z, label], outputs: h });
}

export const PET_LABELS = ['cat', 'dog', 'eel'];

export async function exportRing(dir: string, version = '1') {
  return exportModel(ringGenerator(), dir, { name: 'ring', kind: 'points', outputRange: [-2, 2], version });
}
export async function exportDigits(dir: string, version = '1') {
  return exportModel(digitsGenerator(), dir, { name: 'digits', version });
}
export async function exportPets(dir: string, version = '1') {
  return exportModel(petsGenerator(), dir, { name: 'pets', labels: PET_LABELS, version });
}

/** A temp folder with models/{ring,digits,pets}; `cleanup()` removes it. */
export async function fixtureModels(which: ('ring' | 'digits' | 'pets')[] = ['ring', 'digits', 'pets']) {
  const root = mkdtempSync(join(tmpdir(), 'wganx-serve-'));
  const models = join(root, 'models');
  if (which.includes('ring')) await exportRing(join(models, 'ring'));
  if (which.includes('digits')) await exportDigits(join(models, 'digits'));
  if (which.includes('pets')) await exportPets(join(models, 'pets'));
  return { root, models, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Options for tests: one ORT thread, no background reload (tests call registry.scan()). */
export function testOptions(modelsDir: string, extra: Partial<ServeOptions> = {}): ServeOptions {
  return resolveServeOptions({ modelsDir, device: 'cpu', threads: 1, reloadIntervalMs: 0, ...extra });
}
