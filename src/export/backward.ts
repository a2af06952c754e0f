/**
 * Reverse-mode differentiation of an ONNX graph, written as more ONNX nodes (ONNX Runtime has no
 * autograd): given a graph, an output `of` and inputs `wrt`, append the nodes that compute
 * ∂(Σ of)/∂wrt and return their names.
 *
 * The pass walks the forward nodes backwards (ONNX graphs are topologically sorted, so every
 * consumer of a tensor is visited before its producer). A node is differentiated when one of its
 * outputs has a gradient and one of its float inputs depends on a `wrt` input ("active"); its
 * rule in ./backward-ops.ts `VJP_RULES` (one vector-Jacobian product per op type) turns the
 * gradients of its outputs into gradients of its active inputs, reading the forward values it
 * needs (a ReLU's input, a tanh's output) straight from the forward graph. Contributions to one
 * tensor from several consumers are summed. Weights, labels and other constants get no gradient.
 * A node on the path whose op has no rule fails with {@link UnsupportedGradientError} naming the
 * op and the node; nodes off the path (an AC head's logits) are never looked at.
 *
 * Per-sample gradients: with `of` shaped `[batch]` and no op that mixes rows (inference graphs:
 * batch norm folded, layer norm per sample), ∂(Σ_b of_b)/∂z_b = ∂of_b/∂z_b, row by row.
 *
 * @example
 *   const g = new GraphBuilder('refine'); … forward nodes …
 *   const { z } = appendGradients(g, { of: 'score', wrt: ['z'] });   // name of ∂score/∂z
 */
import { DataType, GraphBuilder, type AttrValue } from './onnx-builder.js';
import { GraphValues, UnsupportedGradientError, broadcastShapes, type Dim, type Graph, type Node } from './backward-shapes.js';
import { VJP_RULES, SUPPORTED_GRADIENT_OPS } from './backward-ops.js';

export { UnsupportedGradientError, SUPPORTED_GRADIENT_OPS };

export interface GradientOptions {
  /** The output to differentiate (summed over all its elements: its gradient seed is ones). */
  of: string;
  /** The float inputs (or any tensors) to differentiate with respect to. */
  wrt: string[];
}

/**
 * Node emission for the gradient rules: unique names, cached constants and shapes, and the
 * broadcast bookkeeping every element-wise rule needs.
 */
export class Emitter {
  private readonly ints = new Map<string, string>();
  private readonly scalars = new Map<number, string>();
  private readonly shapes = new Map<string, string>();

  constructor(
    readonly graph: GraphBuilder,
    readonly values: GraphValues,
  ) {}

  /** Append one node with one output; returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, hint = opType.toLowerCase()): string {
    return this.graph.node(opType, inputs, attrs, [hint], `${hint}_${opType}`)[0];
  }

  /** Append one node with several outputs. */
  opN(opType: string, inputs: string[], attrs: Record<string, AttrValue>, hints: string[]): string[] {
    return this.graph.node(opType, inputs, attrs, hints, `${hints[0]}_${opType}`);
  }

  /** An int64 constant (shapes, axes, pads), shared by the rules that need the same one. */
  int64(values: number[]): string {
    const key = values.join(',');
    let name = this.ints.get(key);
    if (!name) {
      name = this.graph.int64Initializer(`grad/const_i64_${values.length}`, values);
      this.ints.set(key, name);
    }
    return name;
  }

  /** A float32 scalar constant. */
  scalar(value: number): string {
    let name = this.scalars.get(value);
    if (!name) {
      name = this.graph.initializer('grad/const_f32', [], new Float32Array([value]));
      this.scalars.set(value, name);
    }
    return name;
  }

  /** A float32 vector constant (Resize scales). */
  floats(values: number[]): string {
    return this.graph.initializer('grad/const_f32', [values.length], new Float32Array(values));
  }

  /** Shape(x), once per tensor. */
  shapeOf(x: string): string {
    let name = this.shapes.get(x);
    if (!name) {
      name = this.op('Shape', [x], {}, `${x}_shape`);
      this.shapes.set(x, name);
    }
    return name;
  }

  /** A tensor of zeros shaped like `x` (float32). */
  zerosLike(x: string): string {
    return this.op('Expand', [this.scalar(0), this.shapeOf(x)], {}, `${x}_zeros`);
  }

  /**
   * Sum a gradient of shape `from` (an element-wise op's output) back to the shape `to` of an
   * input that was broadcast to it: over the leading axes `to` lacks and the axes where `to` is 1.
   */
  reduceTo(g: string, from: Dim[], to: Dim[], hint: string): string {
    const lead = from.length - to.length;
    const axes: number[] = [];
    for (let i = 0; i < from.length; i++) {
      if (i < lead || (to[i - lead] === 1 && from[i] !== 1)) axes.push(i);
    }
    if (axes.length === 0) return g;
    let out = this.op('ReduceSum', [g, this.int64(axes)], { keepdims: 1 }, hint);
    if (lead > 0) out = this.op('Squeeze', [out, this.int64(Array.from({ length: lead }, (_, i) => i))], {}, hint);
    return out;
  }

