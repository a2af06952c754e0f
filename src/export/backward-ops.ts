/**
 * The gradient rules of the backward pass (./backward.ts): one vector-Jacobian product per ONNX op
 * type, each turning ∂L/∂outputs into ∂L/∂inputs with a few more ONNX nodes (opset 13–17). Frozen:
 * the one list of what can be differentiated; an op missing here fails with the op and node named.
 *
 * Shapes below are NCHW for images (what the convolutions see); `g` is the gradient of the output.
 * - element-wise ops: the textbook derivatives, from the forward input `x` or output `y` (ReLU:
 *   g·[x > 0]; leaky ReLU: g or α·g; tanh: g·(1 − y²); …), then summed over the axes an input was
 *   broadcast along (a bias `[C]` against `[B, C]`, a label embedding `[B, 1, 1, C]`).
 * - Gemm / MatMul: g·Bᵀ and Aᵀ·g.
 * - Conv: its adjoint, ConvTranspose with the same weights, strides, pads and dilations (and the
 *   output padding that gives back the input's size); ConvTranspose: Conv with the same weights.
 * - inference BatchNormalization: g·γ/√(var + ε) per channel; LayerNormalization:
 *   (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ with ĝ = g·γ, x̂ = (x − μ)/σ over the normalised axes.
 * - layout ops (Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Pad,
 *   DepthToSpace, SpaceToDepth, Expand): the inverse movement of g.
 * - nearest up-sampling (Resize, integer scales): the sum over each source pixel's block;
 *   non-overlapping AveragePool: g spread back over its window ÷ its size; GlobalAveragePool,
 *   ReduceMean / ReduceSum: g spread over the reduced axes (÷ their size for means).
 * Only the gradient with respect to data is emitted: a weight that depends on the input (a Conv
 * whose kernel is computed) is refused.
 */
import { DataType, float } from './onnx-builder.js';
import { UnsupportedGradientError, attrFloat, attrInt, attrInts, attrString, reduceAxes, sliceRanges, splitSizes, type Dim, type Node } from './backward-shapes.js';
import type { Emitter, VjpCall, VjpRule } from './backward.js';

function refuse(node: Node, detail: string): never {
  throw new UnsupportedGradientError(node.opType ?? '', node.name ?? '', detail);
}

function only(call: VjpCall, ...allowed: number[]): void {
  call.active.forEach((a, i) => {
    if (a && !allowed.includes(i)) refuse(call.node, `input ${i} ("${call.node.input![i]}") depends on the differentiated input; only the gradient with respect to input ${allowed.join(', ')} is supported`);
  });
}

const inputs = (call: VjpCall) => call.node.input ?? [];
const output = (call: VjpCall) => call.node.output![0];

/** A rule for a one-input op: `fn(g, x, y)` gives ∂L/∂x. */
function unary(fn: (e: Emitter, g: string, x: string, y: string, call: VjpCall) => string): VjpRule {
  return (call) => {
    only(call, 0);
    const g = call.grads[0];
    return [g ? fn(call.e, g, inputs(call)[0], output(call), call) : null];
  };
}

/** g where `mask` holds, else `otherwise` (default 0). */
function where(e: Emitter, mask: string, g: string, hint: string, otherwise?: string): string {
  return e.op('Where', [mask, g, otherwise ?? e.scalar(0)], {}, hint);
}

function positive(e: Emitter, x: string, hint: string): string {
  return e.op('Greater', [x, e.scalar(0)], {}, `${hint}_mask`);
}

/** Gradients of an element-wise op's inputs from per-input products, summed back to each input's shape. */
function elementwise(per: (call: VjpCall, g: string, i: number) => string): VjpRule {
  return (call) => {
    const g = call.grads[0];
    if (!g) return [];
    const out = call.e.broadcastOf(call.node);
    return inputs(call).map((name, i) => (call.active[i] ? call.e.reduceTo(per(call, g, i), out, call.values.shape(name), call.hint(i)) : null));
  };
}

/** The inverse of a layout change that keeps the elements: g reshaped to the input's shape. */
const reshapeBack: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  const x = inputs(call)[0];
  return [g ? call.e.op('Reshape', [g, call.e.shapeOf(x)], {}, call.hint(0)) : null];
};

function invertPerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

