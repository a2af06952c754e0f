/**
 * tfjs LayersModel → ONNX graph.
 *
 * Walks the model's graph from its outputs back to its inputs (so a layer shared with another model,
 * e.g. a generator inside a combined GAN, contributes only this model's call), emits the layers in
 * dependency order through the converters of layers.ts, folds inference-mode BatchNormalization into
 * the Dense/Conv layer before it, and inlines nested models; then ./graph-rewrite.ts puts the graph
 * in the forms onnxruntime runs faster (strided ConvTransposes as stride phases).
 *
 * @example
 *   const { bytes, inputs, outputs } = convertLayersModel(model, { opset: 17 });
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError, UnsupportedLayerError } from '../core/errors.js';
import type { InputSpec, TensorSpec, TensorDtype } from '../core/manifest.js';
import { VERSION } from '../version.js';
import { ConvertContext, Value } from './context.js';
import { ChannelAffine, FOLDABLE_INTO, LAYER_CONVERTERS, SUPPORTED_LAYERS, batchNormAffine, batchNormIsChannelwise } from './layers.js';
import { rewriteGraph } from './graph-rewrite.js';
import { DataType, GraphBuilder, OnnxModel, encodeModel } from './onnx-builder.js';

export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 13;
export const MAX_OPSET = 17;
/** Symbolic name of the (dynamic) batch dimension. */
export const BATCH_DIM = 'batch';

export interface ConvertOptions {
  opset?: number;
  graphName?: string;
  /** ONNX names of the model's outputs, in order (default output_0, output_1, …). */
  outputNames?: string[];
  /** ONNX names of the model's inputs, in order (default: "label" for the input feeding an Embedding, "z" for a single other input, else the tfjs names). */
  inputNames?: string[];
  /** Extra metadata_props entries. */
  metadata?: Record<string, string>;
  docString?: string;
  /** Rewrite the graph into the forms onnxruntime runs faster (./graph-rewrite.ts). Default true. */
  rewrite?: boolean;
}

export interface ConvertResult {
  model: OnnxModel;
  bytes: Uint8Array;
  inputs: InputSpec[];
  outputs: TensorSpec[];
}

type Node = { inputTensors: tf.SymbolicTensor[]; outputTensors: tf.SymbolicTensor[]; outboundLayer: tf.layers.Layer };

function nodeOf(t: tf.SymbolicTensor): Node {
  const layer = t.sourceLayer as tf.layers.Layer;
  const node = (layer.inboundNodes as unknown as Node[])[t.nodeIndex];
  if (!node) throw new Error(`internal: tensor ${t.name} has no producing node`);
  return node;
}

