/**
 * Conversion state shared by the layer converters: the graph being built, the tensors produced so
 * far and their memory layout.
 *
 * tfjs images are NHWC; ONNX convolutions want NCHW. Rank-4 values therefore carry a `layout`:
 * converters ask for the layout they need ({@link ConvertContext.nchw}, {@link ConvertContext.nhwc})
 * and a Transpose is inserted only where the layout really changes (and cached, so one tensor is
 * transposed at most once each way). The graph's public inputs and outputs keep tfjs's NHWC layout.
 */
import * as tf from '@tensorflow/tfjs';
import { DataType, GraphBuilder } from './onnx-builder.js';
import { UnsupportedLayerError } from '../core/errors.js';

export type Layout = 'NHWC' | 'NCHW';

/** A tensor in the ONNX graph. `shape` is always the public tfjs shape (NHWC for images; batch null). */
export interface Value {
  name: string;
  shape: (number | null)[];
  /** Memory layout of a rank-4 value; null for other ranks. */
  layout: Layout | null;
  /** ONNX element type (DataType.FLOAT, DataType.INT64, …). */
  elemType: number;
}

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

export class ConvertContext {
  private readonly transposed = new Map<string, Value>();
  private readonly casts = new Map<string, Value>();

  constructor(
    readonly graph: GraphBuilder,
    readonly opset: number,
  ) {}

  /** The value in NCHW memory layout (rank 4 only). */
  nchw(v: Value): Value {
    if (v.shape.length !== 4 || v.layout === 'NCHW') return v;
    return this.transpose(v, 'NCHW');
  }

  /** The value in NHWC memory layout (what tfjs computes on: Flatten, Reshape, Dense on rank 4…). */
  nhwc(v: Value): Value {
    if (v.shape.length !== 4 || v.layout === 'NHWC') return v;
    return this.transpose(v, 'NHWC');
  }

  private transpose(v: Value, layout: Layout): Value {
    const key = `${v.name}->${layout}`;
    const hit = this.transposed.get(key);
    if (hit) return hit;
    const [out] = this.graph.node('Transpose', [v.name], { perm: layout === 'NCHW' ? TO_NCHW : TO_NHWC }, [`${v.name}_${layout.toLowerCase()}`]);
    const value = { ...v, name: out, layout };
    this.transposed.set(key, value);
    // Transposing back returns the original tensor instead of a second Transpose.
    this.transposed.set(`${out}->${v.layout}`, v);
    return value;
  }

  /** The value as float32 (label inputs are int64 in ONNX but float in tfjs's Merge layers). */
  float(v: Value): Value {
    return this.cast(v, DataType.FLOAT);
  }

  /** The value as int64 (what Gather wants for embedding indices). */
  int64(v: Value): Value {
    return this.cast(v, DataType.INT64);
  }

  private cast(v: Value, to: number): Value {
    if (v.elemType === to) return v;
    const key = `${v.name}->${to}`;
    const hit = this.casts.get(key);
    if (hit) return hit;
    const [out] = this.graph.node('Cast', [v.name], { to }, [`${v.name}_${to === DataType.FLOAT ? 'f32' : 'i64'}`]);
    const value = { ...v, name: out, elemType: to };
    this.casts.set(key, value);
    return value;
  }

  /** A new value that shares `like`'s layout and type. */
  derive(like: Value, name: string, shape: (number | null)[] = like.shape): Value {
    return { name, shape, layout: shape.length === 4 ? (like.layout ?? 'NHWC') : null, elemType: like.elemType };
  }
}

/** The values of a layer's weights, copied out of tfjs, keyed by their short name (kernel, bias, …). */
export function layerWeights(layer: tf.layers.Layer): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const w of layer.weights) {
    const short = w.originalName.split('/').pop() ?? w.originalName;
    const t = w.read();
    out.set(short, { shape: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) });
  }
  return out;
}

export function requireWeight(layer: tf.layers.Layer, weights: Map<string, { shape: number[]; data: Float32Array }>, key: string) {
  const w = weights.get(key);
  if (!w) throw new UnsupportedLayerError(layer.name, layer.getClassName(), `weight "${key}" not found (has ${[...weights.keys()].join(', ') || 'none'})`);
  return w;
}

/** Permute a dense row-major array of `shape` by `perm` (like numpy.transpose). */
export function permute(data: Float32Array, shape: number[], perm: number[]): { data: Float32Array; shape: number[] } {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * shape[i + 1];
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  const permStrides = perm.map((p) => inStrides[p]);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d] * permStrides[d];
    out[o] = data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape: outShape };
}