function swapLast(e: Emitter, x: string, rank: number, hint: string): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return e.op('Transpose', [x], { perm }, hint);
}

/** An image tensor's shape with its batch axis as 0: every other axis must have a fixed size. */
function spatialShape(call: VjpCall, name: string): number[] {
  const s = call.values.shape(name);
  if (s.slice(1).some((d) => typeof d !== 'number')) refuse(call.node, `"${name}" has shape ${JSON.stringify(s)}; fixed channels, height and width are needed`);
  return s.map((d, i) => (i === 0 ? 0 : (d as number)));
}

function spatialAttrs(node: Node, rank: number) {
  const n = rank - 2;
  return {
    strides: attrInts(node, 'strides') ?? new Array(n).fill(1),
    dilations: attrInts(node, 'dilations') ?? new Array(n).fill(1),
    pads: attrInts(node, 'pads') ?? new Array(2 * n).fill(0),
    group: attrInt(node, 'group', 1),
    autoPad: attrString(node, 'auto_pad', 'NOTSET'),
  };
}

/** Conv's explicit pads (auto_pad resolved on the fixed input size, as ONNX does). */
function convPads(call: VjpCall, x: number[], kernel: number[]): number[] {
  const { strides, dilations, pads, autoPad } = spatialAttrs(call.node, x.length);
  const n = x.length - 2;
  if (autoPad === 'NOTSET') return pads;
  if (autoPad === 'VALID') return new Array(2 * n).fill(0);
  const out = new Array(2 * n).fill(0);
  for (let i = 0; i < n; i++) {
    const size = x[i + 2];
    const k = (kernel[i] - 1) * dilations[i] + 1;
    const total = Math.max((Math.ceil(size / strides[i]) - 1) * strides[i] + k - size, 0);
    const small = Math.floor(total / 2);
    out[i] = autoPad === 'SAME_UPPER' ? small : total - small;
    out[i + n] = total - out[i];
  }
  return out;
}

const conv: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const [xName, wName] = inputs(call);
  const x = spatialShape(call, xName);
  const w = call.values.fixedShape(wName);
  const y = spatialShape(call, output(call));
  const kernel = attrInts(call.node, 'kernel_shape') ?? w.slice(2);
  const { strides, dilations, group } = spatialAttrs(call.node, x.length);
  const pads = convPads(call, x, kernel);
  const n = x.length - 2;
  // ConvTranspose's output is s·(in − 1) + (k − 1)·d + 1 − pads + output_padding: pad up to x's size
  // (the rows a strided Conv never read get no gradient).
  const outputPadding = Array.from({ length: n }, (_, i) => x[i + 2] - (strides[i] * (y[i + 2] - 1) + (kernel[i] - 1) * dilations[i] + 1 - pads[i] - pads[i + n]));
  if (outputPadding.some((p, i) => p < 0 || p >= Math.max(strides[i], dilations[i]))) refuse(call.node, `no transposed convolution gives back its input size ${JSON.stringify(x)}`);
  const attrs = { kernel_shape: kernel, strides, dilations, pads, group, output_padding: outputPadding };
  return [call.e.op('ConvTranspose', [g, wName], attrs, call.hint(0))];
};

const convTranspose: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const [xName, wName] = inputs(call);
  const x = call.values.shape(xName);
  const w = call.values.fixedShape(wName);
  const { strides, dilations, pads, group, autoPad } = spatialAttrs(call.node, x.length);
  if (autoPad !== 'NOTSET' || attrInts(call.node, 'output_shape')) refuse(call.node, 'auto_pad / output_shape (only explicit pads)');
  // The adjoint of a transposed convolution is the convolution with the same weights ([C, M/group, kh, kw]
  // read as [out, in/group, kh, kw]); output_padding only added cells at the end that Conv's pads cover.
  const attrs = { kernel_shape: attrInts(call.node, 'kernel_shape') ?? w.slice(2), strides, dilations, pads, group };
  return [call.e.op('Conv', [g, wName], attrs, call.hint(0))];
};

