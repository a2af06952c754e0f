/**
 * bench:serve --peers' own parts: the FLOPs counted from a graph (a tiny DCGAN exported by the real
 * exporter, and a hand-built graph with the ops a faster exporter may emit: grouped and
 * asymmetrically padded Conv, DepthToSpace in both modes, BatchNormalization, MatMul), and the
 * PyTorch peer built from the same ONNX file: its outputs match onnxruntime's, its own FLOP count
 * matches, and it refuses to time a model whose outputs do not match. The PyTorch tests are skipped,
 * saying why, where PyTorch is not installed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { torchHttpMissing, torchServeMissing, TorchServePeer, writeParityFiles } from '../../bench/serve-peers-torch.js';
import { graphFlops } from '../../bench/serve-peers-graph.js';
import { CounterRng } from '../../src/core/random.js';
import { sampleLatents } from '../../src/core/latent.js';
import { exportModel } from '../../src/export/index.js';
import { DataType, encodeModel, float, GraphBuilder } from '../../src/export/onnx-builder.js';
import { generatorFeeds } from '../../src/runtime/generator.js';
import { createSession, openGenerator } from '../../src/runtime/node.js';
import type { TensorValue } from '../../src/runtime/session.js';
import { buildNets, type NetSpec } from '../../src/train/models/index.js';
import { LABEL_EMBEDDING_DIM } from '../../src/train/models/spec.js';

const missing = torchServeMissing();
const skip = missing ? `PyTorch is missing: ${missing}` : false;
const webMissing = missing ?? torchHttpMissing();
const skipWeb = webMissing ? `PyTorch's HTTP peer cannot run: ${webMissing}` : false;
const root = mkdtempSync(join(tmpdir(), 'wganx-peers-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A 16×16×1 conditional DCGAN: Dense → 4×4×(2·hidden) → ConvTranspose 8×8×hidden → ConvTranspose 16×16×1. */
const SPEC: NetSpec = {
  kind: 'image', dataShape: [16, 16, 1], latent: 8, numClasses: 3, hidden: 4, layers: 3,
  criticActivation: 'leaky_relu', criticNorm: 'none', gCond: 'concat', dCond: 'projection',
};
const dcganDir = join(root, 'tiny-dcgan');
before(async () => {
  await tf.setBackend('cpu');
  const { generator, critic } = await buildNets('dcgan', SPEC, new CounterRng(5, 0));
  critic.dispose();
  await exportModel(generator, dcganDir, { name: 'tiny-dcgan' });
  generator.dispose();
});

/** The DCGAN's products per sample from its definition (src/train/models/dcgan.ts). */
function dcganFlops(s: NetSpec): { Gemm: number; ConvTranspose: number } {
  const c0 = 2 * s.hidden; // two up-samplings: start 4×4 with hidden·2 channels
  const dense = 2 * (s.latent + LABEL_EMBEDDING_DIM) * (4 * 4 * c0);
  const deconv1 = 2 * (4 * 4 * c0) * (s.hidden * 4 * 4); // each input element feeds Co·kh·kw products
  const image = 2 * (8 * 8 * s.hidden) * (s.dataShape[2] * 4 * 4);
  return { Gemm: dense, ConvTranspose: deconv1 + image };
}

/** Deterministic weights in [-0.5, 0.5). */
function weights(n: number, salt: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (((i + 1) * 2654435761 + salt * 40503) % 1000) / 1000 - 0.5);
}

/**
 * x [b, 4, 6, 6] → Conv 8, 3×3, group 2, pads 1 → BatchNorm → LeakyReLU → DepthToSpace 2 (DCR)
 * [b, 2, 12, 12] → Conv 8, 2×2, pads (0, 0, 1, 1) → DepthToSpace 2 (CRD) [b, 2, 24, 24] →
 * Reshape [b, 1152] → MatMul [1152, 5] → Add → Tanh → y [b, 5].
 */
