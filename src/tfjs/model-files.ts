/**
 * Load and save tfjs LayersModels as `model.json` + `weights.bin` on disk without @tensorflow/tfjs-node
 * (whose `file://` handler needs the native library). The format is the one `model.save('file://…')`
 * writes, so folders from tfjs-node, tfjs-converter or Python's tensorflowjs load too.
 *
 * @example
 *   await saveLayersModel(model, 'runs/ring/checkpoint/generator');
 *   const g = await loadLayersModel('runs/ring/checkpoint/generator');
 */
import * as tf from '@tensorflow/tfjs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** Resolve a model folder or a model.json path to the model.json path. */
export async function resolveModelJson(path: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new InvalidArgumentError('--model', path, 'an existing folder holding model.json, or a model.json file');
  }
  const file = info.isDirectory() ? join(path, MODEL_JSON) : path;
  try {
    await stat(file);
  } catch {
    throw new InvalidArgumentError('--model', path, `a folder that contains ${MODEL_JSON}`);
  }
  return resolve(file);
}

/** Read a tfjs model.json and its weight shards into ModelArtifacts. */
export async function readModelArtifacts(path: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = await resolveModelJson(path);
  let json: { modelTopology?: unknown; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; format?: string; generatedBy?: string; convertedBy?: string; userDefinedMetadata?: Record<string, unknown> };
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError('--model', jsonPath, `a readable tfjs model.json (${(err as Error).message})`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new InvalidArgumentError('--model', jsonPath, 'a tfjs LayersModel model.json with modelTopology and weightsManifest');
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  const folder = dirname(jsonPath);
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      // A weight file must lie inside the model's folder: model.json is input, not a file-system path.
      const inside = typeof p === 'string' && !isAbsolute(p) && !relative(folder, resolve(folder, p)).startsWith('..');
      if (!inside) throw new InvalidArgumentError(`${jsonPath}: weightsManifest.paths`, p, 'a file name inside the model folder');
      try {
        buffers.push(await readFile(join(folder, p)));
      } catch (err) {
        throw new InvalidArgumentError(`${jsonPath}: weightsManifest.paths`, p, `a readable weight file (${(err as Error).message})`);
      }
    }
  }
  const all = Buffer.concat(buffers);
  const expected = weightBytes(specs);
  if (all.length !== expected) {
    throw new InvalidArgumentError(`${jsonPath}: weights`, `${all.length} bytes`, `${expected} bytes, the sizes weightsManifest gives its ${specs.length} tensors (the weight files are damaged or belong to another model)`);
  }
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: specs,
    weightData,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    userDefinedMetadata: json.userDefinedMetadata as tf.io.ModelArtifacts['userDefinedMetadata'],
  };
}

/** Bytes per element of each weight dtype as stored (after quantization, when a tensor has it). */
const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

/** Bytes the weight files must hold for `specs`. */
function weightBytes(specs: tf.io.WeightsManifestEntry[]): number {
  let total = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const bytes = DTYPE_BYTES[dtype];
    if (bytes === undefined) throw new InvalidArgumentError(`weightsManifest.weights.${spec.name}.dtype`, dtype, Object.keys(DTYPE_BYTES).join(', '));
    total += count * bytes;
  }
  return total;
}

export async function loadLayersModel(path: string): Promise<tf.LayersModel> {
  const artifacts = await readModelArtifacts(path);
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (err) {
    // tfjs walks modelTopology recursively: a malformed or absurdly nested one fails deep inside it.
    const reason = err instanceof RangeError ? 'its modelTopology is nested too deeply to be a model' : (err as Error).message.split('\n')[0];
    throw new InvalidArgumentError('--model', await resolveModelJson(path), `a tfjs LayersModel model.json (${reason})`);
  }
}

/**
 * Save a model as `<dir>/model.json` + `<dir>/weights.bin`, each written atomically (weights first,
 * so a model.json on disk always has its weights beside it).
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      const bytes = weightData == null ? new Uint8Array(0) : new Uint8Array(Array.isArray(weightData) ? concatBuffers(weightData) : weightData);
      await writeFileAtomic(join(dir, WEIGHTS_BIN), bytes);
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: artifacts.userDefinedMetadata,
      };
      await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.byteLength } };
    }),
  );
}

function concatBuffers(parts: ArrayBuffer[]): ArrayBuffer {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), at);
    at += p.byteLength;
  }
  return out.buffer;
}
