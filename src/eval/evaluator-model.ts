/**
 * The MNIST evaluator's architecture: a small CNN classifier whose penultimate layer doubles as the
 * feature space of the Fréchet distance.
 *
 *   image [B,28,28,1] in [-1,1]
 *     → Conv2D 16 5×5 stride 2 same, ReLU   [B,14,14,16]
 *     → Conv2D 32 5×5 stride 2 same, ReLU   [B,7,7,32]
 *     → Flatten                             [B,1568]
 *     → Dense 128, ReLU  = features          [B,128]
 *     → Dense 10, softmax = probabilities    [B,10]
 *
 * Strided convolutions instead of pooling keep to the layers the ONNX exporter converts, and keep
 * the training cost low on the CPU backends (about 220 k parameters, 0.3 M MACs per digit). No
 * dropout: a tfjs Dropout layer with a seed draws the same mask at every step, and one without a
 * seed is not reproducible; random shifts of the training digits regularise instead.
 *
 * Two models share the layers: {@link EvaluatorModels.classifier} (probabilities only) is trained,
 * {@link EvaluatorModels.twoHeaded} (probabilities and features) is exported.
 */
import * as tf from '@tensorflow/tfjs';

export const EVALUATOR_INPUT_SHAPE = [28, 28, 1] as const;
export const EVALUATOR_CLASSES = 10;
export const EVALUATOR_FEATURE_DIM = 128;
/** ONNX names of the exported model's input and outputs. */
export const EVALUATOR_IO = { input: 'image', probabilities: 'probabilities', features: 'features' } as const;

export interface EvaluatorModels {
  classifier: tf.LayersModel;
  twoHeaded: tf.LayersModel;
}

/** Build the evaluator with seeded Glorot-uniform kernels (so a training run is reproducible). */
export function buildEvaluator(seed: number): EvaluatorModels {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed * 16 + k });
  const image = tf.input({ shape: [...EVALUATOR_INPUT_SHAPE], name: EVALUATOR_IO.input });
  const conv1 = tf.layers.conv2d({ name: 'conv1', filters: 16, kernelSize: 5, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1) });
  const conv2 = tf.layers.conv2d({ name: 'conv2', filters: 32, kernelSize: 5, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(2) });
  const features = tf.layers.dense({ name: 'features', units: EVALUATOR_FEATURE_DIM, activation: 'relu', kernelInitializer: init(3) });
  const logits = tf.layers.dense({ name: 'probabilities', units: EVALUATOR_CLASSES, activation: 'softmax', kernelInitializer: init(4) });
  let x = conv1.apply(image) as tf.SymbolicTensor;
  x = conv2.apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  const feats = features.apply(x) as tf.SymbolicTensor;
  const probs = logits.apply(feats) as tf.SymbolicTensor;
  return {
    classifier: tf.model({ name: 'mnist_evaluator_train', inputs: image, outputs: probs }),
    twoHeaded: tf.model({ name: 'mnist_evaluator', inputs: image, outputs: [probs, feats] }),
  };
}
