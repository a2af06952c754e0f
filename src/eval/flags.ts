/**
 * The flags of `wganx eval`, declared once (src/core/flags.ts): src/cli.ts builds the command's
 * options from this table. Apart from ./command.ts so that reading it loads no runtime.
 */
import { join } from 'node:path';
import type { FlagTable } from '../core/flags.js';
import { BUNDLED_MODELS_DIR } from '../io/package-paths.js';
import { REFINE_FLAGS } from '../runtime/refine/flags.js';

export const EVALUATOR_BACKENDS = ['wasm', 'cpu'] as const;
/** The shipped evaluator, inside the installed package (not the working directory: wganx may be a dependency). */
export const DEFAULT_EVALUATOR_DIR = join(BUNDLED_MODELS_DIR, 'mnist-evaluator');
/** Where --train-evaluator writes by default: the working directory's models/, never the installed package. */
export const DEFAULT_EVALUATOR_OUT = 'models/mnist-evaluator';

export const EVAL_FLAGS = {
  model: { type: 'string', flag: '--model', arg: '<dir>', nonEmpty: true, help: 'model folder (manifest.json + ONNX), e.g. models/ring' },
  samples: { type: 'int', flag: '--samples', arg: '<n>', min: 2, max: 1_000_000, help: 'samples to generate (default 2500 for toys, 2000 for MNIST)' },
  seed: { type: 'int', flag: '--seed', arg: '<s>', min: 0, max: Number.MAX_SAFE_INTEGER, default: 0, help: 'latent seed: sample i uses the latent of (seed, i); with --train-evaluator, the training seed' },
  json: { type: 'boolean', flag: '--json', default: false, help: 'print the full report as JSON instead of a table' },
  updateManifest: { type: 'boolean', flag: '--update-manifest', default: false, help: "merge the headline metrics into the model's manifest.training.metrics" },
  figures: { type: 'string', flag: '--figures', arg: '<dir>', negatable: true, negatedHelp: 'write no figure', help: 'folder for the sample figure (default runs/eval/<name>)' },
  data: { type: 'string', flag: '--data', arg: '<folder>', nonEmpty: true, help: 'image-folder models: the folder to measure against, with its held-out split (default: the folder the manifest names)' },
  evaluator: { type: 'string', flag: '--evaluator', arg: '<dir>', nonEmpty: true, help: "MNIST evaluator folder (evaluator.onnx + evaluator.json; default: wganx's own models/mnist-evaluator)" },
  threads: { type: 'int', flag: '--threads', arg: '<n>', min: 1, max: 256, default: 2, help: 'onnxruntime intra-op threads' },
  trainEvaluator: { type: 'boolean', flag: '--train-evaluator', default: false, help: 'train the MNIST evaluator on the training split and write it to --out' },
  out: { type: 'string', flag: '--out', arg: '<dir>', default: DEFAULT_EVALUATOR_OUT, nonEmpty: true, help: 'with --train-evaluator: output folder' },
  force: { type: 'boolean', flag: '--force', default: false, help: 'with --train-evaluator: replace the evaluator already in --out (the shipped one, by default)' },
  epochs: { type: 'int', flag: '--epochs', arg: '<n>', min: 1, max: 1000, default: 12, help: "with --train-evaluator, or an image folder's classifier (trained once, then cached): epochs" },
  backend: { type: 'choice', flag: '--backend', arg: '<name>', choices: EVALUATOR_BACKENDS, default: 'wasm', help: "tfjs backend that trains the evaluator or an image folder's classifier" },
  // --refine <method> and its parameters: the same samples measured again, refined by the critic.
  ...REFINE_FLAGS,
} as const satisfies FlagTable;

/** `wganx eval augment`: does the generator's data set help a classifier (src/eval/augment-eval.ts)? */
export const EVAL_AUGMENT_FLAGS = {
  model: { type: 'string', flag: '--model', arg: '<dir>', required: true, nonEmpty: true, help: 'a conditional MNIST or image-folder generator folder, e.g. models/mnist-cgan' },
  data: { type: 'string', flag: '--data', arg: '<folder>', nonEmpty: true, help: "image-folder models: the labelled folder whose training split the real arms use and whose held-out split tests (default: the manifest's)" },
  seed: { type: 'int', flag: '--seed', arg: '<s>', min: 0, max: Number.MAX_SAFE_INTEGER, default: 0, help: 'latent seed of the generated digits (as wganx augment --seed) and the classifiers\' training seed' },
  steps: { type: 'int', flag: '--steps', arg: '<n>', min: 10, max: 1_000_000, default: 1500, help: 'training steps (batches of 64) per classifier' },
  json: { type: 'boolean', flag: '--json', default: false, help: 'print the full report as JSON instead of a table' },
  updateManifest: { type: 'boolean', flag: '--update-manifest', default: false, help: "merge the figures into the model's manifest.training.metrics.augmentation" },
  threads: { type: 'int', flag: '--threads', arg: '<n>', min: 0, max: 256, default: 0, help: 'onnxruntime intra-op threads for generating (0 = one per core)' },
  backend: { type: 'choice', flag: '--backend', arg: '<name>', choices: EVALUATOR_BACKENDS, default: 'wasm', help: 'tfjs backend that trains the classifiers' },
  // The generated images refined by the critic, as wganx augment --refine writes them.
  ...REFINE_FLAGS,
} as const satisfies FlagTable;