function subPixelGraph(): Uint8Array {
  const g = new GraphBuilder('sub_pixel');
  g.input({ name: 'x', elemType: DataType.FLOAT, shape: ['batch', 4, 6, 6] });
  const w1 = g.initializer('w1', [8, 2, 3, 3], weights(144, 1));
  let h = g.node('Conv', ['x', w1, g.initializer('b1', [8], weights(8, 2))], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 2 })[0];
  const bn = ['scale', 'bias', 'mean'].map((n, i) => g.initializer(n, [8], weights(8, 3 + i)));
  h = g.node('BatchNormalization', [h, ...bn, g.initializer('var', [8], weights(8, 6).map((v) => v + 1))], { epsilon: float(1e-3) })[0];
  h = g.node('LeakyRelu', [h], { alpha: float(0.2) })[0];
  h = g.node('DepthToSpace', [h], { blocksize: 2, mode: 'DCR' })[0];
  h = g.node('Conv', [h, g.initializer('w2', [8, 2, 2, 2], weights(64, 7))], { kernel_shape: [2, 2], pads: [0, 0, 1, 1] })[0];
  h = g.node('DepthToSpace', [h], { blocksize: 2, mode: 'CRD' })[0];
  h = g.node('Reshape', [h, g.int64Initializer('shape', [0, -1])])[0];
  h = g.node('MatMul', [h, g.initializer('w3', [1152, 5], weights(5760, 8).map((v) => v / 20))])[0];
  h = g.node('Add', [h, g.initializer('b3', [5], weights(5, 9))])[0];
  g.nodeTo('Tanh', [h], {}, [g.reserve('y')]);
  g.output({ name: 'y', elemType: DataType.FLOAT, shape: ['batch', 5] });
  return encodeModel(g.toModel({ opset: 17, producerVersion: 'test' }));
}
const SUB_PIXEL_FLOPS = { Conv: 2 * (8 * 6 * 6) * (2 * 3 * 3) + 2 * (8 * 12 * 12) * (2 * 2 * 2), MatMul: 2 * 5 * 1152 };

test('the FLOPs of an exported DCGAN are counted from its graph: Gemm and ConvTranspose, per sample', async () => {
  const f = await graphFlops(new Uint8Array(readFileSync(join(dcganDir, 'generator.onnx'))));
  const want = dcganFlops(SPEC);
  assert.deepEqual(f.byOp, { Gemm: { nodes: 1, flops: want.Gemm }, ConvTranspose: { nodes: 2, flops: want.ConvTranspose } });
  assert.equal(f.perSample, want.Gemm + want.ConvTranspose);
});

test('the FLOP counter follows a rewritten graph: grouped, asymmetrically padded Conv, DepthToSpace and MatMul', async () => {
  const f = await graphFlops(subPixelGraph());
  assert.deepEqual(f.byOp, { Conv: { nodes: 2, flops: SUB_PIXEL_FLOPS.Conv }, MatMul: { nodes: 1, flops: SUB_PIXEL_FLOPS.MatMul } });
});

test('the PyTorch peer built from the ONNX file matches onnxruntime, eager and frozen, and counts the same FLOPs', { skip, timeout: 120_000 }, async () => {
  const peer = TorchServePeer.start();
  try {
    const info = await peer.info;
    assert.match(info.torch, /^\d+\.\d+/);
    // The exported DCGAN, through the generator's feeds (z float32, label int64).
    const g = await openGenerator(dcganDir, { device: 'cpu', threads: 1 });
    const rows = 9;
    const z = sampleLatents({ seed: 3, start: 0, count: rows, dim: SPEC.latent });
    const labels = Int32Array.from({ length: rows }, (_, i) => i % SPEC.numClasses);
    const out = await g.run(z, labels);
    await g.dispose();
    const dir = join(root, 'parity-dcgan');
    mkdirSync(dir);
    const files = writeParityFiles(dir, generatorFeeds(g.io, z, labels), { dtype: 'float32', data: out.data, dims: out.dims });
    const r = await peer.load({ key: 'dcgan', onnx: join(dcganDir, 'generator.onnx'), ...files, batches: [1, 4], tolerance: 1e-4 });
    console.log(`# tiny DCGAN: PyTorch vs onnxruntime max |diff| eager ${r.eagerMaxDiff}, frozen ${JSON.stringify(r.frozenMaxDiff)}`);
    assert.deepEqual(r.inputNames, ['z', 'label']);
    assert.ok(r.eagerMaxDiff <= 1e-4, `eager ${r.eagerMaxDiff}`);
    assert.deepEqual(Object.keys(r.frozenMaxDiff).sort(), ['1', '4']);
    for (const d of Object.values(r.frozenMaxDiff)) assert.ok(d <= 1e-4, `frozen ${d}`);
    const want = dcganFlops(SPEC);
    assert.equal(r.flops, want.Gemm + want.ConvTranspose);
    for (const variant of ['eager', 'frozen'] as const) {
      const { seconds } = await peer.time({ key: 'dcgan', variant, batch: 4, threads: 1, ms: 20 });
      assert.ok(seconds.length >= 2 && seconds.every((s) => s > 0), `${variant}: ${seconds}`);
    }

    // The sub-pixel graph: the ops a faster exporter may emit.
    const bytes = subPixelGraph();
    const onnxFile = join(root, 'sub-pixel.onnx');
    writeFileSync(onnxFile, bytes);
    const session = await createSession(bytes, { providers: ['cpu'], threads: 1 });
    const x: TensorValue = { dtype: 'float32', data: weights(6 * 4 * 6 * 6, 10), dims: [6, 4, 6, 6] };
    const y = (await session.run({ x }, ['y'])).y;
    await session.release();
    const dir2 = join(root, 'parity-sub-pixel');
    mkdirSync(dir2);
    const sp = await peer.load({ key: 'sub-pixel', onnx: onnxFile, ...writeParityFiles(dir2, { x }, y), batches: [2, 6], tolerance: 1e-4 });
    console.log(`# sub-pixel graph: max |diff| eager ${sp.eagerMaxDiff}, frozen ${JSON.stringify(sp.frozenMaxDiff)}`);
    assert.ok(sp.eagerMaxDiff <= 1e-4 && Object.values(sp.frozenMaxDiff).every((d) => d <= 1e-4), JSON.stringify(sp));
    assert.deepEqual(sp.byOp, { Conv: { nodes: 2, flops: SUB_PIXEL_FLOPS.Conv }, MatMul: { nodes: 1, flops: SUB_PIXEL_FLOPS.MatMul } });

    // Outputs that are not onnxruntime's: refused before any timing.
    const wrong = { ...y, data: (y.data as Float32Array).map((v, i) => (i === 7 ? v + 1e-3 : v)) };
    const dir3 = join(root, 'parity-wrong');
    mkdirSync(dir3);
    await assert.rejects(peer.load({ key: 'wrong', onnx: onnxFile, ...writeParityFiles(dir3, { x }, wrong), batches: [2], tolerance: 1e-4 }), /PyTorch eager differs from onnxruntime by 0\.001/);
    await assert.rejects(peer.time({ key: 'wrong', variant: 'eager', batch: 2, threads: 1, ms: 10 }), /KeyError/);
  } finally {
    await peer.close();
  }
});

