/**
 * One converter per tfjs layer class: tfjs layer + ONNX input values → ONNX output values.
 *
 * Converters refuse (UnsupportedLayerError naming the layer, its class and the option) whatever they
 * cannot reproduce exactly; the exporter never writes a silently different graph.
 */
import * as tf from '@tensorflow/tfjs';
import { config, pair, requireChannelsLast, unsupported } from './layer-config.js';
import { ConvertContext, Value, layerWeights, permute, requireWeight } from './context.js';
import { AttrValue, DataType, float } from './onnx-builder.js';
import { CRITIC_LAYER_CONVERTERS } from './critic-layers.js';

/** Inference-time affine map `y = x·scale + shift` per channel (a BatchNormalization folded in). */
export interface ChannelAffine {
  scale: Float32Array;
  shift: Float32Array;
}

export interface LayerCall {
  ctx: ConvertContext;
  layer: tf.layers.Layer;
  inputs: Value[];
  /** Public (tfjs) shapes of the layer's outputs, batch null. */
  outputShapes: (number | null)[][];
  /** Set when the following BatchNormalization is folded into this layer. */
  fold?: ChannelAffine;
}

export type LayerConverter = (call: LayerCall) => Value[];


// ── activations ──────────────────────────────────────────────────────────────────────────────

/** tfjs activation identifier → ONNX node(s). Frozen: the one table of supported activations. */
const ACTIVATIONS: Readonly<Record<string, (ctx: ConvertContext, v: Value, hint: string) => Value>> = Object.freeze({
  linear: (_ctx, v) => v,
  relu: (ctx, v, h) => unary(ctx, 'Relu', v, h),
  relu6: (ctx, v, h) => clip(ctx, v, 0, 6, h),
  elu: (ctx, v, h) => unary(ctx, 'Elu', v, h, { alpha: float(1) }),
  selu: (ctx, v, h) => unary(ctx, 'Selu', v, h),
  tanh: (ctx, v, h) => unary(ctx, 'Tanh', v, h),
  sigmoid: (ctx, v, h) => unary(ctx, 'Sigmoid', v, h),
  hardSigmoid: (ctx, v, h) => unary(ctx, 'HardSigmoid', v, h, { alpha: float(0.2), beta: float(0.5) }),
  softplus: (ctx, v, h) => unary(ctx, 'Softplus', v, h),
  softsign: (ctx, v, h) => unary(ctx, 'Softsign', v, h),
  swish: (ctx, v, h) => {
    const s = unary(ctx, 'Sigmoid', v, `${h}_sigmoid`);
    return ctx.derive(v, ctx.graph.node('Mul', [v.name, s.name], {}, [h])[0]);
  },
  softmax: (ctx, v, h) => softmax(ctx, v, -1, h),
});

export const SUPPORTED_ACTIVATIONS = Object.keys(ACTIVATIONS);

function unary(ctx: ConvertContext, op: string, v: Value, hint: string, attrs = {}): Value {
  return ctx.derive(v, ctx.graph.node(op, [v.name], attrs, [hint])[0]);
}

function clip(ctx: ConvertContext, v: Value, lo: number, hi: number, hint: string): Value {
  const min = ctx.graph.initializer(`${hint}_min`, [], new Float32Array([lo]));
  const max = ctx.graph.initializer(`${hint}_max`, [], new Float32Array([hi]));
  return ctx.derive(v, ctx.graph.node('Clip', [v.name, min, max], {}, [hint])[0]);
}

function softmax(ctx: ConvertContext, v: Value, axis: number, hint: string): Value {
  // tfjs softmax runs on the NHWC tensor; do the same so `axis` means what it meant there.
  const x = ctx.nhwc(v);
  return ctx.derive(x, ctx.graph.node('Softmax', [x.name], { axis }, [hint])[0]);
}

