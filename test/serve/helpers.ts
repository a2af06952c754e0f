/** Test helpers: .npy parsing, binary KServe bodies, float comparison, a bare ORT reference. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { sampleLatents } from '../../src/core/latent.js';

export function parseNpy(buf: Buffer): { shape: number[]; data: Float32Array } {
  assert.equal(buf.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  const len = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + len).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  assert.equal((10 + len) % 64, 0, 'npy data is 64-byte aligned');
  const shape = header.match(/'shape': \(([^)]*)\)/)![1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const bytes = buf.subarray(10 + len);
  return { shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= atol, `${what}: max |diff| ${worst} > ${atol}`);
}

/** A KServe request with the binary tensor data extension. */
export function binaryInfer(header: object, ...tensors: Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...tensors]), headerLength: json.length };
}

export function f32bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Outputs of a bare onnxruntime-node session on the model folder for samples (seed, start…start+n). */
export async function reference(dir: string, seed: number, start: number, n: number, labels?: number[]): Promise<Float32Array> {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const session = await ort.InferenceSession.create(join(dir, 'generator.onnx'), { intraOpNumThreads: 1 });
  const dim = manifest.latent.dim;
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of manifest.inputs) {
    if (input.role === 'latent') feeds[input.name] = new ort.Tensor('float32', sampleLatents({ seed, start, count: n, dim }), [n, dim]);
    else feeds[input.name] = new ort.Tensor('int64', BigInt64Array.from(labels!, (v) => BigInt(v)), [n, 1]);
  }
  const out = await session.run(feeds);
  await session.release();
  return out[manifest.outputs[0].name].data as Float32Array;
}
