/**
 * Rewrites of an exported ONNX graph into forms onnxruntime's CPU provider runs faster, each exact
 * up to float rounding, in standard ops only:
 *
 * - a strided ConvTranspose whose channels fit MLAS's NCHWc blocks becomes its stride phases
 *   (./conv-transpose.ts), and an element-wise activation that alone reads it (the ReLU after a
 *   folded BatchNorm, a fused tanh) moves onto every phase, where onnxruntime fuses it into the
 *   convolution;
 * - a Dense layer reshaped to an image and transposed to NCHW for the convolutions (a DCGAN's
 *   projection: Gemm → [activation] → Reshape [·, H, W, C] → Transpose) gets its weight's columns
 *   in NCHW order and a Reshape to [·, C, H, W] instead of the Transpose (the same products, bit for
 *   bit);
 * - Transpose pairs that undo each other are dropped (a phase layer's NHWC result read back in
 *   NHWC), and then whatever no longer feeds an output.
 *
 * The exporter applies it to every graph it converts (./convert.ts); `wganx export --optimize`
 * applies it to a model folder written before (./optimize-folder.ts). It is idempotent, and a graph
 * rewritten from a decoded file equals the one a fresh export writes for the same weights.
 *
 * @example
 *   const { model, changes } = rewriteGraph(decodeModel(bytes));
 *   changes   // ['g_project: Gemm columns in NCHW order, g_reshape to [0, 64, 7, 7], its Transpose dropped',
 *             //  'g_deconv_1: ConvTranspose 64→32 (7×7 → 14×14) as 4 phase convolutions, Relu fused']
 */
import type { onnx as OnnxNs } from 'onnx-proto';
import { GraphValues, attrInt, attrInts, attrString, num } from './backward-shapes.js';
import { PhaseActivation, emitPhases, phasePlan, phasesPay, type PhasePlan } from './conv-transpose.js';
import { DataType, GraphBuilder, decodeModel, encodeModel, onnx, type AttrValue, type OnnxModel } from './onnx-builder.js';

type Node = OnnxNs.INodeProto;
type Graph = OnnxNs.IGraphProto;
type Tensor = OnnxNs.ITensorProto;

export interface RewriteResult {
  /** A new model (the argument is not changed), as plain objects with int64 fields as numbers (like GraphBuilder's). */
  model: OnnxModel;
  /** One line per rewrite, for logs; empty when the graph was already in its fast form. */
  changes: string[];
}

/**
 * Element-wise ops that commute with the phases' concatenation and interleave, so they may run on
 * each phase instead (onnxruntime fuses Relu, Tanh, Sigmoid, LeakyRelu, Clip, HardSigmoid into Conv).
 */
const ELEMENTWISE = new Set(['Relu', 'LeakyRelu', 'Tanh', 'Sigmoid', 'HardSigmoid', 'Elu', 'Selu', 'Softplus', 'Softsign', 'Clip']);

/** float32 values of an initializer (raw little-endian bytes or float_data). */
function floats(t: Tensor): Float32Array {
  const raw = t.rawData;
  if (raw && raw.length > 0) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return Float32Array.from(t.floatData ?? []);
}

function isDefaultDomain(node: Node): boolean {
  return !node.domain || node.domain === 'ai.onnx';
}

/** Uses of each tensor: by node inputs, and graph outputs (counted once each). */
function useCounts(graph: Graph): Map<string, number> {
  const uses = new Map<string, number>();
  const add = (name: string | null | undefined) => name && uses.set(name, (uses.get(name) ?? 0) + 1);
  for (const node of graph.node ?? []) for (const i of node.input ?? []) add(i);
  for (const o of graph.output ?? []) add(o.name);
  return uses;
}