/** Apply a layer's fused `activation` option (Dense, Conv2D, …). */
export function applyActivation(ctx: ConvertContext, layer: tf.layers.Layer, v: Value, name: unknown): Value {
  const id = String(name ?? 'linear');
  const fn = ACTIVATIONS[id];
  if (!fn) unsupported(layer, `activation "${id}" (supported: ${SUPPORTED_ACTIVATIONS.join(', ')})`);
  return fn(ctx, v, `${layer.name}_${id}`);
}

// ── helpers ─────────────────────────────────────────────────────────────────────────────────

/** Add the folded per-channel affine map into a kernel (channel axis `axis`) and a bias. */
function foldAffine(kernel: { shape: number[]; data: Float32Array }, bias: Float32Array, axis: number, fold?: ChannelAffine) {
  if (!fold) return { kernel: kernel.data, bias };
  const channels = kernel.shape[axis];
  const inner = kernel.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const k = Float32Array.from(kernel.data);
  for (let i = 0; i < k.length; i++) k[i] *= fold.scale[Math.floor(i / inner) % channels];
  const b = new Float32Array(channels);
  for (let c = 0; c < channels; c++) b[c] = bias[c] * fold.scale[c] + fold.shift[c];
  return { kernel: k, bias: b };
}

function biasOf(layer: tf.layers.Layer, weights: ReturnType<typeof layerWeights>, channels: number, useBias: unknown): Float32Array {
  if (useBias === false) return new Float32Array(channels);
  return requireWeight(layer, weights, 'bias').data;
}

// ── layers ──────────────────────────────────────────────────────────────────────────────────

const dense: LayerConverter = ({ ctx, layer, inputs, outputShapes, fold }) => {
  const cfg = config(layer);
  const w = layerWeights(layer);
  const kernel = requireWeight(layer, w, 'kernel');
  const [inDim, units] = kernel.shape;
  const { kernel: k, bias: b } = foldAffine(kernel, biasOf(layer, w, units, cfg.useBias), 1, fold);
  const K = ctx.graph.initializer(`${layer.name}/kernel`, [inDim, units], k);
  const B = ctx.graph.initializer(`${layer.name}/bias`, [units], b);
  const x = ctx.float(ctx.nhwc(inputs[0]));
  let y: Value;
  if (x.shape.length === 2) {
    y = ctx.derive(x, ctx.graph.node('Gemm', [x.name, K, B], {}, [layer.name], layer.name)[0], outputShapes[0]);
  } else {
    // Dense on rank > 2 acts on the last axis: MatMul broadcasts over the leading ones.
    const [m] = ctx.graph.node('MatMul', [x.name, K], {}, [`${layer.name}_matmul`]);
    y = ctx.derive(x, ctx.graph.node('Add', [m, B], {}, [layer.name], layer.name)[0], outputShapes[0]);
  }
  return [applyActivation(ctx, layer, y, cfg.activation)];
};

const conv2d: LayerConverter = ({ ctx, layer, inputs, outputShapes, fold }) => {
  const cfg = config(layer);
  requireChannelsLast(layer, cfg);
  const w = layerWeights(layer);
  const kernel = requireWeight(layer, w, 'kernel'); // [kh, kw, in, out]
  const [kh, kw, , cout] = kernel.shape;
  const folded = foldAffine(kernel, biasOf(layer, w, cout, cfg.useBias), 3, fold);
  const onnxKernel = permute(folded.kernel, kernel.shape, [3, 2, 0, 1]); // [out, in, kh, kw]
  const K = ctx.graph.initializer(`${layer.name}/kernel`, onnxKernel.shape, onnxKernel.data);
  const B = ctx.graph.initializer(`${layer.name}/bias`, [cout], folded.bias);
  const padding = String(cfg.padding);
  if (padding !== 'same' && padding !== 'valid') unsupported(layer, `padding "${padding}" (only same, valid)`);
  const x = ctx.nchw(ctx.float(inputs[0]));
  const strides = pair(cfg.strides ?? 1);
  const dilations = pair(cfg.dilationRate ?? 1);
  const attrs: Record<string, AttrValue> = { kernel_shape: [kh, kw], strides, dilations, pads: [0, 0, 0, 0] };
  if (padding === 'same') {
    const [h, w] = [x.shape[1], x.shape[2]];
    if (h != null && w != null) {
      // TensorFlow's "same": output ⌈in/s⌉, total padding split with the odd pixel at the end.
      const pads = [0, 0, 0, 0];
      [h, w].forEach((size, i) => {
        const k = ([kh, kw][i] - 1) * dilations[i] + 1;
        const total = Math.max((Math.ceil(size / strides[i]) - 1) * strides[i] + k - size, 0);
        pads[i] = Math.floor(total / 2);
        pads[i + 2] = total - pads[i];
      });
      attrs.pads = pads;
    } else if (dilations[0] === 1 && dilations[1] === 1) {
      delete attrs.pads;
      attrs.auto_pad = 'SAME_UPPER'; // the same rule, resolved at run time
    } else {
      unsupported(layer, 'padding "same" with dilation needs fixed input height and width');
    }
  }
  const y = ctx.derive(x, ctx.graph.node('Conv', [x.name, K, B], attrs, [layer.name], layer.name)[0], outputShapes[0]);
  return [applyActivation(ctx, layer, y, cfg.activation)];
};