const gemm: VjpRule = (call) => {
  const g = call.grads[0];
  if (!g) return [];
  const { e, node } = call;
  const [a, b, c] = inputs(call);
  const [transA, transB] = [attrInt(node, 'transA', 0), attrInt(node, 'transB', 0)];
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const out: (string | null)[] = [null, null, null];
  if (call.active[0]) {
    // ∂op(A) = α·g·op(B)ᵀ; A stored transposed gets the transpose of that.
    const dA = e.op('Gemm', [g, b], { transB: transB ? 0 : 1, alpha: float(alpha) }, call.hint(0));
    out[0] = transA ? e.op('Transpose', [dA], { perm: [1, 0] }, call.hint(0)) : dA;
  }
  if (call.active[1]) {
    const dB = e.op('Gemm', [a, g], { transA: transA ? 0 : 1, alpha: float(alpha) }, call.hint(1));
    out[1] = transB ? e.op('Transpose', [dB], { perm: [1, 0] }, call.hint(1)) : dB;
  }
  if (call.active[2] && c) {
    const scaled = beta === 1 ? g : e.op('Mul', [g, e.scalar(beta)], {}, call.hint(2));
    out[2] = e.reduceTo(scaled, call.values.shape(output(call)), call.values.shape(c), call.hint(2));
  }
  return out;
};

const matmul: VjpRule = (call) => {
  const g = call.grads[0];
  if (!g) return [];
  const { e, values } = call;
  const [a, b] = inputs(call);
  const [sa, sb, sy] = [values.shape(a), values.shape(b), values.shape(output(call))];
  const batch = sy.slice(0, -2);
  const out: (string | null)[] = [null, null];
  if (call.active[0]) {
    const dA = e.op('MatMul', [g, swapLast(e, b, sb.length, `${call.hint(0)}_bt`)], {}, call.hint(0));
    out[0] = e.reduceTo(dA, [...batch, sa[sa.length - 2], sa[sa.length - 1]], sa, call.hint(0));
  }
  if (call.active[1]) {
    const dB = e.op('MatMul', [swapLast(e, a, sa.length, `${call.hint(1)}_at`), g], {}, call.hint(1));
    out[1] = e.reduceTo(dB, [...batch, sb[sb.length - 2], sb[sb.length - 1]], sb, call.hint(1));
  }
  return out;
};

const batchNorm: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const { e, node } = call;
  if (attrInt(node, 'training_mode', 0)) refuse(node, 'training_mode 1 (only inference batch norm)');
  const [x, scale, , , variance] = inputs(call);
  const rank = call.values.shape(x).length;
  const eps = attrFloat(node, 'epsilon', 1e-5);
  // y = (x − mean)·γ/√(var + ε) + β along axis 1: ∂y/∂x = γ/√(var + ε), broadcast as [C, 1, …].
  const std = e.op('Sqrt', [e.op('Add', [variance, e.scalar(eps)], {}, `${call.hint(0)}_var`)], {}, `${call.hint(0)}_std`);
  let factor = e.op('Div', [scale, std], {}, `${call.hint(0)}_factor`);
  if (rank > 2) factor = e.op('Unsqueeze', [factor, e.int64(Array.from({ length: rank - 2 }, (_, i) => i + 1))], {}, `${call.hint(0)}_factor`);
  return [e.op('Mul', [g, factor], {}, call.hint(0))];
};

const layerNorm: VjpRule = (call) => {
  only(call, 0);
  const { e, node } = call;
  if (call.grads[1] || call.grads[2]) refuse(node, 'a gradient reaches its Mean / InvStdDev outputs');
  const g = call.grads[0];
  if (!g) return [];
  const [x, scale] = inputs(call);
  const rank = call.values.shape(x).length;
  const first = (attrInt(node, 'axis', -1) + rank) % rank;
  const axes = Array.from({ length: rank - first }, (_, i) => first + i);
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const h = call.hint(0);
  const mean = (t: string, hint: string) => e.op('ReduceMean', [t], { axes, keepdims: 1 }, hint);
  // Recomputed here (the forward node does not expose μ and 1/σ): x̂ = (x − μ)/σ.
  const d = e.op('Sub', [x, mean(x, `${h}_mu`)], {}, `${h}_centred`);
  const variance = mean(e.op('Mul', [d, d], {}, `${h}_sq`), `${h}_var`);
  const inv = e.op('Reciprocal', [e.op('Sqrt', [e.op('Add', [variance, e.scalar(eps)], {}, `${h}_var_eps`)], {}, `${h}_std`)], {}, `${h}_inv_std`);
  const xhat = e.op('Mul', [d, inv], {}, `${h}_xhat`);
  const gh = e.op('Mul', [g, scale], {}, `${h}_g_scaled`);
  const inner = e.op('Sub', [e.op('Sub', [gh, mean(gh, `${h}_g_mean`)], {}, `${h}_g_centred`), e.op('Mul', [xhat, mean(e.op('Mul', [gh, xhat], {}, `${h}_g_xhat`), `${h}_g_xhat_mean`)], {}, `${h}_proj`)], {}, `${h}_inner`);
  return [e.op('Mul', [inner, inv], {}, h)];
};

