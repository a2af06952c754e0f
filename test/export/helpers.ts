/** Shared fixtures for the exporter tests: convert, check parity, collect files for the ONNX checker. */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CounterRng } from '../../src/core/random.js';
import { convertLayersModel, checkParity } from '../../src/export/index.js';
import { buildNets } from '../../src/train/models/index.js';

export const TOLERANCE = 1e-4;
const checkerDir = mkdtempSync(join(tmpdir(), 'wganx-onnx-check-'));
const written: string[] = [];

/** Convert `model`, assert parity ≤ 1e-4 at batch 1 and 64, and queue the file for the ONNX checker. */
export async function expectParity(model: tf.LayersModel, label: string, opts: { opset?: number; numClasses?: number } = {}) {
  const result = convertLayersModel(model, { opset: opts.opset });
  const report = await checkParity(model, result.bytes, result.inputs, { batches: [1, 64], seed: 7, numClasses: opts.numClasses ?? 2 });
  for (const [batch, diff] of Object.entries(report.maxAbsDiff)) {
    assert.ok(diff <= TOLERANCE, `${label}: max |tfjs − onnx| = ${diff} at batch ${batch}`);
  }
  queueForChecker(result.bytes, label);
  return result;
}

/** Queue ONNX bytes for {@link runOnnxChecker} (files converted outside {@link expectParity}, e.g. critics). */
export function queueForChecker(bytes: Uint8Array, label: string): string {
  const file = join(checkerDir, `${label.replace(/[^A-Za-z0-9_-]/g, '_')}_${written.length}.onnx`);
  writeFileSync(file, bytes);
  written.push(file);
  return file;
}

/** Random, non-trivial BatchNormalization statistics (fresh layers have mean 0, variance 1). */
export function randomizeBatchNorms(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const weights = layer.getWeights();
    const names = layer.weights.map((w) => w.originalName.split('/').pop());
    layer.setWeights(weights.map((w, i) => (names[i] === 'moving_variance' ? tf.randomUniform(w.shape, 0.5, 2, 'float32', 3) : tf.randomNormal(w.shape, 0, 0.5, 'float32', 4))));
  }
}

/**
 * The DCGAN generator `wganx train --arch dcgan` builds (src/train/models) for 28×28 grey images,
 * with 8 base channels (Dense 7·7·16 → BatchNorm → ReLU → Reshape → Conv2DTranspose 8 → BatchNorm
 * → ReLU → Conv2DTranspose 1, tanh), seeded weights and random batch-norm statistics.
 */
export async function dcganGenerator(latent = 32): Promise<tf.LayersModel> {
  const spec = {
    kind: 'image', dataShape: [28, 28, 1], latent, numClasses: 0, hidden: 8, layers: 3,
    criticActivation: 'leaky_relu', criticNorm: 'none', gCond: 'multiply', dCond: 'projection',
  } as const;
  const { generator, critic } = await buildNets('dcgan', spec, new CounterRng(11, 0));
  critic.dispose();
  randomizeBatchNorms(generator);
  return generator;
}

/**
 * Run the official ONNX checker (full check, strict shape inference) on every file converted so far.
 * Needs Debian's python3-onnx (installed by .ci/run).
 */
export function runOnnxChecker(files: string[] = written): { checked: number; failures: string[] } {
  const script = [
    'import sys, json, onnx',
    'from onnx import shape_inference',
    'failures = []',
    'for path in sys.argv[1:]:',
    '    try:',
    '        m = onnx.load(path)',
    '        onnx.checker.check_model(m, full_check=True)',
    '        shape_inference.infer_shapes(m, check_type=True, strict_mode=True)',
    '    except Exception as e:',
    '        failures.append(path + ": " + str(e).splitlines()[0])',
    'print(json.dumps({"checked": len(sys.argv) - 1, "failures": failures}))',
  ].join('\n');
  const out = execFileSync('/usr/bin/python3', ['-c', script, ...files], { encoding: 'utf8' });
  return JSON.parse(out);
}