const conv2dTranspose: LayerConverter = ({ ctx, layer, inputs, outputShapes, fold }) => {
  const cfg = config(layer);
  requireChannelsLast(layer, cfg);
  const dilation = pair(cfg.dilationRate ?? 1);
  if (dilation[0] !== 1 || dilation[1] !== 1) unsupported(layer, `dilationRate ${JSON.stringify(cfg.dilationRate)} (only 1)`);
  const w = layerWeights(layer);
  const kernel = requireWeight(layer, w, 'kernel'); // [kh, kw, out, in]
  const [kh, kw, cout] = kernel.shape;
  const folded = foldAffine(kernel, biasOf(layer, w, cout, cfg.useBias), 2, fold);
  const onnxKernel = permute(folded.kernel, kernel.shape, [3, 2, 0, 1]); // [in, out, kh, kw]
  const K = ctx.graph.initializer(`${layer.name}/kernel`, onnxKernel.shape, onnxKernel.data);
  const B = ctx.graph.initializer(`${layer.name}/bias`, [cout], folded.bias);
  const strides = pair(cfg.strides ?? 1);
  const padding = String(cfg.padding);
  if (padding !== 'same' && padding !== 'valid') unsupported(layer, `padding "${padding}" (only same, valid)`);
  // tfjs output length: same → in·s; valid → in·s + max(k − s, 0). ONNX ConvTranspose yields
  // (in − 1)·s + k − pads + output_padding: crop (k − s) when k ≥ s (the smaller half first, as
  // TensorFlow does), else pad (s − k) zeros at the end.
  const pads = [0, 0, 0, 0];
  const outputPadding = [0, 0];
  [kh, kw].forEach((k, i) => {
    const s = strides[i];
    if (k >= s) {
      if (padding === 'same') {
        pads[i] = Math.floor((k - s) / 2);
        pads[i + 2] = k - s - pads[i];
      }
    } else {
      outputPadding[i] = s - k;
    }
  });
  const x = ctx.nchw(ctx.float(inputs[0]));
  const attrs = { kernel_shape: [kh, kw], strides, pads, output_padding: outputPadding };
  const y = ctx.derive(x, ctx.graph.node('ConvTranspose', [x.name, K, B], attrs, [layer.name], layer.name)[0], outputShapes[0]);
  return [applyActivation(ctx, layer, y, cfg.activation)];
};

/** Per-channel scale and shift of an inference-mode BatchNormalization. */
export function batchNormAffine(layer: tf.layers.Layer): ChannelAffine {
  const cfg = config(layer);
  const w = layerWeights(layer);
  const mean = requireWeight(layer, w, 'moving_mean').data;
  const variance = requireWeight(layer, w, 'moving_variance').data;
  const gamma = cfg.scale === false ? null : requireWeight(layer, w, 'gamma').data;
  const beta = cfg.center === false ? null : requireWeight(layer, w, 'beta').data;
  const eps = Number(cfg.epsilon ?? 1e-3);
  const scale = new Float32Array(mean.length);
  const shift = new Float32Array(mean.length);
  for (let c = 0; c < mean.length; c++) {
    const a = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
    scale[c] = a;
    shift[c] = (beta ? beta[c] : 0) - mean[c] * a;
  }
  return { scale, shift };
}

