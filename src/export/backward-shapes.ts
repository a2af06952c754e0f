/**
 * Static element types, shapes and constant values of the tensors of an ONNX graph, for the
 * backward pass (./backward.ts): a vector-Jacobian product needs to know, for instance, over which
 * axes a broadcast input was repeated (to sum its gradient back) or how large the image a
 * convolution read was (to size the transposed convolution that carries the gradient back).
 *
 * Covers the ops the exporter emits (and a few neighbours: DepthToSpace, Pad, Slice, Split, …).
 * Shapes keep the batch dimension symbolic (a string such as "batch"); products of a symbolic and
 * fixed dimensions (Flatten of `[batch, 1]`, Reshape to `[-1]`) are written `batch*k`. An op this
 * module does not know gets an unknown shape (null): nothing fails until a gradient rule needs it,
 * and then the error names the tensor and the op that made it.
 *
 * @example
 *   const values = new GraphValues(model.graph);
 *   values.shape('d_conv_0')   // ['batch', 8, 14, 14]
 *   values.ints('g_reshape/shape')   // [0, 7, 7, 16]
 */
import type { onnx as OnnxNs } from 'onnx-proto';
import { WganxError } from '../core/errors.js';
import { DataType } from './onnx-builder.js';

export type Dim = number | string;
export type Node = OnnxNs.INodeProto;
export type Graph = OnnxNs.IGraphProto;

export interface ValueType {
  elemType: number;
  /** null: not known (an op outside this module's table, or a shape that depends on data). */
  shape: Dim[] | null;
}

/** A node (or tensor) that the backward pass cannot handle: names the op, the node and why. */
export class UnsupportedGradientError extends WganxError {
  override name = 'UnsupportedGradientError';
  constructor(
    readonly opType: string,
    readonly nodeName: string,
    readonly detail: string,
  ) {
    super(`cannot differentiate node "${nodeName}" (${opType}): ${detail}`);
  }
}

type Long = { toNumber(): number };
/** protobufjs decodes int64 as Long objects (or numbers): one number either way. */
export function num(v: number | Long | null | undefined): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export function attr(node: Node, name: string): OnnxNs.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function attrInt(node: Node, name: string, fallback: number): number {
  const a = attr(node, name);
  return a ? num(a.i as number | Long) : fallback;
}

export function attrInts(node: Node, name: string): number[] | null {
  const a = attr(node, name);
  return a ? (a.ints ?? []).map((v) => num(v as number | Long)) : null;
}

export function attrFloat(node: Node, name: string, fallback: number): number {
  const a = attr(node, name);
  return a ? Number(a.f ?? 0) : fallback;
}

export function attrString(node: Node, name: string, fallback: string): string {
  const a = attr(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : fallback;
}

/** The values of an int64 / int32 / float tensor proto (raw little-endian bytes or typed fields). */
export function tensorValues(t: OnnxNs.ITensorProto): number[] {
  const raw = t.rawData;
  const type = t.dataType ?? DataType.FLOAT;
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out: number[] = [];
    if (type === DataType.INT64) for (let i = 0; i < raw.length; i += 8) out.push(Number(view.getBigInt64(i, true)));
    else if (type === DataType.INT32) for (let i = 0; i < raw.length; i += 4) out.push(view.getInt32(i, true));
    else if (type === DataType.FLOAT) for (let i = 0; i < raw.length; i += 4) out.push(view.getFloat32(i, true));
    else return [];
    return out;
  }
  if (type === DataType.INT64) return (t.int64Data ?? []).map((v) => num(v as number | Long));
  if (type === DataType.INT32) return [...(t.int32Data ?? [])];
  if (type === DataType.FLOAT) return [...(t.floatData ?? [])];
  return [];
}

// ── symbolic dimension arithmetic ─────────────────────────────────────────────────────────────

/** A dimension as `k · sym` (sym null: a fixed size). */
function factor(d: Dim): { sym: string | null; k: number } {
  if (typeof d === 'number') return { sym: null, k: d };
  const m = /^(.*)\*(\d+)$/.exec(d);
  return m ? { sym: m[1], k: Number(m[2]) } : { sym: d, k: 1 };
}