/** The phase plan of a ConvTranspose node, or null when it is not one this pass rewrites. */
function planOf(node: Node, values: GraphValues, inits: Map<string, Tensor>): PhasePlan | null {
  const [x, w] = node.input ?? [];
  const weight = inits.get(w ?? '');
  const bias = node.input?.[2] ? inits.get(node.input[2]) : undefined;
  if (!weight || weight.dataType !== DataType.FLOAT || (weight.dims ?? []).length !== 4) return null;
  if (node.input?.[2] && (!bias || bias.dataType !== DataType.FLOAT)) return null;
  if (attrInt(node, 'group', 1) !== 1 || attrString(node, 'auto_pad', 'NOTSET') !== 'NOTSET' || attrInts(node, 'output_shape')) return null;
  if ((attrInts(node, 'dilations') ?? [1, 1]).some((d) => d !== 1)) return null;
  const shape = values.types.get(x ?? '')?.shape;
  if (!shape || shape.length !== 4 || typeof shape[2] !== 'number' || typeof shape[3] !== 'number') return null;
  const dims = (weight.dims ?? []).map((d) => num(d as number));
  const kernel = attrInts(node, 'kernel_shape') ?? dims.slice(2);
  if (kernel[0] !== dims[2] || kernel[1] !== dims[3]) return null;
  const strides = attrInts(node, 'strides') ?? [1, 1];
  const pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  const outputPadding = attrInts(node, 'output_padding') ?? [0, 0];
  if (strides.length !== 2 || pads.length !== 4 || outputPadding.length !== 2) return null;
  return phasePlan({ weightShape: dims, strides: [strides[0], strides[1]], pads: [pads[0], pads[1], pads[2], pads[3]], outputPadding: [outputPadding[0], outputPadding[1]], inSize: [shape[2], shape[3]] });
}

/** Attribute protos back to the builder's values (the element-wise ops' alpha, beta, …). */
function attrValues(node: Node): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const a of node.attribute ?? []) {
    if (a.name == null) continue;
    if (a.f != null && a.type === 1) out[a.name] = { float: a.f };
    else if (a.type === 2) out[a.name] = num(a.i as number);
    else if (a.type === 3 && a.s) out[a.name] = new TextDecoder().decode(a.s);
    else if (a.type === 6) out[a.name] = { floats: [...(a.floats ?? [])] };
    else if (a.type === 7) out[a.name] = (a.ints ?? []).map((v) => num(v as number));
  }
  return out;
}

/** Transposes whose input is a Transpose they undo: their readers read the first one's input. */
function cancelTransposes(graph: Graph): number {
  const producer = new Map<string, Node>();
  for (const node of graph.node ?? []) for (const o of node.output ?? []) producer.set(o, node);
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const rename = new Map<string, string>();
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Transpose' || !isDefaultDomain(node) || outputs.has(node.output?.[0])) continue;
    const first = producer.get(node.input?.[0] ?? '');
    if (!first || first.opType !== 'Transpose' || !isDefaultDomain(first)) continue;
    const [p1, p2] = [attrInts(first, 'perm'), attrInts(node, 'perm')];
    if (!p1 || !p2 || p1.length !== p2.length || !p2.every((p, i) => p1[p] === i)) continue;
    rename.set(node.output![0], first.input![0]);
  }
  if (rename.size === 0) return 0;
  const resolve = (name: string): string => (rename.has(name) ? resolve(rename.get(name)!) : name);
  for (const node of graph.node ?? []) node.input = (node.input ?? []).map(resolve);
  return rename.size;
}

/** Drop nodes none of whose outputs is read, and initializers nothing reads. */
function pruneDead(graph: Graph): void {
  for (;;) {
    const uses = useCounts(graph);
    const kept = (graph.node ?? []).filter((n) => (n.output ?? []).some((o) => o && uses.has(o)));
    if (kept.length === (graph.node ?? []).length) break;
    graph.node = kept;
  }
  const uses = useCounts(graph);
  graph.initializer = (graph.initializer ?? []).filter((t) => uses.has(t.name ?? ''));
}

/** The single node reading `name`, when exactly one reads it and it is not a graph output. */
function soleReader(graph: Graph, name: string): Node | null {
  if ((graph.output ?? []).some((o) => o.name === name)) return null;
  const readers = (graph.node ?? []).filter((n) => (n.input ?? []).includes(name));
  return readers.length === 1 && readers[0].input!.filter((i) => i === name).length === 1 ? readers[0] : null;
}