/** BatchNormalization normalises the channel (last) axis only. */
export function batchNormIsChannelwise(layer: tf.layers.Layer, rank: number): boolean {
  const axis = config(layer).axis;
  const a = Array.isArray(axis) ? (axis.length === 1 ? Number(axis[0]) : NaN) : Number(axis ?? -1);
  return a === -1 || a === rank - 1;
}

const batchNormalization: LayerConverter = ({ ctx, layer, inputs }) => {
  const x = ctx.float(inputs[0]);
  if (!batchNormIsChannelwise(layer, x.shape.length)) unsupported(layer, `axis ${JSON.stringify(config(layer).axis)} (only the last, channel axis)`);
  const { scale, shift } = batchNormAffine(layer);
  // y = x·scale + shift, broadcast over the channel axis of whichever layout x is in.
  const dims = x.layout === 'NCHW' ? [scale.length, 1, 1] : [scale.length];
  const S = ctx.graph.initializer(`${layer.name}/scale`, dims, scale);
  const T = ctx.graph.initializer(`${layer.name}/shift`, dims, shift);
  const [m] = ctx.graph.node('Mul', [x.name, S], {}, [`${layer.name}_scaled`]);
  return [ctx.derive(x, ctx.graph.node('Add', [m, T], {}, [layer.name], layer.name)[0])];
};

const layerNormalization: LayerConverter = ({ ctx, layer, inputs }) => {
  const cfg = config(layer);
  const x = ctx.float(ctx.nhwc(inputs[0]));
  const rank = x.shape.length;
  const axes = (Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1]).map((a) => (Number(a) + rank) % rank).sort((a, b) => a - b);
  const first = axes[0];
  if (first === 0 || axes.some((a, i) => a !== first + i) || axes[axes.length - 1] !== rank - 1) {
    unsupported(layer, `axis ${JSON.stringify(cfg.axis)} (only trailing axes, e.g. -1)`);
  }
  const normShape = axes.map((a) => x.shape[a]);
  if (normShape.some((d) => d == null)) unsupported(layer, 'normalised axes must have fixed sizes');
  const size = (normShape as number[]).reduce((a, b) => a * b, 1);
  const w = layerWeights(layer);
  const gamma = cfg.scale === false ? new Float32Array(size).fill(1) : requireWeight(layer, w, 'gamma').data;
  const beta = cfg.center === false ? new Float32Array(size) : requireWeight(layer, w, 'beta').data;
  const eps = Number(cfg.epsilon ?? 1e-3);
  const G = ctx.graph.initializer(`${layer.name}/gamma`, normShape as number[], gamma);
  const Bt = ctx.graph.initializer(`${layer.name}/beta`, normShape as number[], beta);
  const g = ctx.graph;
  if (ctx.opset >= 17) {
    return [ctx.derive(x, g.node('LayerNormalization', [x.name, G, Bt], { axis: first, epsilon: float(eps) }, [layer.name], layer.name)[0])];
  }
  // Before opset 17: (x − mean) / sqrt(var + eps) · gamma + beta, population variance as tfjs.
  const [mean] = g.node('ReduceMean', [x.name], { axes, keepdims: 1 }, [`${layer.name}_mean`]);
  const [d] = g.node('Sub', [x.name, mean], {}, [`${layer.name}_centered`]);
  const [sq] = g.node('Mul', [d, d], {}, [`${layer.name}_sq`]);
  const [variance] = g.node('ReduceMean', [sq], { axes, keepdims: 1 }, [`${layer.name}_var`]);
  const E = g.initializer(`${layer.name}/epsilon`, [], new Float32Array([eps]));
  const [ve] = g.node('Add', [variance, E], {}, [`${layer.name}_var_eps`]);
  const [sd] = g.node('Sqrt', [ve], {}, [`${layer.name}_std`]);
  const [n] = g.node('Div', [d, sd], {}, [`${layer.name}_normed`]);
  const [s] = g.node('Mul', [n, G], {}, [`${layer.name}_scaled`]);
  return [ctx.derive(x, g.node('Add', [s, Bt], {}, [layer.name], layer.name)[0])];
};