function fromFactor(sym: string | null, k: number): Dim {
  if (sym == null) return k;
  return k === 1 ? sym : `${sym}*${k}`;
}

/** The product of dimensions (one symbolic factor at most is kept exact). */
export function dimProduct(dims: Dim[]): Dim {
  let k = 1;
  const syms: string[] = [];
  for (const d of dims) {
    const f = factor(d);
    k *= f.k;
    if (f.sym != null) syms.push(f.sym);
  }
  return fromFactor(syms.length ? syms.join('·') : null, k);
}

/** total / part, or null when it cannot be written (another symbol, a remainder). */
function dimQuotient(total: Dim, part: Dim): Dim | null {
  const [t, p] = [factor(total), factor(part)];
  if (p.k === 0 || t.k % p.k !== 0) return null;
  if (p.sym == null) return fromFactor(t.sym, t.k / p.k);
  return p.sym === t.sym ? t.k / p.k : null;
}

function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === b || b === 1) return a;
  if (a === 1) return b;
  // A symbolic dimension against a fixed one: the fixed one is what ONNX allows it to be.
  return typeof a === 'number' ? a : b;
}

export function broadcastShapes(shapes: Dim[][]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = new Array(rank).fill(1);
  for (const s of shapes) {
    const pad = rank - s.length;
    s.forEach((d, i) => (out[pad + i] = broadcastDim(out[pad + i], d)));
  }
  return out;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

// ── the graph's values ────────────────────────────────────────────────────────────────────────

type Infer = (node: Node, v: GraphValues) => ValueType[];

/** Shapes and types of a graph's values; constants (initializers, Constant nodes) by name. */
export class GraphValues {
  readonly types = new Map<string, ValueType>();
  readonly constants = new Map<string, number[]>();
  readonly producer = new Map<string, Node>();

  constructor(graph: Graph) {
    for (const t of graph.initializer ?? []) {
      const name = t.name ?? '';
      this.types.set(name, { elemType: t.dataType ?? DataType.FLOAT, shape: (t.dims ?? []).map((d) => num(d as number | Long)) });
      if (t.dataType !== DataType.FLOAT || (t.dims ?? []).length <= 1) this.constants.set(name, tensorValues(t));
    }
    for (const i of graph.input ?? []) {
      const tt = i.type?.tensorType;
      const dims = (tt?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue != null ? num(d.dimValue as number | Long) : '?'));
      this.types.set(i.name ?? '', { elemType: tt?.elemType ?? DataType.FLOAT, shape: tt?.shape ? dims : null });
    }
    for (const node of graph.node ?? []) {
      for (const o of node.output ?? []) if (o) this.producer.set(o, node);
      const infer = INFER[node.opType ?? ''];
      let outs: ValueType[];
      try {
        outs = infer ? infer(node, this) : [];
      } catch {
        outs = []; // an input of unknown shape: the outputs are unknown too
      }
      (node.output ?? []).forEach((o, k) => {
        if (o) this.types.set(o, outs[k] ?? { elemType: this.types.get(node.input?.[0] ?? '')?.elemType ?? DataType.UNDEFINED, shape: null });
      });
    }
  }

  elemType(name: string): number {
    return this.types.get(name)?.elemType ?? DataType.UNDEFINED;
  }

  /** The shape of `name`; throws (naming the tensor and its producer) when unknown. */
  shape(name: string): Dim[] {
    const s = this.types.get(name)?.shape;
    if (!s) {
      const p = this.producer.get(name);
      throw new UnsupportedGradientError(p?.opType ?? 'input', p?.name ?? name, `the shape of "${name}" is not known statically`);
    }
    return s;
  }

  /** A tensor's fixed size along each axis; throws when one is symbolic. */
  fixedShape(name: string): number[] {
    const s = this.shape(name);
    if (s.some((d) => typeof d !== 'number')) {
      const p = this.producer.get(name);
      throw new UnsupportedGradientError(p?.opType ?? 'input', p?.name ?? name, `"${name}" has shape ${JSON.stringify(s)}; a fixed size is needed`);
    }
    return s as number[];
  }

  /** The values of a constant tensor (an initializer or a Constant node); null when not constant. */
  ints(name: string | undefined): number[] | null {
    if (!name) return null;
    return this.constants.get(name) ?? null;
  }
}