  /** The broadcast shape of an element-wise node's inputs (its output's shape). */
  broadcastOf(node: Node): Dim[] {
    return broadcastShapes((node.input ?? []).filter(Boolean).map((n) => this.values.shape(n)));
  }
}

/** What a gradient rule gets: the forward node, its outputs' gradients and which inputs need one. */
export interface VjpCall {
  node: Node;
  e: Emitter;
  values: GraphValues;
  /** ∂L/∂output for each output of the node; null where no gradient reaches that output. */
  grads: (string | null)[];
  /** Which inputs need a gradient (float inputs that depend on a `wrt` tensor). */
  active: boolean[];
  /** A name hint for the gradient of input `i`. */
  hint: (i: number) => string;
}

/** A rule returns ∂L/∂input for each input (null: none, or not needed). */
export type VjpRule = (call: VjpCall) => (string | null)[];

/** The forward graph as the rules and the shape pass read it (the builder's nodes so far). */
function graphOf(g: GraphBuilder): Graph {
  return {
    node: g.nodes,
    initializer: g.initializers,
    input: g.inputs.map((v) => ({ name: v.name, type: { tensorType: { elemType: v.elemType, shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } })),
  };
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE]);

/**
 * Append the backward graph of `of` with respect to `wrt` to `graph`. Returns, for each `wrt`
 * name, the name of its gradient tensor (zeros when `of` does not depend on it).
 */
export function appendGradients(graph: GraphBuilder, opts: GradientOptions): Record<string, string> {
  const forward = [...graph.nodes];
  const values = new GraphValues(graphOf(graph));
  const e = new Emitter(graph, values);
  const producers = new Map<string, Node>();
  for (const node of forward) for (const o of node.output ?? []) producers.set(o, node);
  if (!values.types.has(opts.of)) throw new UnsupportedGradientError('output', opts.of, `"${opts.of}" is not a tensor of the graph`);

  // Forward: the float tensors that depend on a wrt tensor.
  const active = new Set<string>();
  for (const w of opts.wrt) {
    if (!values.types.has(w)) throw new UnsupportedGradientError('input', w, `"${w}" is not a tensor of the graph`);
    if (!FLOAT_TYPES.has(values.elemType(w))) throw new UnsupportedGradientError('input', w, `"${w}" is not a float tensor (element type ${values.elemType(w)})`);
    active.add(w);
  }
  for (const node of forward) {
    if (!(node.input ?? []).some((i) => active.has(i))) continue;
    for (const o of node.output ?? []) if (o && FLOAT_TYPES.has(values.elemType(o))) active.add(o);
  }

  // Backward: contributions per tensor, summed when first read.
  const contributions = new Map<string, string[]>();
  const add = (name: string, grad: string) => contributions.set(name, [...(contributions.get(name) ?? []), grad]);
  const total = (name: string): string | null => {
    const list = contributions.get(name);
    if (!list || list.length === 0) return null;
    if (list.length === 1) return list[0];
    const sum = e.op('Sum', list, {}, `grad/${name}`);
    contributions.set(name, [sum]);
    return sum;
  };
  // The seed: ∂(Σ of)/∂of = 1 everywhere.
  add(opts.of, e.op('Expand', [e.scalar(1), e.shapeOf(opts.of)], {}, `grad/${opts.of}_seed`));

  for (let k = forward.length - 1; k >= 0; k--) {
    const node = forward[k];
    const inputs = node.input ?? [];
    const isActive = inputs.map((i) => i !== '' && active.has(i));
    if (!isActive.some(Boolean)) continue;
    const grads = (node.output ?? []).map((o) => (o ? total(o) : null));
    if (grads.every((g) => g == null)) continue;
    const opType = node.opType ?? '';
    const rule = VJP_RULES[opType];
    if (!rule) {
      throw new UnsupportedGradientError(opType, node.name ?? '', `no gradient rule for ${opType} (supported: ${SUPPORTED_GRADIENT_OPS.join(', ')})`);
    }
    const inGrads = rule({ node, e, values, grads, active: isActive, hint: (i) => `grad/${inputs[i]}` });
    inGrads.forEach((g, i) => {
      if (g && isActive[i]) add(inputs[i], g);
    });
  }

  const out: Record<string, string> = {};
  for (const w of opts.wrt) out[w] = total(w) ?? e.zerosLike(w);
  return out;
}
