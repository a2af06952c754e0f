/**
 * A small builder for ONNX graphs on top of the official schema (onnx-proto: protobufjs code
 * generated from onnx.proto). It hands out unique tensor names, stores initializers as raw
 * little-endian bytes and serialises a ModelProto.
 *
 * @example
 *   const g = new GraphBuilder('generator');
 *   const w = g.initializer('dense/kernel', [2, 3], new Float32Array(6));
 *   const y = g.node('MatMul', ['x', w])[0];
 */
import { createRequire } from 'node:module';
import type { onnx as OnnxNs } from 'onnx-proto';

const require = createRequire(import.meta.url);
export const { onnx } = require('onnx-proto') as { onnx: typeof OnnxNs };
export type OnnxModel = OnnxNs.IModelProto;
export type OnnxNode = OnnxNs.INodeProto;

export const DataType = onnx.TensorProto.DataType;
/** ONNX IR version written (IR 8 covers opsets up to 17/18). */
export const IR_VERSION = 8;

/** number → INT, string → STRING, number[] → INTS, {float} → FLOAT, {floats} → FLOATS. */
export type AttrValue = number | string | number[] | { float: number } | { floats: number[] };

export interface ValueSpec {
  name: string;
  elemType: number;
  /** number = fixed, string = symbolic (e.g. "batch"). */
  shape: (number | string)[];
}

function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9_./:-]/g, '_');
}

export class GraphBuilder {
  readonly nodes: OnnxNs.INodeProto[] = [];
  readonly initializers: OnnxNs.ITensorProto[] = [];
  readonly inputs: ValueSpec[] = [];
  readonly outputs: ValueSpec[] = [];
  private readonly used = new Set<string>();

  constructor(readonly name: string) {}

  /** A tensor name not used before, derived from `hint`. */
  unique(hint: string): string {
    const base = sanitize(hint) || 't';
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Claim an exact name (graph inputs and outputs); fails if taken. */
  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`tensor name "${name}" is used twice`);
    this.used.add(name);
    return name;
  }

  input(spec: ValueSpec): string {
    this.reserve(spec.name);
    this.inputs.push(spec);
    return spec.name;
  }

  output(spec: ValueSpec): void {
    this.outputs.push(spec);
  }

  /** A float32 initializer (weights are stored as raw little-endian bytes). */
  initializer(hint: string, dims: number[], data: Float32Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`initializer ${hint}: ${data.length} values for dims [${dims}]`);
    const name = this.unique(hint);
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
    return name;
  }

  /** An int64 initializer (shapes, axes, indices). */
  int64Initializer(hint: string, values: number[], dims: number[] = [values.length]): string {
    const name = this.unique(hint);
    const bytes = new Uint8Array(values.length * 8);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dims, dataType: DataType.INT64, rawData: bytes });
    return name;
  }

  /** Append a node; returns its output names (`outputs` unique names are made from hints). */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputHints: string[] = [opType.toLowerCase()], nodeName?: string): string[] {
    return this.nodeTo(opType, inputs, attrs, outputHints.map((h) => this.unique(h)), nodeName);
  }

  /** Append a node writing to exact, already reserved output names. */
  nodeTo(opType: string, inputs: string[], attrs: Record<string, AttrValue>, outputs: string[], nodeName?: string): string[] {
    const attribute: OnnxNs.IAttributeProto[] = Object.entries(attrs).map(([name, value]) => toAttribute(name, value));
    this.nodes.push({ opType, input: inputs, output: outputs, name: this.unique(nodeName ?? `${opType}_node`), attribute });
    return outputs;
  }

  toModel(opts: { opset: number; producerVersion: string; docString?: string; metadata?: Record<string, string> }): OnnxModel {
    const valueInfo = (v: ValueSpec): OnnxNs.IValueInfoProto => ({
      name: v.name,
      type: {
        tensorType: {
          elemType: v.elemType,
          shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    return {
      irVersion: IR_VERSION,
      producerName: 'wganx',
      producerVersion: opts.producerVersion,
      docString: opts.docString ?? '',
      opsetImport: [{ domain: '', version: opts.opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    };
  }
}

function toAttribute(name: string, value: AttrValue): OnnxNs.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not an integer; wrap floats as { float }`);
    return { name, type: T.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  return { name, type: T.FLOAT, f: value.float };
}

/** A FLOAT attribute (even when the value is a whole number, e.g. alpha = 1). */
export function float(value: number): AttrValue {
  return { float: value };
}

export function encodeModel(model: OnnxModel): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export function decodeModel(bytes: Uint8Array): OnnxNs.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
