/**
 * Gradient registrations that make double back-propagation (the WGAN-GP penalty) correct in tfjs.
 *
 * 1. Comparison ops (`Greater`, `Less`, …) and `LogicalNot` have no gradient in tfjs 4.22.
 *    First-order gradients never reach them, but the gradient of a gradient does: LeakyRelu's
 *    gradient is `where(x > 0, dy, α·dy)`, so differentiating it again walks into `Greater`
 *    (and, through `Select`'s own gradient, `LogicalNot`) and fails. Their derivative is zero
 *    wherever it exists.
 * 2. Tanh's gradient is written in terms of the op's saved *output* `y` (`dy·(1 − y²)`). The
 *    saved output is not connected to the op's input on an outer tape, so a second-order
 *    gradient silently loses the path through `y`: the gradient of the penalty w.r.t. the first
 *    layer's bias of a tanh critic comes out as zero (the test shows it). We re-register it in
 *    terms of the saved *input* `x`, which keeps every path on the tape. (Sigmoid has the same
 *    flaw; no critic uses it, so it is left alone.)
 *
 * 3. LeakyRelu's gradient as `dy·step(x, α)`: the same numbers as tfjs's `where(x > 0, dy, α·dy)`
 *    bit for bit (both multiply dy by 1 or by α), in two kernels instead of three, and a second-order
 *    path through one Multiply instead of Select, LogicalNot and zeros (the critic's every layer has
 *    one: ~7 % of a DCGAN iteration on wasm went to Greater and Select).
 *
 * 4. `AvgPoolGrad` (the gradient of a mean pool, which the resnet critic has) has no gradient in
 *    tfjs 4.22. It is linear in `dy`: its gradient is the same mean pool of the upstream gradient,
 *    and nothing flows to `input` (only its shape is used).
 *
 * These registrations are global and mathematically identical to the originals for first-order
 * use. test/train/penalty-gradient.test.ts checks the result against finite differences for every
 * critic the trainer offers.
 */
import * as tf from '@tensorflow/tfjs';

/** Binary ops (inputs `a`, `b`) whose derivative is zero wherever it exists and that tfjs 4.22 leaves without a gradient. */
const ZERO_GRADIENT_BINARY_OPS = ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr'] as const;
/** The same for unary ops (input `x`): `Select`'s gradient applies LogicalNot to its condition. */
const ZERO_GRADIENT_UNARY_OPS = ['LogicalNot'] as const;

let registered = false;

/** Idempotent; call before the first gradient-penalty step. */
export function registerTrainingGradients(): void {
  if (registered) return;
  registered = true;
  for (const kernelName of ZERO_GRADIENT_BINARY_OPS) {
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [a, b] = saved;
        return { a: () => tf.zeros(a.shape), b: () => tf.zeros(b.shape) };
      },
    });
  }
  for (const kernelName of ZERO_GRADIENT_UNARY_OPS) {
    tf.registerGradient({
      kernelName,
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const g = dy as tf.Tensor;
        return { x: () => tf.zeros(g.shape) };
      },
    });
  }
  tf.registerGradient({
    kernelName: 'LeakyRelu',
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
      const [x] = saved;
      const alpha = (attrs as { alpha: number }).alpha;
      return { x: () => tf.mul(dy as tf.Tensor, tf.step(x, alpha)) };
    },
  });
  tf.registerGradient({
    kernelName: 'AvgPoolGrad',
    inputsToSave: ['input'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
      const [input] = saved;
      const { filterSize, strides, pad } = attrs as unknown as { filterSize: [number, number]; strides: [number, number]; pad: 'valid' | 'same' | number };
      return { dy: () => tf.avgPool(dy as tf.Tensor4D, filterSize, strides, pad), input: () => tf.zerosLike(input) };
    },
  });
  tf.registerGradient({
    kernelName: 'Tanh',
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [x] = saved;
      const g = dy as tf.Tensor;
      return { x: () => tf.mul(g, tf.sub(1, tf.square(tf.tanh(x)))) };
    },
  });
}
