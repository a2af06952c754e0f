/**
 * A generator from `models/<name>/` (manifest.json + ONNX) run with onnxruntime-node on the CPU,
 * for evaluation: latents come from the core's counter-based sampler, so sample `i` of seed `s` is
 * the very vector the server and the browser would use for `(s, i)`.
 *
 * @example
 *   const g = await OnnxGenerator.open('models/ring');
 *   const points = await g.generate({ seed: 0, start: 0, count: 2500 }); // Float32Array [2500, 2]
 *   await g.close();
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { sampleLatents } from '../core/latent.js';
import { parseManifest, type Manifest } from '../core/manifest.js';

export const MANIFEST_FILE = 'manifest.json';

/** Read and validate `<dir>/manifest.json`. */
export async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new InvalidArgumentError('--model', dir, `a model folder holding ${MANIFEST_FILE} (e.g. models/<name>)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(path, 'unparsable JSON', `a JSON manifest (${(err as Error).message})`);
  }
  return parseManifest(raw, path);
}

export interface GenerateRequest {
  seed: number;
  start: number;
  count: number;
  /** One class per sample, for a conditional generator (required then, refused otherwise). */
  labels?: Int32Array | null;
}

export class OnnxGenerator {
  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly session: ort.InferenceSession,
  ) {}

  static async open(dir: string, opts: { threads?: number } = {}): Promise<OnnxGenerator> {
    const manifest = await readManifest(dir);
    const path = join(dir, manifest.export.file);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: opts.threads ?? 2, interOpNumThreads: 1 });
    } catch (err) {
      throw new WganxError(`model ${manifest.name}: onnxruntime could not load ${path}: ${(err as Error).message}`);
    }
    return new OnnxGenerator(dir, manifest, session);
  }

  /** Outputs of samples start…start+count−1 of `seed`, in the model's own output range and layout. */
  async generate(req: GenerateRequest): Promise<Float32Array> {
    const { manifest } = this;
    const { seed, start, count } = req;
    if (!Number.isSafeInteger(count) || count < 1) throw new InvalidArgumentError('count', count, 'a positive integer');
    const latentSpec = manifest.inputs.find((i) => i.role === 'latent')!;
    const labelSpec = manifest.inputs.find((i) => i.role === 'label');
    const dim = manifest.latent.dim;
    const z = sampleLatents({ seed, start, count, dim, distribution: manifest.latent.distribution });
    const feeds: Record<string, ort.Tensor> = { [latentSpec.name]: new ort.Tensor('float32', z, [count, dim]) };
    if (labelSpec) {
      const k = manifest.conditional!.numClasses;
      const labels = req.labels;
      if (!labels || labels.length !== count) throw new InvalidArgumentError('labels', labels?.length ?? null, `${count} class indices for conditional model ${manifest.name}`);
      for (const l of labels) if (!(l >= 0 && l < k)) throw new InvalidArgumentError('label', l, `an integer in [0, ${k - 1}]`);
      const dims = labelSpec.shape.length === 1 ? [count] : [count, 1];
      feeds[labelSpec.name] =
        labelSpec.dtype === 'int64'
          ? new ort.Tensor('int64', BigInt64Array.from(labels, (l) => BigInt(l)), dims)
          : labelSpec.dtype === 'int32'
            ? new ort.Tensor('int32', Int32Array.from(labels), dims)
            : new ort.Tensor('float32', Float32Array.from(labels), dims);
    } else if (req.labels) {
      throw new InvalidArgumentError('labels', 'given', `none: model ${manifest.name} is not conditional`);
    }
    const outName = manifest.outputs[0].name;
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run(feeds, [outName]);
    } catch (err) {
      const shapes = Object.entries(feeds).map(([n, t]) => `${n} ${t.type} [${t.dims.join(',')}]`).join(', ');
      throw new WganxError(`model ${manifest.name}: onnxruntime failed on ${shapes}: ${(err as Error).message}`);
    }
    const tensor = out[outName];
    const data = tensor.data;
    const result = data instanceof Float32Array ? data.slice() : Float32Array.from(data as ArrayLike<number>);
    tensor.dispose?.();
    return result;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Map values from `range` linearly onto [-1, 1] in place (no-op for [-1, 1]). */
export function toUnitRange(values: Float32Array, range: readonly [number, number]): Float32Array {
  const [lo, hi] = range;
  if (lo === -1 && hi === 1) return values;
  const scale = 2 / (hi - lo);
  for (let i = 0; i < values.length; i++) values[i] = (values[i] - lo) * scale - 1;
  return values;
}