function setFloats(t: Tensor, data: Float32Array): void {
  t.rawData = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  t.floatData = [];
}

function setInts(t: Tensor, values: number[]): void {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  t.rawData = bytes;
  t.int64Data = [];
}

/**
 * Gemm → [element-wise]* → Reshape [b, H, W, C] → Transpose [0, 3, 1, 2]: permute the Gemm's output
 * columns (weight and bias) into (C, H, W) order, reshape to [b, C, H, W] and drop the Transpose.
 */
function foldProjectionTransposes(graph: Graph, inits: Map<string, Tensor>, uses: Map<string, number>): string[] {
  const changes: string[] = [];
  const rename = new Map<string, string>();
  const dropped = new Set<Node>();
  for (const gemm of graph.node ?? []) {
    if (gemm.opType !== 'Gemm' || !isDefaultDomain(gemm)) continue;
    let tail = soleReader(graph, gemm.output![0]);
    while (tail && isDefaultDomain(tail) && ELEMENTWISE.has(tail.opType ?? '')) tail = soleReader(graph, tail.output![0]);
    const reshape = tail;
    if (!reshape || reshape.opType !== 'Reshape' || !isDefaultDomain(reshape) || attrInt(reshape, 'allowzero', 0) !== 0) continue;
    const transpose = soleReader(graph, reshape.output![0]);
    if (!transpose || transpose.opType !== 'Transpose' || !isDefaultDomain(transpose) || (attrInts(transpose, 'perm') ?? []).join() !== '0,3,1,2') continue;
    const shapeT = inits.get(reshape.input?.[1] ?? '');
    const [w, c] = [inits.get(gemm.input?.[1] ?? ''), gemm.input?.[2] ? inits.get(gemm.input[2]) : undefined];
    if (!shapeT || !w || w.dataType !== DataType.FLOAT || (gemm.input?.[2] && (!c || c.dataType !== DataType.FLOAT))) continue;
    if ([shapeT.name, w.name, c?.name].some((n) => n && uses.get(n) !== 1)) continue;
    const target = tensorInts(shapeT);
    const wDims = (w.dims ?? []).map((d) => num(d as number));
    const transB = attrInt(gemm, 'transB', 0) === 1;
    const n = transB ? wDims[0] : wDims[1];
    if (target.length !== 4 || target.slice(1).some((d) => d <= 0) || target[1] * target[2] * target[3] !== n || wDims.length !== 2) continue;
    if (c && floats(c).length !== n) continue;
    const [, h, wd, ch] = target;
    // New column (k, y, x) in NCHW order takes old column (y, x, k) of the NHWC reshape.
    const from = new Int32Array(n);
    for (let k = 0; k < ch; k++) for (let y = 0; y < h; y++) for (let x = 0; x < wd; x++) from[(k * h + y) * wd + x] = (y * wd + x) * ch + k;
    const weight = floats(w);
    const rows = weight.length / n;
    const permuted = new Float32Array(weight.length);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < rows; i++) {
        if (transB) permuted[j * rows + i] = weight[from[j] * rows + i];
        else permuted[i * n + j] = weight[i * n + from[j]];
      }
    }
    setFloats(w, permuted);
    if (c) {
      const bias = floats(c);
      setFloats(c, Float32Array.from(from, (f) => bias[f]));
    }
    setInts(shapeT, [target[0], ch, h, wd]);
    rename.set(transpose.output![0], reshape.output![0]);
    dropped.add(transpose);
    changes.push(`${gemm.output![0]}: Gemm columns in NCHW order, ${reshape.output![0]} to [${target[0]}, ${ch}, ${h}, ${wd}], its Transpose dropped`);
  }
  if (rename.size > 0) {
    graph.node = (graph.node ?? []).filter((n) => !dropped.has(n));
    for (const node of graph.node) node.input = (node.input ?? []).map((i) => rename.get(i) ?? i);
  }
  return changes;
}