const same: Infer = (node, v) => [{ ...v.types.get(node.input![0])! }];
const sameAll: Infer = (node, v) => (node.output ?? []).map(() => ({ ...v.types.get(node.input![0])! }));

function broadcast(elemType?: number, from = 0): Infer {
  return (node, v) => {
    const ins = (node.input ?? []).slice(from).filter(Boolean);
    return [{ elemType: elemType ?? v.elemType(ins[0]), shape: broadcastShapes(ins.map((n) => v.shape(n))) }];
  };
}

function float(shape: Dim[], like?: number): ValueType {
  return { elemType: like ?? DataType.FLOAT, shape };
}

function spatial(node: Node, v: GraphValues, transpose: boolean): ValueType[] {
  const x = v.shape(node.input![0]);
  const w = v.fixedShape(node.input![1]);
  const n = x.length - 2;
  const kernel = attrInts(node, 'kernel_shape') ?? w.slice(2);
  const strides = attrInts(node, 'strides') ?? new Array(n).fill(1);
  const dil = attrInts(node, 'dilations') ?? new Array(n).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array(2 * n).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const group = attrInt(node, 'group', 1);
  const out: Dim[] = [x[0], transpose ? w[1] * group : w[0]];
  if (transpose) {
    const outputShape = attrInts(node, 'output_shape');
    const outPad = attrInts(node, 'output_padding') ?? new Array(n).fill(0);
    for (let i = 0; i < n; i++) {
      const d = x[i + 2];
      if (outputShape) out.push(outputShape[i]);
      else if (typeof d !== 'number') out.push('?');
      else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out.push(d * strides[i]);
      else out.push(strides[i] * (d - 1) + outPad[i] + (kernel[i] - 1) * dil[i] + 1 - (autoPad === 'VALID' ? 0 : pads[i] + pads[i + n]));
    }
  } else {
    for (let i = 0; i < n; i++) {
      const d = x[i + 2];
      const k = (kernel[i] - 1) * dil[i] + 1;
      if (typeof d !== 'number') out.push('?');
      else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out.push(Math.ceil(d / strides[i]));
      else if (autoPad === 'VALID') out.push(Math.floor((d - k) / strides[i]) + 1);
      else out.push(Math.floor((d + pads[i] + pads[i + n] - k) / strides[i]) + 1);
    }
  }
  return [float(out, v.elemType(node.input![0]))];
}

const pool: Infer = (node, v) => {
  const x = v.shape(node.input![0]);
  const n = x.length - 2;
  const kernel = attrInts(node, 'kernel_shape') ?? [];
  const strides = attrInts(node, 'strides') ?? new Array(n).fill(1);
  const dil = attrInts(node, 'dilations') ?? new Array(n).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array(2 * n).fill(0);
  const round = attrInt(node, 'ceil_mode', 0) ? Math.ceil : Math.floor;
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const out: Dim[] = [x[0], x[1]];
  for (let i = 0; i < n; i++) {
    const d = x[i + 2];
    const k = (kernel[i] - 1) * dil[i] + 1;
    if (typeof d !== 'number') out.push('?');
    else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out.push(Math.ceil(d / strides[i]));
    else out.push(round((d + (autoPad === 'VALID' ? 0 : pads[i] + pads[i + n]) - k) / strides[i]) + 1);
  }
  return [float(out, v.elemType(node.input![0]))];
};

/** Reduction axes: the attribute (opsets ≤ 17 for most reductions) or the second input (ReduceSum ≥ 13). */
export function reduceAxes(node: Node, v: GraphValues, rank: number): number[] {
  const fromAttr = attrInts(node, 'axes');
  const fromInput = node.input?.[1] ? v.ints(node.input[1]) : null;
  if (node.input?.[1] && !fromInput) throw new UnsupportedGradientError(node.opType ?? '', node.name ?? '', `its axes "${node.input[1]}" are not a constant`);
  const axes = fromAttr ?? fromInput ?? [];
  if (axes.length === 0) return attrInt(node, 'noop_with_empty_axes', 0) ? [] : Array.from({ length: rank }, (_, i) => i);
  return axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
}

