/**
 * The flags of `wganx export`, declared once (src/core/flags.ts): src/cli.ts builds the command's
 * options from this table. Apart from ./command.ts so that reading it loads no TensorFlow.js.
 */
import type { FlagTable } from '../core/flags.js';

export const EXPORT_FLAGS = {
  model: { type: 'string', flag: '--model', arg: '<dir>', nonEmpty: true, help: 'folder holding the tfjs model.json (or the model.json path)' },
  checkpoint: { type: 'string', flag: '--checkpoint', arg: '<dir>', nonEmpty: true, help: 'instead of --model: a wganx train checkpoint (checkpoints/step-…), or a run folder for its newest one' },
  out: { type: 'string', flag: '--out', arg: '<dir>', required: true, nonEmpty: true, help: 'output folder, e.g. models/<name>; its last segment names the model' },
  opset: { type: 'int', flag: '--opset', arg: '<n>', min: 13, max: 17, default: 17, help: 'ONNX opset version' },
  fp16: { type: 'boolean', flag: '--fp16', default: false, help: 'also write generator.fp16.onnx with float16 weights' },
  triton: { type: 'string', flag: '--triton', arg: '<dir>', nonEmpty: true, help: 'also write a Triton Inference Server model repository entry under <dir>' },
  kind: { type: 'choice', flag: '--kind', arg: '<kind>', choices: ['auto', 'image', 'points'], default: 'auto', help: 'what the model outputs' },
  labels: { type: 'list', flag: '--labels', arg: '<names>', help: 'comma-separated class names for a conditional model' },
  optimize: { type: 'boolean', flag: '--optimize', default: false, help: 'instead of --model / --checkpoint: rewrite the model folder --out names (an earlier export) in place into the graph a fresh export writes (faster on the CPU), checked against its own file' },
  force: { type: 'boolean', flag: '--force', default: false, help: 'replace a model folder that holds a different model (other weights, other training command)' },
  tolerance: { type: 'number', flag: '--tolerance', arg: '<x>', min: 0, max: 1, exclusiveMin: true, default: 1e-4, help: 'largest allowed |tfjs − onnxruntime| in the parity check' },
} as const satisfies FlagTable;