const reshape: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  // tfjs's getConfig() reports the inferred (-1) dimension as null.
  const target = (config(layer).targetShape as (number | null)[]).map((d) => (d == null ? -1 : Number(d)));
  const x = ctx.nhwc(inputs[0]);
  // 0 copies the batch dimension; tfjs allows one -1 in targetShape, which ONNX accepts too.
  const shape = ctx.graph.int64Initializer(`${layer.name}/shape`, [0, ...target]);
  const out = ctx.graph.node('Reshape', [x.name, shape], {}, [layer.name], layer.name)[0];
  return [{ name: out, shape: outputShapes[0], layout: outputShapes[0].length === 4 ? 'NHWC' : null, elemType: x.elemType }];
};

const flatten: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  requireChannelsLast(layer, config(layer));
  const x = ctx.nhwc(inputs[0]);
  const out = ctx.graph.node('Flatten', [x.name], { axis: 1 }, [layer.name], layer.name)[0];
  return [{ name: out, shape: outputShapes[0], layout: null, elemType: x.elemType }];
};

const upSampling2d: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  const cfg = config(layer);
  requireChannelsLast(layer, cfg);
  const [sh, sw] = pair(cfg.size ?? 2);
  const interpolation = String(cfg.interpolation ?? 'nearest');
  if (interpolation !== 'nearest' && interpolation !== 'bilinear') unsupported(layer, `interpolation "${interpolation}" (only nearest, bilinear)`);
  const x = ctx.nchw(ctx.float(inputs[0]));
  const scales = ctx.graph.initializer(`${layer.name}/scales`, [4], new Float32Array([1, 1, sh, sw]));
  // tfjs: resizeNearestNeighbor / resizeBilinear with alignCorners = halfPixelCenters = false,
  // i.e. source coordinate = destination coordinate / scale ("asymmetric"), nearest rounds down.
  const attrs: Record<string, AttrValue> =
    interpolation === 'nearest'
      ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
      : { mode: 'linear', coordinate_transformation_mode: 'asymmetric' };
  const out = ctx.graph.node('Resize', [x.name, '', scales], attrs, [layer.name], layer.name)[0];
  return [ctx.derive(x, out, outputShapes[0])];
};

const activation: LayerConverter = ({ ctx, layer, inputs }) => [applyActivation(ctx, layer, ctx.float(inputs[0]), config(layer).activation)];

const relu: LayerConverter = ({ ctx, layer, inputs }) => {
  const max = config(layer).maxValue;
  const x = ctx.float(inputs[0]);
  return [max == null ? unary(ctx, 'Relu', x, layer.name) : clip(ctx, x, 0, Number(max), layer.name)];
};

const leakyRelu: LayerConverter = ({ ctx, layer, inputs }) => [unary(ctx, 'LeakyRelu', ctx.float(inputs[0]), layer.name, { alpha: float(Number(config(layer).alpha ?? 0.3)) })];

const elu: LayerConverter = ({ ctx, layer, inputs }) => [unary(ctx, 'Elu', ctx.float(inputs[0]), layer.name, { alpha: float(Number(config(layer).alpha ?? 1)) })];

const softmaxLayer: LayerConverter = ({ ctx, layer, inputs }) => {
  const axis = config(layer).axis ?? -1;
  if (Array.isArray(axis)) unsupported(layer, `axis ${JSON.stringify(axis)} (a single axis only)`);
  return [softmax(ctx, ctx.float(inputs[0]), Number(axis), layer.name)];
};

const identity: LayerConverter = ({ inputs }) => [inputs[0]];