const transpose: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const rank = call.values.shape(inputs(call)[0]).length;
  const perm = attrInts(call.node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  return [call.e.op('Transpose', [g], { perm: invertPerm(perm) }, call.hint(0))];
};

const concat: VjpRule = (call) => {
  const g = call.grads[0];
  if (!g) return [];
  const names = inputs(call);
  const rank = call.values.shape(names[0]).length;
  const axis = (attrInt(call.node, 'axis', 0) + rank) % rank;
  const sizes = names.map((n) => call.values.shape(n)[axis]);
  if (sizes.some((s) => typeof s !== 'number')) refuse(call.node, `concatenation along the symbolic axis ${axis}`);
  return call.e.opN('Split', [g, call.e.int64(sizes as number[])], { axis }, names.map((_, i) => call.hint(i)));
};

const split: VjpRule = (call) => {
  only(call, 0);
  const { e, node } = call;
  if (call.grads.every((g) => g == null)) return [];
  const rank = call.values.shape(inputs(call)[0]).length;
  const axis = (attrInt(node, 'axis', 0) + rank) % rank;
  splitSizes(node, call.values); // refuses a split it cannot size
  const parts = node.output!.map((o, i) => call.grads[i] ?? e.zerosLike(o));
  return [e.op('Concat', parts, { axis }, call.hint(0))];
};

const slice: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const x = call.values.shape(inputs(call)[0]);
  const pads = new Array<number>(2 * x.length).fill(0);
  for (const { axis, start, end, step } of sliceRanges(call.node, call.values)) {
    if (end === Number.MAX_SAFE_INTEGER) continue;
    if (step !== 1) refuse(call.node, `step ${step} (only 1)`);
    pads[axis] = start;
    pads[axis + x.length] = (x[axis] as number) - Math.max(end, start);
  }
  return [call.e.op('Pad', [g, call.e.int64(pads)], { mode: 'constant' }, call.hint(0))];
};

const pad: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const { e, node, values } = call;
  if (attrString(node, 'mode', 'constant') !== 'constant') refuse(node, `mode "${attrString(node, 'mode', 'constant')}" (only constant)`);
  const pads = values.ints(inputs(call)[1]);
  if (!pads) refuse(node, 'pads that are not a constant');
  const x = values.shape(inputs(call)[0]);
  const r = x.length;
  if (pads.some((p) => p < 0)) refuse(node, `negative pads ${JSON.stringify(pads)}`);
  const axes: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < r; i++) {
    if (pads[i] === 0 && pads[i + r] === 0) continue;
    if (typeof x[i] !== 'number') refuse(node, `padding along the symbolic axis ${i}`);
    axes.push(i);
    starts.push(pads[i]);
    ends.push(pads[i] + (x[i] as number));
  }
  if (axes.length === 0) return [g];
  return [e.op('Slice', [g, e.int64(starts), e.int64(ends), e.int64(axes)], {}, call.hint(0))];
};

const depthToSpace: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const { e, node } = call;
  const b = attrInt(node, 'blocksize', 1);
  if (attrString(node, 'mode', 'DCR') === 'DCR') return [e.op('SpaceToDepth', [g], { blocksize: b }, call.hint(0))];
  // CRD: x [N, C·b·b, H, W] → [N, C, b, b, H, W] → (0, 1, 4, 2, 5, 3) → [N, C, H·b, W·b]; undone step by step.
  const [, c, h, w] = spatialShape(call, inputs(call)[0]);
  const split = e.op('Reshape', [g, e.int64([0, c / (b * b), h, b, w, b])], {}, `${call.hint(0)}_blocks`);
  const moved = e.op('Transpose', [split], { perm: [0, 1, 3, 5, 2, 4] }, `${call.hint(0)}_moved`);
  return [e.op('Reshape', [moved, e.int64([0, c, h, w])], {}, call.hint(0))];
};

