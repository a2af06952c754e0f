/**
 * `wganx export --optimize`: a model folder written before the graph rewrite (src/export/
 * optimize-folder.ts) is brought to the graph a fresh export writes, in place, checked against its
 * own file; the manifest keeps every field but the file's sha256 and the parity bound; a folder
 * already in the fast form, or one whose check fails, is left untouched.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParityError } from '../../src/core/errors.js';
import { CounterRng } from '../../src/core/random.js';
import { MANIFEST_METADATA_KEY } from '../../src/core/manifest.js';
import { convertLayersModel, exportModel, ModelFolderTaken, readOnnxManifest } from '../../src/export/index.js';
import { embedManifest } from '../../src/export/metadata.js';
import { decodeModel, onnx } from '../../src/export/onnx-builder.js';
import { optimizeModelFolder } from '../../src/export/optimize-folder.js';
import { readModelFolder } from '../../src/runtime/model-folder.js';
import { openGenerator } from '../../src/runtime/node.js';
import { buildNets } from '../../src/train/models/index.js';
import { randomizeBatchNorms, runOnnxChecker } from './helpers.js';

await tf.setBackend('cpu');
const root = mkdtempSync(join(tmpdir(), 'wganx-optimize-'));
after(() => rmSync(root, { recursive: true, force: true }));

let generator: tf.LayersModel;
let other: tf.LayersModel;
/** A conditional 28 px DCGAN with 16 base channels: its 32 → 16 layer is rewritten. */
async function dcgan(seed: number): Promise<tf.LayersModel> {
  const spec = { kind: 'image', dataShape: [28, 28, 1], latent: 12, numClasses: 3, hidden: 16, layers: 3, criticActivation: 'leaky_relu', criticNorm: 'none', gCond: 'concat', dCond: 'projection' } as const;
  const nets = await buildNets('dcgan', spec, new CounterRng(seed, 0));
  nets.critic.dispose();
  randomizeBatchNorms(nets.generator);
  return nets.generator;
}
before(async () => {
  generator = await dcgan(3);
  other = await dcgan(4);
});

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const read = (dir: string) => ({ onnx: readFileSync(join(dir, 'generator.onnx')), manifest: readFileSync(join(dir, 'manifest.json'), 'utf8') });
const graphOnly = (bytes: Uint8Array) => {
  const m = decodeModel(bytes);
  m.metadataProps = (m.metadataProps ?? []).filter((p) => p.key !== MANIFEST_METADATA_KEY);
  return onnx.ModelProto.encode(m).finish();
};

/** An export as the exporter wrote it before the rewrite: the plain graph with the same manifest. */
async function oldFolder(name: string, model = generator): Promise<string> {
  const dir = join(root, name);
  await exportModel(model, dir, { name, labels: ['a', 'b', 'c'] });
  const bytes = embedManifest(convertLayersModel(model, { rewrite: false, outputNames: ['samples'], graphName: name }).bytes, readOnnxManifest(readFileSync(join(dir, 'generator.onnx'))));
  writeFileSync(join(dir, 'generator.onnx'), bytes);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.export.sha256 = sha(bytes);
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await readModelFolder(dir); // a valid folder
  return dir;
}

