/**
 * The model-folder reader and the critic (issue 35): a shipped folder written before the critic
 * existed (no `critic` in its manifest, no critic.onnx) loads exactly as before; a folder with a
 * critic exposes `critic.onnx` (and `refine.onnx`) checked by sha256, and a replaced, missing or
 * escaping critic file is a clear error naming the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { CounterRng } from '../../src/core/random.js';
import { exportModel } from '../../src/export/index.js';
import { ModelLoadError, readModelFolder } from '../../src/runtime/model-folder.js';
import { openGenerator } from '../../src/runtime/node.js';
import { buildNets } from '../../src/train/models/index.js';

await tf.setBackend('cpu');

function temp(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wganx-folder-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The ring model as shipped before critics were exported (2026-11-26): a real folder of the old format. */
const LEGACY_RING = fileURLToPath(new URL('../fixtures/legacy-ring', import.meta.url));

test('a folder exported before the critic (its manifest has no "critic") loads as before: critic and refine null, same bytes, same samples', async () => {
  const { dir, cleanup } = temp();
  try {
    const ring = join(dir, 'ring');
    cpSync(LEGACY_RING, ring, { recursive: true });
    const raw = JSON.parse(readFileSync(join(ring, 'manifest.json'), 'utf8'));
    assert.equal('critic' in raw, false, 'the legacy manifest predates the critic');
    const folder = await readModelFolder(ring, { name: 'ring', confined: true });
    assert.equal(folder.critic, null);
    assert.equal(folder.refine, null);
    assert.equal(folder.manifest.critic, null);
    assert.deepEqual(Buffer.from(folder.bytes), readFileSync(join(ring, 'generator.onnx')));
    const g = await openGenerator(ring, { device: 'cpu', threads: 1 });
    try {
      assert.equal((await g.sample({ seed: 1, n: 4 })).data.length, 8);
    } finally {
      await g.dispose();
    }
  } finally {
    cleanup();
  }
});

async function exportWithCritic(dir: string): Promise<void> {
  const spec = { kind: 'points', dataShape: [2], latent: 4, numClasses: 0, hidden: 8, layers: 2, criticActivation: 'leaky_relu', criticNorm: 'none', gCond: 'concat', dCond: 'projection' } as const;
  const { generator, critic } = await buildNets('mlp', spec, new CounterRng(2, 0));
  try {
    await exportModel(generator, dir, { name: 'pair', critic: { model: critic } });
  } finally {
    generator.dispose();
    critic.dispose();
  }
}

test('a folder with a critic: critic.onnx exposed after its sha256 check; replaced, missing or escaping files are clear errors', async () => {
  const { dir, cleanup } = temp();
  try {
    const pair = join(dir, 'pair');
    await exportWithCritic(pair);
    const folder = await readModelFolder(pair, { confined: true });
    assert.equal(folder.critic?.file, 'critic.onnx');
    assert.equal(folder.critic?.path, join(pair, 'critic.onnx'));
    assert.equal(folder.critic?.sha256, folder.manifest.critic?.sha256);
    const original = readFileSync(join(pair, 'critic.onnx'));

    writeFileSync(join(pair, 'critic.onnx'), Buffer.concat([original, Buffer.from([0])]));
    await assert.rejects(readModelFolder(pair), (e: unknown) => e instanceof ModelLoadError && /^critic\.onnx has sha256 .*, manifest\.json says .* \(file replaced or damaged\) \(manifest\.json's critic\.sha256\)$/.test((e as Error).message));

    unlinkSync(join(pair, 'critic.onnx'));
    await assert.rejects(readModelFolder(pair), (e: unknown) => e instanceof ModelLoadError && /cannot read critic\.onnx/.test((e as Error).message));

    writeFileSync(join(pair, 'critic.onnx'), original);
    const manifest = JSON.parse(readFileSync(join(pair, 'manifest.json'), 'utf8'));
    manifest.critic.file = '../ring/critic.onnx';
    writeFileSync(join(pair, 'manifest.json'), JSON.stringify(manifest));
    await assert.rejects(readModelFolder(pair), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'manifest.json.critic.file');
  } finally {
    cleanup();
  }
});