const spaceToDepth: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  return [g ? call.e.op('DepthToSpace', [g], { blocksize: attrInt(call.node, 'blocksize', 1), mode: 'DCR' }, call.hint(0)) : null];
};

const resize: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const { e, node, values } = call;
  const mode = attrString(node, 'mode', 'nearest');
  const transform = attrString(node, 'coordinate_transformation_mode', 'half_pixel');
  const nearest = attrString(node, 'nearest_mode', 'round_prefer_floor');
  const x = values.shape(inputs(call)[0]);
  const y = values.shape(output(call));
  if (mode !== 'nearest' || transform !== 'asymmetric') refuse(node, `mode "${mode}" with coordinate_transformation_mode "${transform}" (only nearest, asymmetric: tfjs's nearest up-sampling)`);
  const scales = x.map((d, i) => (d === y[i] ? 1 : typeof d === 'number' && typeof y[i] === 'number' ? (y[i] as number) / d : NaN));
  if (x.length !== 4 || scales[0] !== 1 || scales[1] !== 1 || !scales.every((s) => Number.isInteger(s))) refuse(node, `scales ${JSON.stringify(scales)} (only whole up-sampling factors of the spatial axes)`);
  if (nearest !== 'floor' && scales.some((s) => s > 2)) refuse(node, `nearest_mode "${nearest}" with a factor above 2 (only floor)`);
  // Output pixel i copies input pixel ⌊i/s⌋: each input pixel's gradient is the sum over its s×s block.
  const [sh, sw] = [scales[2], scales[3]];
  const mean = e.op('AveragePool', [g], { kernel_shape: [sh, sw], strides: [sh, sw] }, `${call.hint(0)}_block_mean`);
  return [sh * sw === 1 ? mean : e.op('Mul', [mean, e.scalar(sh * sw)], {}, call.hint(0))];
};

const averagePool: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const { e, node } = call;
  const x = spatialShape(call, inputs(call)[0]);
  const y = spatialShape(call, output(call));
  const kernel = attrInts(node, 'kernel_shape') ?? [];
  const { strides, pads, dilations, autoPad } = spatialAttrs(node, x.length);
  const exact = kernel.length === 2 && kernel.every((k, i) => k === strides[i]) && pads.every((p) => p === 0) && dilations.every((d) => d === 1) && (autoPad === 'NOTSET' || autoPad === 'VALID') && attrInt(node, 'ceil_mode', 0) === 0;
  if (!exact) refuse(node, `kernel ${JSON.stringify(kernel)}, strides ${JSON.stringify(strides)}, pads ${JSON.stringify(pads)} (only non-overlapping, unpadded 2-D windows, ceil_mode 0)`);
  // Each output cell is the mean of its window: its gradient ÷ k² goes to every cell of that window;
  // the rows and columns past the last whole window were never read.
  const up = e.op('Resize', [g, '', e.floats([1, 1, ...kernel])], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, `${call.hint(0)}_spread`);
  let out = e.op('Mul', [up, e.scalar(1 / (kernel[0] * kernel[1]))], {}, call.hint(0));
  const rest = [x[2] - y[2] * kernel[0], x[3] - y[3] * kernel[1]];
  if (rest.some((r) => r > 0)) out = e.op('Pad', [out, e.int64([0, 0, 0, 0, 0, 0, rest[0], rest[1]])], { mode: 'constant' }, call.hint(0));
  return [out];
};

/** g spread over the axes a reduction removed (÷ their size for a mean). */
function reduceRule(meanOf: boolean): VjpRule {
  return (call) => {
    only(call, 0);
    const g = call.grads[0];
    if (!g) return [];
    const { e, node, values } = call;
    const xName = inputs(call)[0];
    const x = values.shape(xName);
    const axes = node.opType === 'GlobalAveragePool' ? x.map((_, i) => i).slice(2) : reduceAxes(node, values, x.length);
    const keep = node.opType === 'GlobalAveragePool' ? 1 : attrInt(node, 'keepdims', 1);
    const kept = keep ? g : e.op('Unsqueeze', [g, e.int64(axes)], {}, `${call.hint(0)}_kept`);
    const spread = e.op('Expand', [kept, e.shapeOf(xName)], {}, meanOf ? `${call.hint(0)}_spread` : call.hint(0));
    if (!meanOf) return [spread];
    const count = axes.map((a) => x[a]);
    if (count.some((d) => typeof d !== 'number')) refuse(node, `a mean over the symbolic axes ${JSON.stringify(axes)}`);
    return [e.op('Mul', [spread, e.scalar(1 / (count as number[]).reduce((p, d) => p * d, 1))], {}, call.hint(0))];
  };
}

