/**
 * Converters for the layers that only critics use (src/train/models: the projection critic's Dot,
 * the resnet critic's mean pooling), registered in ./layers.ts `LAYER_CONVERTERS` like the others.
 *
 * - Dot (`axes` 1 on two `[B, F]` tensors, tfjs's only batched form here): Mul, then ReduceSum over
 *   the features, keeping the axis → `[B, 1]` as tfjs.
 * - AveragePooling2D: AveragePool on NCHW; "same" padding leaves the padded cells out of the mean
 *   (TensorFlow's rule; ONNX `count_include_pad` 0).
 * - GlobalAveragePooling2D: GlobalAveragePool, then Flatten to `[B, C]`.
 */
import { config, pair, requireChannelsLast, unsupported } from './layer-config.js';
import type { AttrValue } from './onnx-builder.js';
import type { LayerConverter } from './layers.js';


const dot: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  const cfg = config(layer);
  if (cfg.normalize) unsupported(layer, 'normalize: true (only the plain dot product)');
  if (inputs.length !== 2 || inputs.some((v) => v.shape.length !== 2)) unsupported(layer, `inputs of shapes ${JSON.stringify(inputs.map((v) => v.shape))} (only two [batch, features] tensors)`);
  const axes = Array.isArray(cfg.axes) ? cfg.axes.map(Number) : [Number(cfg.axes), Number(cfg.axes)];
  if (!axes.every((a) => a === 1 || a === -1)) unsupported(layer, `axes ${JSON.stringify(cfg.axes)} (only the feature axis, 1 or -1)`);
  const [a, b] = inputs.map((v) => ctx.float(v));
  const g = ctx.graph;
  const [product] = g.node('Mul', [a.name, b.name], {}, [`${layer.name}_product`]);
  // ReduceSum takes its axes as an input from opset 13 on (the exporter's lowest).
  const axis = g.int64Initializer(`${layer.name}/axes`, [1]);
  const [out] = g.node('ReduceSum', [product, axis], { keepdims: 1 }, [layer.name], layer.name);
  return [ctx.derive(a, out, outputShapes[0])];
};

const averagePooling2d: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  const cfg = config(layer);
  requireChannelsLast(layer, cfg);
  const kernel = pair(cfg.poolSize ?? 2);
  const strides = pair(cfg.strides ?? cfg.poolSize ?? 2);
  const padding = String(cfg.padding ?? 'valid');
  if (padding !== 'same' && padding !== 'valid') unsupported(layer, `padding "${padding}" (only same, valid)`);
  const x = ctx.nchw(ctx.float(inputs[0]));
  const attrs: Record<string, AttrValue> = { kernel_shape: kernel, strides, pads: [0, 0, 0, 0], count_include_pad: 0 };
  if (padding === 'same') {
    const [h, w] = [x.shape[1], x.shape[2]];
    if (h == null || w == null) unsupported(layer, 'padding "same" needs fixed input height and width');
    // TensorFlow's "same": output ⌈in/s⌉, the odd padded cell at the end.
    const pads = [0, 0, 0, 0];
    [h, w].forEach((size, i) => {
      const total = Math.max((Math.ceil(size / strides[i]) - 1) * strides[i] + kernel[i] - size, 0);
      pads[i] = Math.floor(total / 2);
      pads[i + 2] = total - pads[i];
    });
    attrs.pads = pads;
  }
  const [out] = ctx.graph.node('AveragePool', [x.name], attrs, [layer.name], layer.name);
  return [ctx.derive(x, out, outputShapes[0])];
};

const globalAveragePooling2d: LayerConverter = ({ ctx, layer, inputs, outputShapes }) => {
  const cfg = config(layer);
  requireChannelsLast(layer, cfg);
  if (cfg.keepDims === true) unsupported(layer, 'keepDims: true (only [batch, channels] outputs)');
  const x = ctx.nchw(ctx.float(inputs[0]));
  const [pooled] = ctx.graph.node('GlobalAveragePool', [x.name], {}, [`${layer.name}_pooled`]); // [B, C, 1, 1]
  const [out] = ctx.graph.node('Flatten', [pooled], { axis: 1 }, [layer.name], layer.name);
  return [{ name: out, shape: outputShapes[0], layout: null, elemType: x.elemType }];
};

/** Class name → converter, merged into ./layers.ts `LAYER_CONVERTERS`. */
export const CRITIC_LAYER_CONVERTERS: Readonly<Record<string, LayerConverter>> = Object.freeze({
  Dot: dot,
  AveragePooling2D: averagePooling2d,
  GlobalAveragePooling2D: globalAveragePooling2d,
});
