/**
 * Adam and RMSProp with state we can save and restore bit for bit.
 *
 * Why not tf.train.adam: its `setWeights` recomputes the bias-correction accumulators as
 * `pow(β, t)` while training multiplies them step by step, so a restored optimiser differs from
 * the uninterrupted one in the last bits and a resumed run drifts. Here the whole state is the
 * step count (an integer) and the moment tensors; bias corrections are computed from the step
 * count in float64 every step. Update rules follow PyTorch (torch.optim.Adam / RMSprop), the
 * implementations the WGAN and WGAN-GP papers used. On a backend that registers the `FusedAdam`
 * kernel (wasm), Adam's update of a variable is that one kernel, with the same float32 results.
 *
 * @example
 *   const opt = createOptimizer('adam', critic.trainableWeights.map((w) => w.read() as tf.Variable), { lr: 1e-4, beta1: 0, beta2: 0.9 });
 *   tf.tidy(() => opt.apply(grads, 1e-4));
 *   const saved = opt.slots();   // tf.Variable[] to checkpoint, with opt.step
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../core/errors.js';
import { FUSED_ADAM, type FusedAdamAttrs } from '../tfjs/wasm-adam.js';
import type { OptimizerName } from './config.js';

/** Added to the denominator of both optimisers (PyTorch default). */
export const OPTIMIZER_EPSILON = 1e-8;

export interface OptimizerHyper {
  lr: number;
  /** Adam: first-moment decay. RMSProp: unused (no momentum, as in the WGAN paper). */
  beta1: number;
  /** Adam: second-moment decay. RMSProp: squared-gradient decay α (PyTorch's default 0.99). */
  beta2: number;
}

export interface TrainOptimizer {
  readonly name: OptimizerName;
  /** Updates applied so far. */
  step: number;
  /** One update of every variable; `grads[i]` belongs to `vars[i]`. Call inside tf.tidy. */
  apply(grads: readonly tf.Tensor[], lr: number): void;
  /** State tensors, in a fixed order, for checkpoints. */
  slots(): tf.Variable[];
  dispose(): void;
}

function zerosSlots(vars: readonly tf.Variable[], tag: string): tf.Variable[] {
  // tidy disposes the zeros tensor; the variable keeps its own reference to the data.
  return tf.tidy(() => vars.map((v, i) => tf.variable(tf.zeros(v.shape), false, `${tag}_${i}_${v.name}`)));
}

class Adam implements TrainOptimizer {
  readonly name = 'adam' as const;
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    private readonly vars: readonly tf.Variable[],
    private readonly hp: OptimizerHyper,
  ) {
    this.m = zerosSlots(vars, 'adam_m');
    this.v = zerosSlots(vars, 'adam_v');
  }

  apply(grads: readonly tf.Tensor[], lr: number): void {
    const { beta1, beta2 } = this.hp;
    this.step += 1;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    if (tf.getKernel(FUSED_ADAM, tf.getBackend())) {
      // The same float32 operations in one kernel (wasm: src/tfjs/wasm-adam.ts).
      const attrs: FusedAdamAttrs = { beta1, beta2, stepSize: lr / bc1, sqrtBc2: Math.sqrt(bc2), epsilon: OPTIMIZER_EPSILON };
      for (let i = 0; i < this.vars.length; i++) {
        const inputs = { x: this.vars[i], m: this.m[i], v: this.v[i], g: grads[i] };
        const [x, m, v] = tf.engine().runKernel(FUSED_ADAM, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        this.vars[i].assign(x);
        this.m[i].assign(m);
        this.v[i].assign(v);
      }
      return;
    }
    const stepSize = tf.scalar(lr / bc1);
    const sqrtBc2 = tf.scalar(Math.sqrt(bc2));
    for (let i = 0; i < this.vars.length; i++) {
      const g = grads[i];
      const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
      const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
      this.m[i].assign(m);
      this.v[i].assign(v);
      const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), OPTIMIZER_EPSILON);
      this.vars[i].assign(tf.sub(this.vars[i], tf.mul(stepSize, tf.div(m, denom))));
    }
  }

  slots(): tf.Variable[] {
    return [...this.m, ...this.v];
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

class RmsProp implements TrainOptimizer {
  readonly name = 'rmsprop' as const;
  step = 0;
  private readonly sq: tf.Variable[];

  constructor(
    private readonly vars: readonly tf.Variable[],
    private readonly hp: OptimizerHyper,
  ) {
    this.sq = zerosSlots(vars, 'rmsprop_sq');
  }

  apply(grads: readonly tf.Tensor[], lr: number): void {
    const alpha = this.hp.beta2;
    this.step += 1;
    for (let i = 0; i < this.vars.length; i++) {
      const g = grads[i];
      const sq = tf.add(tf.mul(this.sq[i], alpha), tf.mul(tf.square(g), 1 - alpha));
      this.sq[i].assign(sq);
      this.vars[i].assign(tf.sub(this.vars[i], tf.mul(lr, tf.div(g, tf.add(tf.sqrt(sq), OPTIMIZER_EPSILON)))));
    }
  }

  slots(): tf.Variable[] {
    return [...this.sq];
  }

  dispose(): void {
    tf.dispose(this.sq);
  }
}

export function createOptimizer(name: OptimizerName, vars: readonly tf.Variable[], hp: OptimizerHyper): TrainOptimizer {
  switch (name) {
    case 'adam':
      return new Adam(vars, hp);
    case 'rmsprop':
      return new RmsProp(vars, hp);
    default:
      throw new InvalidArgumentError('optimizer', name, 'adam or rmsprop');
  }
}