const cast: VjpRule = (call) => {
  const g = call.grads[0];
  if (!g) return [];
  const from = call.values.elemType(inputs(call)[0]);
  return [from === DataType.FLOAT ? g : call.e.op('Cast', [g], { to: from }, call.hint(0))];
};

const clip: VjpRule = (call) => {
  only(call, 0);
  const g = call.grads[0];
  if (!g) return [];
  const { e } = call;
  const [x, lo, hi] = inputs(call);
  let mask: string | null = null;
  const both = (m: string) => (mask ? e.op('And', [mask, m], {}, `${call.hint(0)}_mask`) : m);
  if (lo) mask = both(e.op('Greater', [x, lo], {}, `${call.hint(0)}_above`));
  if (hi) mask = both(e.op('Less', [x, hi], {}, `${call.hint(0)}_below`));
  return [mask ? where(e, mask, g, call.hint(0)) : g];
};

const softmax: VjpRule = unary((e, g, _x, y, call) => {
  const axis = attrInt(call.node, 'axis', -1);
  const dot = e.op('ReduceSum', [e.op('Mul', [g, y], {}, `${call.hint(0)}_gy`), e.int64([axis])], { keepdims: 1 }, `${call.hint(0)}_dot`);
  return e.op('Mul', [y, e.op('Sub', [g, dot], {}, `${call.hint(0)}_centred`)], {}, call.hint(0));
});

const SELU = { alpha: 1.67326319217681884765625, gamma: 1.05070102214813232421875 };