test('an old folder is rewritten in place into the graph a fresh export writes; the manifest keeps every field but sha256 and the parity bound; samples agree within 1e-5', async () => {
  const dir = await oldFolder('old');
  const fresh = join(root, 'fresh');
  await exportModel(generator, fresh, { name: 'old', labels: ['a', 'b', 'c'] });
  const oldFiles = read(dir);
  const oldManifest = JSON.parse(oldFiles.manifest);
  assert.ok(decodeModel(oldFiles.onnx).graph!.node!.some((n) => n.opType === 'ConvTranspose' && (n.input ?? []).some((i) => i.includes('g_deconv_1'))));

  const r = await optimizeModelFolder(dir);
  assert.equal(r.changed, true);
  assert.deepEqual(r.changes, [
    'g_project: Gemm columns in NCHW order, g_reshape to [0, 32, 7, 7], its Transpose dropped',
    'g_deconv_1: ConvTranspose 32→16 (7×7 → 14×14) as 4 phase convolutions, Relu fused',
  ]);
  const now = read(dir);
  assert.deepEqual(graphOnly(now.onnx), graphOnly(readFileSync(join(fresh, 'generator.onnx'))), 'the graph a fresh export of the same weights writes');
  const manifest = JSON.parse(now.manifest);
  assert.equal(manifest.export.sha256, sha(now.onnx));
  for (const [batch, d] of Object.entries(r.rewriteMaxAbsDiff)) {
    assert.ok(d > 0 && d <= 1e-5, `batch ${batch}: ${d}`);
    assert.equal(manifest.export.parity.maxAbsDiff[batch], oldManifest.export.parity.maxAbsDiff[batch] + d);
  }
  assert.deepEqual(Object.keys(r.rewriteMaxAbsDiff), ['1', '64']);
  const rest = (m: { export: Record<string, unknown> }) => ({ ...m, export: { ...m.export, sha256: null, parity: { ...(m.export.parity as object), maxAbsDiff: null } } });
  assert.deepEqual(rest(manifest), rest(oldManifest));
  // The embedded manifest is the new one, without the file's own hash.
  assert.deepEqual(readOnnxManifest(now.onnx).export.parity.maxAbsDiff, manifest.export.parity.maxAbsDiff);
  assert.equal(readOnnxManifest(now.onnx).export.sha256, null);

  // Sample i of seed s: the same images within 1e-5 from the old and the new file.
  const copy = join(root, 'old-copy');
  cpSync(dir, copy, { recursive: true });
  writeFileSync(join(copy, 'generator.onnx'), oldFiles.onnx);
  writeFileSync(join(copy, 'manifest.json'), oldFiles.manifest);
  const [a, b] = await Promise.all([openGenerator(copy), openGenerator(dir)]);
  try {
    const [x, y] = await Promise.all([a.sample({ seed: 5, start: 3, n: 9 }), b.sample({ seed: 5, start: 3, n: 9 })]);
    const d = (x.data as Float32Array).reduce((m, v, i) => Math.max(m, Math.abs(v - (y.data as Float32Array)[i])), 0);
    assert.ok(d <= 1e-5, `samples differ by ${d}`);
  } finally {
    await Promise.all([a.dispose(), b.dispose()]);
  }

  // Again: already in the fast form, nothing written.
  const again = await optimizeModelFolder(dir);
  assert.equal(again.changed, false);
  assert.deepEqual(read(dir), now);
  const { checked, failures } = runOnnxChecker([join(dir, 'generator.onnx')]);
  assert.equal(checked, 1);
  assert.deepEqual(failures, []);
});

test('a rewrite that would break the recorded tolerance writes nothing (ParityError)', async () => {
  const dir = await oldFolder('tight');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.export.parity.tolerance = Math.max(...(Object.values(manifest.export.parity.maxAbsDiff) as number[]));
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const before = read(dir);
  await assert.rejects(optimizeModelFolder(dir), (e: unknown) => e instanceof ParityError && /exceeds the tolerance .*; nothing was written$/.test((e as Error).message));
  assert.deepEqual(read(dir), before);
});

test('re-exporting the same weights over a folder written before the rewrite needs no --force; other weights do', async () => {
  const dir = await oldFolder('reexport');
  await exportModel(generator, dir, { name: 'reexport', labels: ['a', 'b', 'c'] });
  const dir2 = await oldFolder('reexport2');
  await assert.rejects(exportModel(other, dir2, { name: 'reexport2', labels: ['a', 'b', 'c'] }), ModelFolderTaken);
});

test('wganx export --optimize --out <folder>: rewrites, then says it is already done; refuses another source (exit 1, the flag named)', async () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8' });
  const dir = await oldFolder('cli');
  const first = cli(['export', '--optimize', '--out', dir]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^optimized cli: 2 rewrites\n {2}onnx {6}.*generator\.onnx \(sha256 [0-9a-f]{64}\)\n/);
  assert.match(first.stdout, /rewrite {3}batch 1: \d\.\d\de-\d+, batch 64: \d\.\d\de-\d+ against the old file/);
  assert.match(first.stderr, /rewrite: g_deconv_1: ConvTranspose 32→16/);
  const second = cli(['export', '--optimize', '--out', dir]);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /already in the fast form; nothing was written/);
  const refused = cli(['export', '--optimize', '--out', dir, '--model', dir]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^wganx: --model: .* is not allowed; expected nothing with --optimize/m);
  const missing = cli(['export', '--optimize', '--out', join(root, 'nothing-here')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^wganx: --out: ".*nothing-here" is not allowed; expected a model folder to rewrite, holding manifest\.json \(there is no such folder\)$/m);
});
