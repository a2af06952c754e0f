/**
 * The GPU stand-in of bench:serve (bench/flat-cost.ts): a valid model that the server loads, whose
 * samples are the plain exported generator's, bit for bit, whatever the length of its fixed-cost chain.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { BENCH_LATENT as DIM } from '../../bench/common.js';
import { writeFlatCostModel } from '../../bench/flat-cost.js';
import { sampleLatents } from '../../src/core/latent.js';
import { decodeModel } from '../../src/export/onnx-builder.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { resolveServeOptions, silentLogger } from '../../src/serve/options.js';

const root = mkdtempSync(join(tmpdir(), 'wganx-flat-'));
const models = join(root, 'models');
const ROWS = 5;

before(async () => {
  await tf.setBackend('cpu');
  await writeFlatCostModel(models, 'short', { links: 1 });
  await writeFlatCostModel(models, 'long', { links: 3 });
});
after(() => rmSync(root, { recursive: true, force: true }));

async function run(name: string, z: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(join(models, name, 'generator.onnx'), { intraOpNumThreads: 1 });
  const out = await session.run({ z: new ort.Tensor('float32', z, [z.length / DIM, DIM]) });
  await session.release();
  return out.samples.data as Float32Array;
}

function floats(init: { rawData?: Uint8Array | null }): Float32Array {
  const raw = init.rawData!;
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

test('the fixed-cost branch has one MatMul per link and writes the output', () => {
  for (const [name, links] of [['short', 1], ['long', 3]] as const) {
    const graph = decodeModel(readFileSync(join(models, name, 'generator.onnx'))).graph!;
    const branch = graph.node!.filter((n) => n.name!.startsWith('flat/'));
    assert.equal(branch.filter((n) => n.opType === 'MatMul').length, links);
    const out = graph.node!.find((n) => n.output!.includes('samples'))!;
    assert.equal(out.name, 'flat/out');
    // The branch reads the latent batch, so no runtime can fold it into a constant.
    assert.ok(branch.some((n) => n.input!.includes('z')));
  }
  assert.deepEqual(readdirSync(join(models, 'short')).sort(), ['generator.onnx', 'manifest.json'], 'no temporary files left');
});

test('its samples are the plain generator’s: tanh(z·W + b), bit-identical for any chain length', async () => {
  const z = sampleLatents({ seed: 3, start: 0, count: ROWS, dim: DIM });
  const [short, long] = [await run('short', z), await run('long', z)];
  assert.equal(short.length, ROWS * 28 * 28);
  assert.deepEqual(long, short);
  const graph = decodeModel(readFileSync(join(models, 'short', 'generator.onnx'))).graph!;
  const w = floats(graph.initializer!.find((i) => i.name === 'dense_Dense1/kernel')!);
  const b = floats(graph.initializer!.find((i) => i.name === 'dense_Dense1/bias')!);
  let worst = 0;
  for (let r = 0; r < ROWS; r++) {
    for (let j = 0; j < 784; j++) {
      let acc = b[j];
      for (let k = 0; k < DIM; k++) acc += z[r * DIM + k] * w[k * 784 + j];
      worst = Math.max(worst, Math.abs(Math.tanh(acc) - short[r * 784 + j]));
    }
  }
  assert.ok(worst < 1e-5, `max |diff| from the plain generator ${worst}`);
  assert.ok(short.some((v) => Math.abs(v) > 0.1), 'samples are not all near zero');
});

test('the server loads it (manifest and sha256 agree) and serves the same samples', async () => {
  const engine = await Engine.start(resolveServeOptions({ modelsDir: models, device: 'cpu', reloadIntervalMs: 0, threads: 1 }), { logger: silentLogger });
  try {
    const model = engine.registry.get('long');
    assert.ok(model, `not loaded: ${engine.registry.entry('long')?.reason}`);
    assert.deepEqual(model.rowShape, [28, 28, 1]);
    const { data } = await model.batcher.submit({ rows: ROWS, source: { kind: 'seeded', seed: 3, start: 0 }, labels: null });
    assert.deepEqual(data, await run('long', sampleLatents({ seed: 3, start: 0, count: ROWS, dim: DIM })));
  } finally {
    await engine.close();
  }
});

test('a chain length that is not a whole number ≥ 1 is refused', async () => {
  for (const links of [0, 1.5, Number.NaN]) await assert.rejects(writeFlatCostModel(models, 'bad', { links }), /links: .* whole number ≥ 1/);
});
