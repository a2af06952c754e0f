/**
 * wganx/eval: sample-quality metrics.
 *
 * - toy.ts: mode coverage, % high quality and reverse KL on the ring8 / grid25 mixtures;
 * - frechet.ts: Fréchet distance between Gaussian summaries of feature sets;
 * - evaluator*.ts: the MNIST evaluator (architecture, training on the training split, ONNX export,
 *   onnxruntime inference);
 * - mnist.ts: evaluator accuracy on the requested class and FD against held-out digits;
 * - command.ts: `wganx eval`.
 *
 * @example
 *   import { evaluateModel } from 'wganx/eval';
 *   const report = await evaluateModel({ modelDir: 'models/ring', seed: 0, figuresDir: null });
 */
export * from './toy.js';
export * from './frechet.js';
export * from './evaluator.js';
export * from './mnist.js';
export { evaluateModel, toUnitRange, evalDataset, formatReport, manifestMetrics, updateManifestMetrics, EVAL_DATASETS, type EvalReport, type EvalOptions } from './command.js';