const embedding: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  const cfg = config(layer);
  if (cfg.maskZero) unsupported(layer, 'maskZero: true (masks are not exported)');
  const table = requireWeight(layer, layerWeights(layer), 'embeddings'); // [inputDim, outputDim]
  const E = ctx.graph.initializer(`${layer.name}/embeddings`, table.shape, table.data);
  const idx = ctx.int64(inputs[0]);
  const out = ctx.graph.node('Gather', [E, idx.name], { axis: 0 }, [layer.name], layer.name)[0];
  return [{ name: out, shape: outputShapes[0], layout: outputShapes[0].length === 4 ? 'NHWC' : null, elemType: DataType.FLOAT }];
};

/** Bring merge inputs to one layout: keep it when they agree, else NHWC. */
function unifyLayouts(ctx: ConvertContext, inputs: Value[]): Value[] {
  const xs = inputs.map((v) => ctx.float(v));
  const layouts = new Set(xs.filter((v) => v.shape.length === 4).map((v) => v.layout));
  if (layouts.size <= 1 && xs.every((v) => v.shape.length === xs[0].shape.length)) return xs;
  return xs.map((v) => ctx.nhwc(v));
}

function variadic(op: string): LayerConverter {
  return ({ ctx, layer, inputs, outputShapes }) => {
    const xs = unifyLayouts(ctx, inputs);
    return [ctx.derive(xs[0], ctx.graph.node(op, xs.map((v) => v.name), {}, [layer.name], layer.name)[0], outputShapes[0])];
  };
}

const multiply: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  const xs = unifyLayouts(ctx, inputs);
  let acc = xs[0].name;
  for (let i = 1; i < xs.length; i++) acc = ctx.graph.node('Mul', [acc, xs[i].name], {}, [i === xs.length - 1 ? layer.name : `${layer.name}_${i}`])[0];
  return [ctx.derive(xs[0], acc, outputShapes[0])];
};

const concatenate: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  const xs = unifyLayouts(ctx, inputs);
  const rank = xs[0].shape.length;
  let axis = (Number(config(layer).axis ?? -1) + rank) % rank;
  // The axis is given for tfjs's NHWC tensors; map it when the values are stored NCHW.
  if (rank === 4 && xs[0].layout === 'NCHW') axis = [0, 2, 3, 1][axis];
  return [ctx.derive(xs[0], ctx.graph.node('Concat', xs.map((v) => v.name), { axis }, [layer.name], layer.name)[0], outputShapes[0])];
};

/** Class name → converter. Frozen: the one list of what the exporter supports. */
export const LAYER_CONVERTERS: Readonly<Record<string, LayerConverter>> = Object.freeze({
  Dense: dense,
  Conv2D: conv2d,
  Conv2DTranspose: conv2dTranspose,
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNormalization,
  Reshape: reshape,
  Flatten: flatten,
  UpSampling2D: upSampling2d,
  Activation: activation,
  ReLU: relu,
  LeakyReLU: leakyRelu,
  ELU: elu,
  Softmax: softmaxLayer,
  Dropout: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  Embedding: embedding,
  Add: variadic('Sum'),
  Average: variadic('Mean'),
  Maximum: variadic('Max'),
  Minimum: variadic('Min'),
  Multiply: multiply,
  Concatenate: concatenate,
  ...CRITIC_LAYER_CONVERTERS,
});

export const SUPPORTED_LAYERS = Object.keys(LAYER_CONVERTERS);
/** Layers whose following BatchNormalization can be folded into their weights. */
export const FOLDABLE_INTO = new Set(['Dense', 'Conv2D', 'Conv2DTranspose']);

/** Number of classes of the model's Embedding layer(s) fed by its label input (nested models searched too), or null. */
export function embeddingClasses(model: tf.LayersModel): number | null {
  const stack: tf.layers.Layer[] = [...model.layers];
  while (stack.length) {
    const layer = stack.pop()!;
    if (layer instanceof tf.LayersModel) stack.push(...layer.layers);
    else if (layer.getClassName() === 'Embedding') return Number((layer.getConfig() as { inputDim: number }).inputDim);
  }
  return null;
}
