/**
 * The WGAN-GP paper's CIFAR-10 ResNet (Gulrajani et al. 2017, `gan_cifar_resnet.py`), grown with
 * the image like the DCGAN (./ladder.ts: start side s0 ∈ 4…7, u doublings to the side S).
 *
 * Generator, c = `hidden` channels throughout (the paper: 128):
 *   z → Dense s0²·c → Reshape [s0, s0, c] → u × up-block → BN → ReLU → Conv 3×3 to C → tanh
 *   up-block(x) = Conv 1×1(Up(x)) + Conv 3×3(ReLU(BN(Conv 3×3(Up(ReLU(BN(x)))))))
 * with Up = nearest-neighbour ×2 and, for a conditional model, conditional batch norm: batch norm,
 * then a per-class scale γ(y) (starting at 1) and shift β(y) (at 0) looked up from embeddings
 * (`--g-cond` does not apply).
 * Critic (no normalisation: the penalty is per example), act = `--critic-activation` (the paper: ReLU):
 *   x (conditional `concat`: ‖ a label plane) → first block: Conv 1×1(Pool(x)) + Pool(Conv 3×3(act(Conv 3×3(x))))
 *   → (u − 2) × down-block → 2 × plain block → act → mean over the map → Dense 1
 *   (conditional `projection`: + ⟨embed(y), φ⟩; `--ac-weight`: class logits)
 *   down-block(x) = Pool(Conv 1×1(x)) + Pool(Conv 3×3(act(Conv 3×3(act(x)))))
 *   plain block(x) = x + Conv 3×3(act(Conv 3×3(act(x))))
 * with Pool = mean over 2×2. At 32 px this is the paper's net: 32 → 16 → 8, then two blocks at 8×8.
 */
import * as tf from '@tensorflow/tfjs';
import { apply, activationLayer, convCriticInput, type Sym } from './blocks.js';
import { squareLadder, type Ladder } from './ladder.js';
import { criticHead } from './mlp.js';
import type { NetSpec } from './spec.js';

/** Plain blocks at the critic's last resolution (the paper: 2). */
const PLAIN_BLOCKS = 2;

function ladderOf(spec: NetSpec): Ladder {
  return squareLadder(spec.dataShape, 'resnet');
}

function conv(name: string, filters: number, kernelSize: number, x: Sym): Sym {
  return apply(tf.layers.conv2d({ filters, kernelSize, padding: 'same', name }), x);
}

/** Batch norm, conditional on the label when there is one (per-class scale and shift). */
function norm(name: string, x: Sym, channels: number, spec: NetSpec, label: Sym | null): Sym {
  if (!label) return apply(tf.layers.batchNormalization({ name }), x);
  // tfjs's BatchNormalization cannot train without its own scale and shift (center/scale false
  // reads a missing gamma), so they stay, shared by the classes, under the per-class ones.
  const h = apply(tf.layers.batchNormalization({ name }), x);
  const per = (what: 'gamma' | 'beta') =>
    apply(tf.layers.reshape({ targetShape: [1, 1, channels], name: `${name}_${what}_map` }), apply(tf.layers.embedding({ inputDim: spec.numClasses, outputDim: channels, name: `${name}_${what}` }), label));
  const scaled = apply(tf.layers.multiply({ name: `${name}_scaled` }), [h, per('gamma')]);
  return apply(tf.layers.add({ name: `${name}_shifted` }), [scaled, per('beta')]);
}

export function buildGenerator(spec: NetSpec): tf.LayersModel {
  const channels = spec.dataShape[2];
  const { start, ups } = ladderOf(spec);
  const c = spec.hidden;
  const z = tf.input({ shape: [spec.latent], name: 'g_z' });
  const inputs: Sym[] = [z];
  let label: Sym | null = null;
  if (spec.numClasses > 0) {
    label = tf.input({ shape: [1], dtype: 'int32', name: 'g_label' });
    inputs.push(label);
  }
  let h = apply(tf.layers.dense({ units: start * start * c, name: 'g_project' }), z);
  h = apply(tf.layers.reshape({ targetShape: [start, start, c], name: 'g_reshape' }), h);
  for (let b = 1; b <= ups; b++) {
    const p = `g_b${b}`;
    const shortcut = conv(`${p}_shortcut`, c, 1, apply(tf.layers.upSampling2d({ size: [2, 2], name: `${p}_up_shortcut` }), h));
    let m = apply(tf.layers.reLU({ name: `${p}_relu1` }), norm(`${p}_n1`, h, c, spec, label));
    m = conv(`${p}_conv1`, c, 3, apply(tf.layers.upSampling2d({ size: [2, 2], name: `${p}_up` }), m));
    m = apply(tf.layers.reLU({ name: `${p}_relu2` }), norm(`${p}_n2`, m, c, spec, label));
    m = conv(`${p}_conv2`, c, 3, m);
    h = apply(tf.layers.add({ name: `${p}_out` }), [shortcut, m]);
  }
  h = apply(tf.layers.reLU({ name: 'g_relu_out' }), norm('g_n_out', h, c, spec, label));
  h = apply(tf.layers.conv2d({ filters: channels, kernelSize: 3, padding: 'same', activation: 'tanh', name: 'g_image' }), h);
  return tf.model({ inputs, outputs: h, name: 'generator' });
}

function pool(name: string, x: Sym): Sym {
  return apply(tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name }), x);
}

export function buildCritic(spec: NetSpec): tf.LayersModel {
  const { ups } = ladderOf(spec);
  const c = spec.hidden;
  const act = (name: string, x: Sym) => apply(activationLayer(spec.criticActivation, name), x);
  const { inputs, label, h: input } = convCriticInput(spec);
  let h = input;
  // The first block (no activation before its first convolution: it sees the image).
  let m = conv('d_b1_conv2', c, 3, act('d_b1_act1', conv('d_b1_conv1', c, 3, h)));
  h = apply(tf.layers.add({ name: 'd_b1_out' }), [conv('d_b1_shortcut', c, 1, pool('d_b1_pool_shortcut', h)), pool('d_b1_pool', m)]);
  const downs = Math.max(0, ups - 2);
  for (let b = 2; b < 2 + downs + PLAIN_BLOCKS; b++) {
    const down = b < 2 + downs;
    const p = `d_b${b}`;
    m = conv(`${p}_conv2`, c, 3, act(`${p}_act2`, conv(`${p}_conv1`, c, 3, act(`${p}_act1`, h))));
    const shortcut = down ? pool(`${p}_pool_shortcut`, conv(`${p}_shortcut`, c, 1, h)) : h;
    h = apply(tf.layers.add({ name: `${p}_out` }), [shortcut, down ? pool(`${p}_pool`, m) : m]);
  }
  h = apply(tf.layers.globalAveragePooling2d({ name: 'd_mean' }), act('d_act_out', h));
  return tf.model({ inputs, outputs: criticHead(spec, h, c, label), name: 'critic' });
}