const reduce: Infer = (node, v) => {
  const x = v.shape(node.input![0]);
  const axes = new Set(reduceAxes(node, v, x.length));
  const keep = attrInt(node, 'keepdims', 1);
  const out: Dim[] = [];
  x.forEach((d, i) => {
    if (!axes.has(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return [float(out, v.elemType(node.input![0]))];
};

function requireConst(node: Node, v: GraphValues, input: number, what: string): number[] {
  const values = v.ints(node.input?.[input]);
  if (!values) throw new UnsupportedGradientError(node.opType ?? '', node.name ?? '', `its ${what} ("${node.input?.[input]}") is not a constant`);
  return values;
}

/** Slice's normalised [start, end) and step per axis (ONNX clamping rules). */
export function sliceRanges(node: Node, v: GraphValues): { axis: number; start: number; end: number; step: number }[] {
  const x = v.shape(node.input![0]);
  const starts = requireConst(node, v, 1, 'starts');
  const ends = requireConst(node, v, 2, 'ends');
  const axes = node.input?.[3] ? requireConst(node, v, 3, 'axes') : starts.map((_, i) => i);
  const steps = node.input?.[4] ? requireConst(node, v, 4, 'steps') : starts.map(() => 1);
  return axes.map((a, i) => {
    const axis = normAxis(a, x.length);
    const d = x[axis];
    const step = steps[i];
    if (typeof d !== 'number') {
      // A symbolic axis (the batch) can only be kept whole.
      if (starts[i] !== 0 || ends[i] < 2 ** 31 - 1 || step !== 1) throw new UnsupportedGradientError(node.opType ?? '', node.name ?? '', `it slices the symbolic axis ${axis}`);
      return { axis, start: 0, end: Number.MAX_SAFE_INTEGER, step };
    }
    const clampIdx = (s: number, lo: number, hi: number) => Math.min(Math.max(s < 0 ? s + d : s, lo), hi);
    const start = step > 0 ? clampIdx(starts[i], 0, d) : clampIdx(starts[i], 0, d - 1);
    const end = step > 0 ? clampIdx(ends[i], 0, d) : clampIdx(ends[i], -1, d - 1);
    return { axis, start, end, step };
  });
}

/** Split's part sizes along its axis. */
export function splitSizes(node: Node, v: GraphValues): number[] {
  const x = v.shape(node.input![0]);
  const axis = normAxis(attrInt(node, 'axis', 0), x.length);
  const given = attrInts(node, 'split') ?? (node.input?.[1] ? requireConst(node, v, 1, 'split') : null);
  if (given) return given;
  const d = x[axis];
  const parts = (node.output ?? []).length;
  if (typeof d !== 'number' || d % parts !== 0) throw new UnsupportedGradientError(node.opType ?? '', node.name ?? '', `it splits axis ${axis} of size ${d} into ${parts} parts`);
  return new Array(parts).fill(d / parts);
}

/** Reshape's output shape from the input's and the target (0 copies, one −1 inferred). */
function reshaped(x: Dim[], target: number[], allowZero: boolean): Dim[] {
  const out: (Dim | null)[] = target.map((t, i) => (t === 0 && !allowZero ? x[i] : t === -1 ? null : t));
  const known = out.filter((d): d is Dim => d != null);
  const missing = out.indexOf(null);
  if (missing >= 0) {
    const q = dimQuotient(dimProduct(x), dimProduct(known));
    if (q == null) throw new Error('reshape: cannot infer the −1 dimension');
    out[missing] = q;
  }
  return out as Dim[];
}

/** What each op makes of its inputs' types and shapes. */
const INFER: Readonly<Record<string, Infer>> = {
  Identity: same, Relu: same, LeakyRelu: same, Tanh: same, Sigmoid: same, Elu: same, Selu: same,
  Softplus: same, Softsign: same, HardSigmoid: same, Clip: same, Sqrt: same, Neg: same, Exp: same,
  Log: same, Abs: same, Reciprocal: same, Softmax: same, Erf: same, Sign: same,
  BatchNormalization: same, Dropout: sameAll,
  Add: broadcast(), Sub: broadcast(), Mul: broadcast(), Div: broadcast(), Pow: broadcast(),
  Sum: broadcast(), Mean: broadcast(), Max: broadcast(), Min: broadcast(),
  Equal: broadcast(DataType.BOOL), Greater: broadcast(DataType.BOOL), Less: broadcast(DataType.BOOL),
  GreaterOrEqual: broadcast(DataType.BOOL), LessOrEqual: broadcast(DataType.BOOL), And: broadcast(DataType.BOOL),
  Or: broadcast(DataType.BOOL), Not: same,
  Where: (node, v) => [{ elemType: v.elemType(node.input![1]), shape: broadcastShapes(node.input!.map((n) => v.shape(n))) }],
  Cast: (node, v) => [{ elemType: attrInt(node, 'to', DataType.FLOAT), shape: v.types.get(node.input![0])?.shape ?? null }],
  Shape: (node, v) => [{ elemType: DataType.INT64, shape: [v.shape(node.input![0]).length] }],
  Gemm: (node, v) => {
    const [a, b] = [v.shape(node.input![0]), v.shape(node.input![1])];
    return [float([attrInt(node, 'transA', 0) ? a[1] : a[0], attrInt(node, 'transB', 0) ? b[0] : b[1]], v.elemType(node.input![0]))];
  },
  MatMul: (node, v) => {
    const [a, b] = [v.shape(node.input![0]), v.shape(node.input![1])];
    if (a.length < 2 || b.length < 2) throw new Error('MatMul of a vector');
    const batch = broadcastShapes([a.slice(0, -2), b.slice(0, -2)]);
    return [float([...batch, a[a.length - 2], b[b.length - 1]], v.elemType(node.input![0]))];
  },
  Conv: (node, v) => spatial(node, v, false),
  ConvTranspose: (node, v) => spatial(node, v, true),
  AveragePool: pool,
  MaxPool: pool,
  GlobalAveragePool: (node, v) => {
    const x = v.shape(node.input![0]);
    return [float([x[0], x[1], ...x.slice(2).map(() => 1)], v.elemType(node.input![0]))];
  },
  Reshape: (node, v) => [{ elemType: v.elemType(node.input![0]), shape: reshaped(v.shape(node.input![0]), requireConst(node, v, 1, 'shape'), attrInt(node, 'allowzero', 0) === 1) }],
  Flatten: (node, v) => {
    const x = v.shape(node.input![0]);
    const axis = normAxis(attrInt(node, 'axis', 1), x.length);
    return [{ elemType: v.elemType(node.input![0]), shape: [dimProduct(x.slice(0, axis)), dimProduct(x.slice(axis))] }];
  },
  Transpose: (node, v) => {
    const x = v.shape(node.input![0]);
    const perm = attrInts(node, 'perm') ?? x.map((_, i) => x.length - 1 - i);
    return [{ elemType: v.elemType(node.input![0]), shape: perm.map((p) => x[p]) }];
  },
  Concat: (node, v) => {
    const xs = node.input!.map((n) => v.shape(n));
    const axis = normAxis(attrInt(node, 'axis', 0), xs[0].length);
    const out = [...xs[0]];
    out[axis] = dimProduct([xs.reduce<Dim>((s, x) => (typeof s === 'number' && typeof x[axis] === 'number' ? s + (x[axis] as number) : '?'), 0)]);
    return [{ elemType: v.elemType(node.input![0]), shape: out }];
  },
  Gather: (node, v) => {
    const [data, idx] = [v.shape(node.input![0]), v.shape(node.input![1])];
    const axis = normAxis(attrInt(node, 'axis', 0), data.length);
    return [{ elemType: v.elemType(node.input![0]), shape: [...data.slice(0, axis), ...idx, ...data.slice(axis + 1)] }];
  },
  Resize: (node, v) => {
    const x = v.shape(node.input![0]);
    const scales = v.ints(node.input?.[2]);
    const sizes = v.ints(node.input?.[3]);
    if (sizes && sizes.length) return [float(sizes, v.elemType(node.input![0]))];
    if (!scales || !scales.length) throw new Error('Resize without constant scales or sizes');
    return [float(x.map((d, i) => (scales[i] === 1 ? d : typeof d === 'number' ? Math.floor(d * scales[i]) : '?')), v.elemType(node.input![0]))];
  },
  ReduceSum: reduce, ReduceMean: reduce, ReduceMax: reduce, ReduceMin: reduce,
  LayerNormalization: (node, v) => {
    const x = v.shape(node.input![0]);
    const axis = normAxis(attrInt(node, 'axis', -1), x.length);
    const stat = x.map((d, i) => (i < axis ? d : 1));
    return [{ ...v.types.get(node.input![0])! }, float(stat), float(stat)];
  },
  DepthToSpace: (node, v) => {
    const [n, c, h, w] = v.shape(node.input![0]);
    const b = attrInt(node, 'blocksize', 1);
    return [float([n, (c as number) / (b * b), (h as number) * b, (w as number) * b], v.elemType(node.input![0]))];
  },
  SpaceToDepth: (node, v) => {
    const [n, c, h, w] = v.shape(node.input![0]);
    const b = attrInt(node, 'blocksize', 1);
    return [float([n, (c as number) * b * b, (h as number) / b, (w as number) / b], v.elemType(node.input![0]))];
  },
  Pad: (node, v) => {
    const x = v.shape(node.input![0]);
    const pads = requireConst(node, v, 1, 'pads');
    const r = x.length;
    return [{ elemType: v.elemType(node.input![0]), shape: x.map((d, i) => (pads[i] === 0 && pads[i + r] === 0 ? d : typeof d === 'number' ? d + pads[i] + pads[i + r] : '?')) }];
  },
  Slice: (node, v) => {
    const out = [...v.shape(node.input![0])];
    for (const { axis, start, end, step } of sliceRanges(node, v)) {
      if (end === Number.MAX_SAFE_INTEGER) continue;
      out[axis] = Math.max(0, Math.ceil((end - start) / step));
    }
    return [{ elemType: v.elemType(node.input![0]), shape: out }];
  },
  Split: (node, v) => {
    const x = v.shape(node.input![0]);
    const axis = normAxis(attrInt(node, 'axis', 0), x.length);
    return splitSizes(node, v).map((s) => ({ elemType: v.elemType(node.input![0]), shape: x.map((d, i) => (i === axis ? s : d)) }));
  },
  Squeeze: (node, v) => {
    const x = v.shape(node.input![0]);
    const axes = (attrInts(node, 'axes') ?? v.ints(node.input?.[1]) ?? x.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(a, x.length));
    return [{ elemType: v.elemType(node.input![0]), shape: x.filter((_, i) => !axes.includes(i)) }];
  },
  Unsqueeze: (node, v) => {
    const x = v.shape(node.input![0]);
    const given = attrInts(node, 'axes') ?? requireConst(node, v, 1, 'axes');
    const rank = x.length + given.length;
    const axes = new Set(given.map((a) => normAxis(a, rank)));
    const out: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) out.push(axes.has(i) ? 1 : x[j++]);
    return [{ elemType: v.elemType(node.input![0]), shape: out }];
  },
  Expand: (node, v) => [{ elemType: v.elemType(node.input![0]), shape: broadcastShapes([v.shape(node.input![0]), requireConst(node, v, 1, 'shape')]) }],
  ConstantOfShape: (node, v) => {
    const value = attr(node, 'value')?.t;
    return [{ elemType: value?.dataType ?? DataType.FLOAT, shape: requireConst(node, v, 0, 'shape') }];
  },
  Constant: (node, v) => {
    const t = attr(node, 'value')?.t;
    if (!t) throw new Error('Constant without a tensor value');
    v.constants.set(node.output![0], tensorValues(t));
    return [{ elemType: t.dataType ?? DataType.FLOAT, shape: (t.dims ?? []).map((d) => num(d as number | Long)) }];
  },
};
