/**
 * A Triton Inference Server model repository entry for an exported generator:
 * `<dir>/<name>/config.pbtxt` and `<dir>/<name>/1/model.onnx`. The same folder works with KServe's
 * Triton runtime. Dims in the config exclude the batch dimension (Triton adds it via max_batch_size).
 *
 * @example
 *   await writeTritonRepository('triton', manifest, onnxBytes);
 *   // tritonserver --model-repository=triton
 */
import { join } from 'node:path';
import type { Manifest, TensorDtype } from '../core/manifest.js';
import { writeFileAtomic } from '../io/atomic-write.js';

/** Triton's data types for the ONNX element types we write. */
const TRITON_TYPES: Readonly<Record<TensorDtype, string>> = Object.freeze({
  float32: 'TYPE_FP32',
  float16: 'TYPE_FP16',
  int32: 'TYPE_INT32',
  int64: 'TYPE_INT64',
});

export interface TritonOptions {
  /** Largest batch Triton may form (default 256). */
  maxBatchSize?: number;
  /** How long Triton may wait to fill a batch (default 1000 µs). */
  maxQueueDelayMicroseconds?: number;
  /** Model instances (default 1; KIND_AUTO places them on a GPU when there is one). */
  instanceCount?: number;
}

function dims(shape: (number | string)[]): string {
  return shape
    .slice(1)
    .map((d) => (typeof d === 'number' ? String(d) : '-1'))
    .join(', ');
}

export function tritonConfig(manifest: Manifest, opts: TritonOptions = {}): string {
  const maxBatch = opts.maxBatchSize ?? 256;
  const preferred = [16, 64, maxBatch].filter((b, i, all) => b <= maxBatch && all.indexOf(b) === i);
  const tensor = (t: { name: string; dtype: TensorDtype; shape: (number | string)[] }) =>
    `  {\n    name: "${t.name}"\n    data_type: ${TRITON_TYPES[t.dtype]}\n    dims: [ ${dims(t.shape)} ]\n  }`;
  return [
    `# Triton model configuration written by wganx for "${manifest.name}" (${manifest.kind} generator).`,
    `name: "${manifest.name}"`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${maxBatch}`,
    `input [\n${manifest.inputs.map(tensor).join(',\n')}\n]`,
    `output [\n${manifest.outputs.map(tensor).join(',\n')}\n]`,
    `dynamic_batching {\n  preferred_batch_size: [ ${preferred.join(', ')} ]\n  max_queue_delay_microseconds: ${opts.maxQueueDelayMicroseconds ?? 1000}\n}`,
    `instance_group [\n  {\n    count: ${opts.instanceCount ?? 1}\n    kind: KIND_AUTO\n  }\n]`,
    '',
  ].join('\n');
}

/** Write `<dir>/<name>/config.pbtxt` and `<dir>/<name>/1/model.onnx`; returns the model folder. */
export async function writeTritonRepository(dir: string, manifest: Manifest, onnxBytes: Uint8Array, opts: TritonOptions = {}): Promise<string> {
  const modelDir = join(dir, manifest.name);
  await writeFileAtomic(join(modelDir, '1', 'model.onnx'), onnxBytes);
  await writeFileAtomic(join(modelDir, 'config.pbtxt'), tritonConfig(manifest, opts));
  return modelDir;
}
