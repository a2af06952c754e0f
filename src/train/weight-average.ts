/**
 * `--ema <decay>`: an exponential moving average of the generator's weights, the model a run
 * exports instead of its last weights (Yazıcı et al. 2019, "The Unusual Effectiveness of
 * Averaging in GAN Training"; Karras et al. use it in every StyleGAN). A GAN's generator keeps
 * circling around an equilibrium and the average sits nearer to it, without changing training at
 * all: the average is never fed back. It helps most at a constant learning rate; at the end of a
 * linear decay to 0 the last weights are already an average (bench/RESULTS.md).
 *
 * Every generator weight is averaged, batch-norm moving statistics included, after each
 * generator update: `avg ← d·avg + (1 − d)·w` with `d = min(decay, (1 + t) / (10 + t))` after `t`
 * earlier updates, so that a short run is not dominated by the random initial weights (the
 * warm-up of TensorFlow's ExponentialMovingAverage).
 *
 * @example
 *   const avg = new WeightAverage(generator, 0.999);   // starts as a copy of the weights
 *   avg.update(step);                                   // after each generator update
 *   await avg.swappedIn(() => writeSampleSheet(...));
 *   avg.writeInto();                                    // at the end: export the average
 */
import * as tf from '@tensorflow/tfjs';

/** The decay used after `updates` earlier updates: the warm-up bound, at most `decay`. */
export function averageDecay(decay: number, updates: number): number {
  return Math.min(decay, (1 + updates) / (10 + updates));
}

export class WeightAverage {
  private readonly shadow: tf.Variable[];

  /** Starts as a copy of `model`'s weights (every one, batch-norm statistics included). */
  constructor(
    private readonly model: tf.LayersModel,
    readonly decay: number,
  ) {
    this.shadow = tf.tidy(() => model.weights.map((w, i) => tf.variable(w.read().clone(), false, `ema_${i}_${w.name.replace(/[^\w]/g, '_')}`)));
  }

  /** Fold the model's current weights in; `updates` = generator updates before this one. */
  update(updates: number): void {
    const d = averageDecay(this.decay, updates);
    const weights = this.model.weights;
    tf.tidy(() => {
      for (let i = 0; i < weights.length; i++) {
        this.shadow[i].assign(tf.add(tf.mul(this.shadow[i], d), tf.mul(weights[i].read(), 1 - d)));
      }
    });
  }

  /** The averaged weights, in `model.weights` order: checkpoints save them, `restoreVariables` restores them. */
  tensors(): tf.Variable[] {
    return [...this.shadow];
  }

  /** Replace the model's weights by the averages, for good (the end of a run). */
  writeInto(): void {
    tf.tidy(() => this.model.weights.forEach((w, i) => w.write(this.shadow[i].clone())));
  }

  /** Run `fn` with the averages in the model, then put its own weights back (sample sheets mid-run). */
  async swappedIn<T>(fn: () => Promise<T>): Promise<T> {
    const own = this.model.weights.map((w) => w.read().clone());
    this.writeInto();
    try {
      return await fn();
    } finally {
      tf.tidy(() => this.model.weights.forEach((w, i) => w.write(own[i])));
      tf.dispose(own);
    }
  }

  dispose(): void {
    tf.dispose(this.shadow);
  }
}
