/**
 * The flags of `wganx augment`, declared once (src/core/flags.ts): src/cli.ts builds the command's
 * options from this table and ./plan.ts checks what they mean together.
 */
import type { FlagTable } from '../core/flags.js';
import { NODE_DEVICE_REQUESTS } from '../runtime/devices.js';
import { REFINE_FLAGS } from '../runtime/refine/flags.js';
import { AUGMENT_FORMATS, FORMATS } from './formats/index.js';

export { AUGMENT_FORMATS, type AugmentFormat } from './formats/index.js';

/** The environment variable of the API key: the same as wganx serve's. */
export const API_KEY_ENV = 'WGANX_API_KEY';

export const AUGMENT_FLAGS = {
  model: { type: 'string', flag: '--model', arg: '<dir>', required: true, nonEmpty: true, help: 'model folder (manifest.json + ONNX), e.g. models/mnist-cgan; with --remote, also the name of a model the server serves' },
  perClass: { type: 'int', flag: '--per-class', arg: '<k>', min: 1, max: 1e9, help: 'samples per class (conditional models); sample k of class c uses the latent of index k·classes + c' },
  count: { type: 'int', flag: '--count', arg: '<n>', min: 1, max: 1e12, help: 'samples in all: indices 0…n−1, classes by the default rule (the server\'s)' },
  out: { type: 'string', flag: '--out', arg: '<dir>', required: true, nonEmpty: true, help: 'the data set folder (new, or written by the same command: it resumes)' },
  format: { type: 'choice', flag: '--format', arg: '<f>', choices: AUGMENT_FORMATS, default: 'png', help: AUGMENT_FORMATS.map((f) => `${f}: ${FORMATS[f].help}`).join('; ') },
  seed: { type: 'int', flag: '--seed', arg: '<s>', min: 0, max: Number.MAX_SAFE_INTEGER, default: 0, help: 'latent seed: sample index i uses the latent of (seed, i), as the server does' },
  shard: { type: 'string', flag: '--shard', arg: '<i/k>', nonEmpty: true, help: 'write part i of k (0 ≤ i < k): the files of every k-th chunk; the k parts together are the whole data set' },
  chunk: { type: 'int', flag: '--chunk', arg: '<n>', min: 1, max: 1_000_000, default: 1000, help: 'samples per npz/tar/csv file, and per unit of --shard' },
  batch: { type: 'int', flag: '--batch', arg: '<n>', min: 1, max: 65536, default: 256, help: 'samples per generator run (does not change the files)' },
  device: { type: 'choice', flag: '--device', arg: '<device>', choices: NODE_DEVICE_REQUESTS, default: 'auto', help: 'execution provider; auto tries cuda, then webgpu, then cpu' },
  threads: { type: 'int', flag: '--threads', arg: '<n>', min: 0, max: 256, default: 0, help: 'onnxruntime intra-op threads (0 = one per core)' },
  scale: { type: 'int', flag: '--scale', arg: '<f>', min: 1, max: 16, default: 1, help: 'integer upscaling of images (nearest neighbour)' },
  classes: { type: 'list', flag: '--classes', arg: '<a,b,…>', help: 'with --per-class: only these classes (names or indices)' },
  remote: { type: 'string', flag: '--remote', arg: '<url>', nonEmpty: true, help: 'draw the samples from this wganx serve or KServe v2 server (latents still drawn here: the files are the same)' },
  apiKey: { type: 'string', flag: '--api-key', arg: '<key>', nonEmpty: true, env: API_KEY_ENV, help: `with --remote: the server's API key, sent as Authorization: Bearer (default: $${API_KEY_ENV}); never printed` },
  // --refine <method> and its parameters: each sample refined by the model's critic (recorded in summary.json).
  ...REFINE_FLAGS,
} as const satisfies FlagTable;