/** Op type → gradient rule. Frozen: the one list of what the backward pass differentiates. */
export const VJP_RULES: Readonly<Record<string, VjpRule>> = Object.freeze({
  Identity: unary((_e, g) => g),
  Dropout: unary((_e, g) => g),
  Cast: cast,
  Neg: unary((e, g, _x, _y, c) => e.op('Neg', [g], {}, c.hint(0))),
  Relu: unary((e, g, x, _y, c) => where(e, positive(e, x, c.hint(0)), g, c.hint(0))),
  LeakyRelu: unary((e, g, x, _y, c) => where(e, positive(e, x, c.hint(0)), g, c.hint(0), e.op('Mul', [g, e.scalar(attrFloat(c.node, 'alpha', 0.01))], {}, `${c.hint(0)}_neg`))),
  Elu: unary((e, g, x, y, c) => where(e, positive(e, x, c.hint(0)), g, c.hint(0), e.op('Mul', [g, e.op('Add', [y, e.scalar(attrFloat(c.node, 'alpha', 1))], {}, `${c.hint(0)}_d`)], {}, `${c.hint(0)}_neg`))),
  Selu: unary((e, g, x, y, c) => {
    const [alpha, gamma] = [attrFloat(c.node, 'alpha', SELU.alpha), attrFloat(c.node, 'gamma', SELU.gamma)];
    const neg = e.op('Mul', [g, e.op('Add', [y, e.scalar(alpha * gamma)], {}, `${c.hint(0)}_d`)], {}, `${c.hint(0)}_neg`);
    return where(e, positive(e, x, c.hint(0)), e.op('Mul', [g, e.scalar(gamma)], {}, `${c.hint(0)}_pos`), c.hint(0), neg);
  }),
  Tanh: unary((e, g, _x, y, c) => e.op('Mul', [g, e.op('Sub', [e.scalar(1), e.op('Mul', [y, y], {}, `${c.hint(0)}_y2`)], {}, `${c.hint(0)}_d`)], {}, c.hint(0))),
  Sigmoid: unary((e, g, _x, y, c) => e.op('Mul', [g, e.op('Mul', [y, e.op('Sub', [e.scalar(1), y], {}, `${c.hint(0)}_1my`)], {}, `${c.hint(0)}_d`)], {}, c.hint(0))),
  Softplus: unary((e, g, x, _y, c) => e.op('Mul', [g, e.op('Sigmoid', [x], {}, `${c.hint(0)}_d`)], {}, c.hint(0))),
  Softsign: unary((e, g, x, _y, c) => {
    const t = e.op('Add', [e.scalar(1), e.op('Abs', [x], {}, `${c.hint(0)}_abs`)], {}, `${c.hint(0)}_t`);
    return e.op('Div', [g, e.op('Mul', [t, t], {}, `${c.hint(0)}_t2`)], {}, c.hint(0));
  }),
  HardSigmoid: unary((e, g, _x, y, c) => {
    const inside = e.op('And', [e.op('Greater', [y, e.scalar(0)], {}, `${c.hint(0)}_lo`), e.op('Less', [y, e.scalar(1)], {}, `${c.hint(0)}_hi`)], {}, `${c.hint(0)}_mask`);
    return where(e, inside, e.op('Mul', [g, e.scalar(attrFloat(c.node, 'alpha', 0.2))], {}, `${c.hint(0)}_scaled`), c.hint(0));
  }),
  Clip: clip,
  Sqrt: unary((e, g, _x, y, c) => e.op('Div', [g, e.op('Mul', [y, e.scalar(2)], {}, `${c.hint(0)}_2y`)], {}, c.hint(0))),
  Exp: unary((e, g, _x, y, c) => e.op('Mul', [g, y], {}, c.hint(0))),
  Log: unary((e, g, x, _y, c) => e.op('Div', [g, x], {}, c.hint(0))),
  Reciprocal: unary((e, g, _x, y, c) => e.op('Neg', [e.op('Mul', [g, e.op('Mul', [y, y], {}, `${c.hint(0)}_y2`)], {}, `${c.hint(0)}_neg`)], {}, c.hint(0))),
  Abs: unary((e, g, x, _y, c) => e.op('Mul', [g, e.op('Sign', [x], {}, `${c.hint(0)}_sign`)], {}, c.hint(0))),
  Softmax: softmax,
  Add: elementwise((_c, g) => g),
  Sum: elementwise((_c, g) => g),
  Sub: elementwise((c, g, i) => (i === 0 ? g : c.e.op('Neg', [g], {}, `${c.hint(i)}_neg`))),
  Mean: elementwise((c, g, i) => c.e.op('Mul', [g, c.e.scalar(1 / inputs(c).length)], {}, `${c.hint(i)}_share`)),
  Mul: elementwise((c, g, i) => c.e.op('Mul', [g, inputs(c)[1 - i]], {}, `${c.hint(i)}_full`)),
  Div: elementwise((c, g, i) => {
    const [, b] = inputs(c);
    if (i === 0) return c.e.op('Div', [g, b], {}, `${c.hint(0)}_full`);
    // ∂(a/b)/∂b = −(a/b)/b
    return c.e.op('Neg', [c.e.op('Div', [c.e.op('Mul', [g, output(c)], {}, `${c.hint(1)}_gy`), b], {}, `${c.hint(1)}_gyb`)], {}, `${c.hint(1)}_full`);
  }),
  Where: (call) => {
    const g = call.grads[0];
    if (!g) return [];
    const [cond, a, b] = inputs(call);
    const out = call.e.broadcastOf(call.node);
    const zero = call.e.scalar(0);
    return [
      null,
      call.active[1] ? call.e.reduceTo(call.e.op('Where', [cond, g, zero], {}, `${call.hint(1)}_full`), out, call.values.shape(a), call.hint(1)) : null,
      call.active[2] ? call.e.reduceTo(call.e.op('Where', [cond, zero, g], {}, `${call.hint(2)}_full`), out, call.values.shape(b), call.hint(2)) : null,
    ];
  },
  Expand: (call) => {
    only(call, 0);
    const g = call.grads[0];
    return [g ? call.e.reduceTo(g, call.values.shape(output(call)), call.values.shape(inputs(call)[0]), call.hint(0)) : null];
  },
  Gemm: gemm,
  MatMul: matmul,
  Conv: conv,
  ConvTranspose: convTranspose,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  Resize: resize,
  AveragePool: averagePool,
  GlobalAveragePool: reduceRule(true),
  ReduceMean: reduceRule(true),
  ReduceSum: reduceRule(false),
});

export const SUPPORTED_GRADIENT_OPS = Object.keys(VJP_RULES);

export type { Dim };