test('PyTorch behind FastAPI serves the loaded model as .npy: the shape asked for, the same bytes for the same seed, 404 for another model', { skip: skipWeb, timeout: 120_000 }, async () => {
  const peer = TorchServePeer.start();
  try {
    const g = await openGenerator(dcganDir, { device: 'cpu', threads: 1 });
    const z = sampleLatents({ seed: 3, start: 0, count: 4, dim: SPEC.latent });
    const labels = Int32Array.from({ length: 4 }, (_, i) => i % SPEC.numClasses);
    const out = await g.run(z, labels);
    await g.dispose();
    const dir = join(root, 'parity-web');
    mkdirSync(dir);
    await peer.load({ key: 'dcgan', onnx: join(dcganDir, 'generator.onnx'), ...writeParityFiles(dir, generatorFeeds(g.io, z, labels), { dtype: 'float32', data: out.data, dims: out.dims }), batches: [1], tolerance: 1e-4 });
    const { port, server } = await peer.http();
    assert.match(server, /^FastAPI [\d.]+ on uvicorn [\d.]+ \((uvloop|asyncio), (httptools|h11)\)$/);
    const ask = (key: string, body: object) => fetch(`http://127.0.0.1:${port}/v1/models/${key}/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const a = await ask('dcgan', { n: 5, seed: 11, threads: 1 });
    assert.equal(a.status, 200);
    const bytes = Buffer.from(await a.arrayBuffer());
    assert.equal(bytes.subarray(0, 6).toString('latin1'), '\x93NUMPY');
    const header = bytes.toString('latin1', 10, 10 + bytes.readUInt16LE(8));
    assert.match(header, /'descr': '<f4'.*'shape': \(5, 16, 16, 1\)/);
    const samples = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + header.length, bytes.byteOffset + bytes.length));
    assert.equal(samples.length, 5 * 16 * 16);
    assert.ok(samples.every((v) => v >= -1 && v <= 1) && new Set(samples).size > 100, 'tanh outputs, not a constant');
    const again = Buffer.from(await (await ask('dcgan', { n: 5, seed: 11, threads: 1 })).arrayBuffer());
    assert.ok(again.equals(bytes), 'the same seed gives the same samples');
    const other = Buffer.from(await (await ask('dcgan', { n: 5, seed: 12, threads: 2 })).arrayBuffer());
    assert.ok(!other.equals(bytes), 'another seed gives other samples');
    assert.equal((await ask('nope', { n: 1, seed: 0, threads: 1 })).status, 404);
  } finally {
    await peer.close();
  }
});