function tensorInts(t: Tensor): number[] {
  const raw = t.rawData;
  if (t.dataType === DataType.INT64 && raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: raw.length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  return t.dataType === DataType.INT64 ? (t.int64Data ?? []).map((v) => num(v as number)) : [];
}

function side(plan: PhasePlan): string {
  const [h, w] = plan.geometry.inSize;
  return `${h}×${w} → ${plan.outSize[0]}×${plan.outSize[1]}`;
}

/** Rewrite `model` (see the module comment); the input model is left as it was. */
export function rewriteGraph(model: OnnxModel): RewriteResult {
  // A decoded copy: the same messages whether the model came from the builder or from a file.
  const copy = decodeModel(encodeModel(model));
  const graph = copy.graph!;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const changes = foldProjectionTransposes(graph, inits, useCounts(graph));
  const values = new GraphValues(graph);
  const uses = useCounts(graph);
  const readers = new Map<string, Node[]>();
  for (const node of graph.node ?? []) for (const i of node.input ?? []) readers.set(i, [...(readers.get(i) ?? []), node]);
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name));

  const patch = new GraphBuilder('rewrite');
  for (const name of [...inits.keys(), ...(graph.input ?? []).map((i) => i.name ?? ''), ...graphOutputs]) if (name) patch.unique(name);
  for (const node of graph.node ?? []) for (const name of [...(node.output ?? []), node.name ?? '']) if (name) patch.unique(name);

  const replaced = new Map<Node, Node[]>();
  const absorbed = new Set<Node>();
  for (const node of graph.node ?? []) {
    if (node.opType !== 'ConvTranspose' || !isDefaultDomain(node)) continue;
    const plan = planOf(node, values, inits);
    if (!plan || !phasesPay(plan)) continue;
    const y = node.output![0];
    const reader = readers.get(y)?.[0];
    const act = uses.get(y) === 1 && !graphOutputs.has(y) && reader && isDefaultDomain(reader) && ELEMENTWISE.has(reader.opType ?? '') ? reader : null;
    const activation: PhaseActivation | undefined = act ? { opType: act.opType!, extraInputs: (act.input ?? []).slice(1), attrs: attrValues(act) } : undefined;
    const label = y || node.name || 'ConvTranspose';
    const start = patch.nodes.length;
    const weight = floats(inits.get(node.input![1])!);
    const bias = node.input?.[2] ? floats(inits.get(node.input[2])!) : null;
    const nhwc = emitPhases(patch, node.input![0], weight, bias, plan, label, activation);
    // Back to NCHW under the name the rest of the graph reads (dropped again where NHWC is wanted).
    patch.nodeTo('Transpose', [nhwc], { perm: [0, 3, 1, 2] }, [act ? act.output![0] : y], `${label}_nchw`);
    replaced.set(node, patch.nodes.slice(start) as Node[]);
    if (act) absorbed.add(act);
    changes.push(`${label}: ConvTranspose ${plan.cin}→${plan.cout} (${side(plan)}) as ${plan.phases.length} phase convolutions${act ? `, ${act.opType} fused` : ''}`);
  }
  if (changes.length === 0) return { model: plain(copy), changes };

  graph.node = (graph.node ?? []).flatMap((n) => replaced.get(n) ?? (absorbed.has(n) ? [] : [n]));
  graph.initializer = [...(graph.initializer ?? []), ...(patch.initializers as Tensor[])];
  const cancelled = cancelTransposes(graph);
  if (cancelled > 0) changes.push(`${cancelled} Transpose pair${cancelled === 1 ? '' : 's'} that undid each other dropped`);
  pruneDead(graph);
  return { model: plain(copy), changes };
}

/** A decoded model as plain objects, int64 fields as numbers (protobufjs decodes them as Longs). */
function plain(model: OnnxNs.ModelProto): OnnxModel {
  return onnx.ModelProto.toObject(model, { longs: Number }) as OnnxModel;
}