function isModel(layer: tf.layers.Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

/** Layer calls needed to compute `outputs`, in dependency order, plus each tensor's consumer count. */
function schedule(model: tf.LayersModel): { order: Node[]; consumers: Map<number, Node[]> } {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const consumers = new Map<number, Node[]>();
  const inputIds = new Set(model.inputs.map((t) => t.id));
  const visit = (t: tf.SymbolicTensor, path: Set<Node>): void => {
    if (inputIds.has(t.id)) return;
    const node = nodeOf(t);
    if (seen.has(node)) return;
    if (path.has(node)) throw new Error('internal: cycle in the model graph');
    path.add(node);
    for (const x of node.inputTensors) {
      const list = consumers.get(x.id) ?? [];
      if (!list.includes(node)) list.push(node);
      consumers.set(x.id, list);
      visit(x, path);
    }
    path.delete(node);
    seen.add(node);
    order.push(node);
  };
  for (const t of model.outputs) visit(t, new Set());
  return { order, consumers };
}

/** Emit the layers of `model` given ONNX values for its inputs; returns values for its outputs. */
function emitModel(ctx: ConvertContext, model: tf.LayersModel, inputValues: Value[]): Value[] {
  const values = new Map<number, Value>();
  model.inputs.forEach((t, i) => values.set(t.id, inputValues[i]));
  const { order, consumers } = schedule(model);
  const outputIds = new Set(model.outputs.map((t) => t.id));
  const foldedInto = new Map<Node, ChannelAffine>();
  const folded = new Set<Node>();

  // A BatchNormalization whose only input comes from a Dense/Conv layer with a linear activation,
  // and which is that tensor's only consumer, becomes part of that layer's weights.
  for (const node of order) {
    const layer = node.outboundLayer;
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const x = node.inputTensors[0];
    if (inputIds(model).has(x.id) || outputIds.has(x.id)) continue;
    const producer = nodeOf(x);
    const producerLayer = producer.outboundLayer;
    if (!FOLDABLE_INTO.has(producerLayer.getClassName())) continue;
    const act = (producerLayer.getConfig() as { activation?: string }).activation ?? 'linear';
    if (act !== 'linear' || (consumers.get(x.id) ?? []).length !== 1 || !batchNormIsChannelwise(layer, x.shape.length)) continue;
    foldedInto.set(producer, batchNormAffine(layer));
    folded.add(node);
  }

  for (const node of order) {
    const layer = node.outboundLayer;
    const inputs = node.inputTensors.map((t) => {
      const v = values.get(t.id);
      if (!v) throw new Error(`internal: value for ${t.name} not computed before ${layer.name}`);
      return v;
    });
    let outs: Value[];
    if (folded.has(node)) {
      outs = inputs; // already applied by the producing layer
    } else if (isModel(layer)) {
      outs = emitModel(ctx, layer, inputs);
    } else {
      const convert = LAYER_CONVERTERS[layer.getClassName()];
      if (!convert) {
        throw new UnsupportedLayerError(layer.name, layer.getClassName(), `layer class not supported (supported: ${SUPPORTED_LAYERS.join(', ')})`);
      }
      outs = convert({ ctx, layer, inputs, outputShapes: node.outputTensors.map((t) => [...t.shape]), fold: foldedInto.get(node) });
    }
    node.outputTensors.forEach((t, i) => values.set(t.id, outs[i]));
  }
  return model.outputs.map((t) => values.get(t.id)!);
}

function inputIds(model: tf.LayersModel): Set<number> {
  return new Set(model.inputs.map((t) => t.id));
}

/** Does this model input feed an Embedding layer (directly or through nested models)? */
function feedsEmbedding(model: tf.LayersModel, input: tf.SymbolicTensor): boolean {
  const { order } = schedule(model);
  return order.some((node) => node.outboundLayer.getClassName() === 'Embedding' && node.inputTensors.some((t) => t.id === input.id)) ||
    order.some((node) => isModel(node.outboundLayer) && node.inputTensors.some((t, i) => t.id === input.id && feedsEmbedding(node.outboundLayer as tf.LayersModel, (node.outboundLayer as tf.LayersModel).inputs[i])));
}

const DTYPE_NAMES: Record<number, TensorDtype> = { [DataType.FLOAT]: 'float32', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32', [DataType.FLOAT16]: 'float16' };

function publicShape(shape: (number | null)[]): (number | string)[] {
  return shape.map((d, i) => (d == null ? (i === 0 ? BATCH_DIM : `d${i}`) : d));
}

export function convertLayersModel(model: tf.LayersModel, opts: ConvertOptions = {}): ConvertResult {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new InvalidArgumentError('opset', opset, `an integer from ${MIN_OPSET} to ${MAX_OPSET}`);
  }
  const graph = new GraphBuilder(opts.graphName ?? model.name);
  const ctx = new ConvertContext(graph, opset);

  const labelFlags = model.inputs.map((t) => feedsEmbedding(model, t));
  const floatInputs = labelFlags.filter((f) => !f).length;
  const inputSpecs: InputSpec[] = [];
  const inputValues = model.inputs.map((t, i) => {
    const isLabel = labelFlags[i];
    const name = opts.inputNames?.[i] ?? (isLabel && labelFlags.filter(Boolean).length === 1 ? 'label' : !isLabel && floatInputs === 1 ? 'z' : t.name.replace(/[^A-Za-z0-9_]/g, '_'));
    const elemType = isLabel ? DataType.INT64 : t.dtype === 'int32' ? DataType.INT32 : DataType.FLOAT;
    const shape = publicShape([...t.shape]);
    graph.input({ name, elemType, shape });
    inputSpecs.push({ name, dtype: DTYPE_NAMES[elemType], shape, role: isLabel ? 'label' : 'latent' });
    return { name, shape: [...t.shape], layout: t.shape.length === 4 ? 'NHWC' : null, elemType } as Value;
  });

  const outputNames = model.outputs.map((_, i) => graph.reserve(opts.outputNames?.[i] ?? `output_${i}`));
  const outs = emitModel(ctx, model, inputValues);
  const outputSpecs: TensorSpec[] = outs.map((v, i) => {
    const name = outputNames[i];
    // Outputs keep tfjs's public NHWC layout; Identity gives them their stable names.
    const x = ctx.nhwc(v);
    graph.nodeTo('Identity', [x.name], {}, [name]);
    const shape = publicShape(model.outputs[i].shape);
    graph.output({ name, elemType: x.elemType, shape });
    return { name, dtype: DTYPE_NAMES[x.elemType], shape };
  });

  const built = graph.toModel({ opset, producerVersion: VERSION, docString: opts.docString, metadata: opts.metadata });
  const onnxModel = opts.rewrite === false ? built : rewriteGraph(built).model;
  return { model: onnxModel, bytes: encodeModel(onnxModel), inputs: inputSpecs, outputs: outputSpecs };
}
