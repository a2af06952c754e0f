/**
 * A strided ConvTranspose as stride phases: its exact equivalent in ordinary convolutions, the
 * form onnxruntime's CPU provider runs fastest for a generator's wide up-sampling layers.
 *
 * onnxruntime's CPU ConvTranspose is one product per image followed by a col2im scatter, outside
 * the NCHWc layout optimiser and without activation fusion (onnxruntime#8988). Output pixel
 * (s·m + r) of a stride-s transposed convolution only ever sees the filter taps ≡ r + pad (mod s),
 * so each of the sh·sw output phases is a stride-1 convolution of the input with those taps alone
 * (src/core/gemm.ts `axisPhases`: for kernel 4, stride 2, 'same', two 2×2 convolutions a row, the
 * multiply-adds of the ConvTranspose and no more). The phases run on MLAS's NCHWc kernels with the
 * activation fused, are concatenated in the channel axis and interleaved into the image in NHWC,
 * where a phase's pixels are whole runs of channels (in NCHW, DepthToSpace moves single floats and
 * costs more than it saves; bench/RESULTS.md).
 *
 * Standard ONNX ops only (Conv, Concat, Transpose, Reshape and the activation), so the graph runs
 * on every execution provider and the backward pass (./backward.ts) differentiates it.
 *
 * @example
 *   const plan = phasePlan({ weightShape: [64, 32, 4, 4], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [0, 0], inSize: [7, 7] });
 *   plan?.phases.length   // 4: rows × columns, rows outer
 *   const nhwc = emitPhases(sink, 'x', weights, bias, plan!, 'g_deconv_1', relu);   // [batch, 14, 14, 32]
 */
import { axisPhases, type AxisPhase } from '../core/gemm.js';
import type { AttrValue } from './onnx-builder.js';

/**
 * Channel counts the phase form needs: the blocks of MLAS's NCHWc kernels (8 floats with AVX2, 16
 * with AVX-512), so that every phase convolution and their concatenation stay in the blocked
 * layout. Layers with few output channels (a generator's last, to 1 or 3 channels) run several
 * times slower as phases (each phase's channels padded to a block) and keep the ConvTranspose.
 */
export const PHASE_CHANNEL_BLOCK = 16;

/** Where the phase graph is written (GraphBuilder is one; the ONNX rewrite pass has its own). */
export interface GraphSink {
  initializer(hint: string, dims: number[], data: Float32Array): string;
  int64Initializer(hint: string, values: number[], dims?: number[]): string;
  node(opType: string, inputs: string[], attrs?: Record<string, AttrValue>, outputHints?: string[], nodeName?: string): string[];
}

/** A 2-D ONNX ConvTranspose (group 1, dilation 1) on an input of known height and width. */
export interface ConvTransposeGeometry {
  /** The ONNX weight's shape [Cin, Cout, kh, kw]. */
  weightShape: readonly number[];
  strides: readonly [number, number];
  /** top, left, bottom, right */
  pads: readonly [number, number, number, number];
  outputPadding: readonly [number, number];
  /** The input's height and width. */
  inSize: readonly [number, number];
}

export interface PhasePlan {
  geometry: ConvTransposeGeometry;
  cin: number;
  cout: number;
  /** The output's height and width. */
  outSize: [number, number];
  /** Every phase (row phase, column phase), rows outer: the order they are concatenated in. */
  phases: [AxisPhase, AxisPhase][];
}

/** ONNX ConvTranspose's output length along one axis (no auto_pad, no output_shape). */
export function convTransposeLength(inSize: number, k: number, s: number, padBegin: number, padEnd: number, outputPadding: number): number {
  return s * (inSize - 1) + outputPadding + k - padBegin - padEnd;
}

/**
 * The phases of a transposed convolution, or null when they do not tile its output (a stride that
 * does not divide the output, a phase with no taps, a phase that would need the input cropped).
 */
export function phasePlan(g: ConvTransposeGeometry): PhasePlan | null {
  const [cin, cout, kh, kw] = g.weightShape;
  const [sh, sw] = g.strides;
  const outSize: [number, number] = [
    convTransposeLength(g.inSize[0], kh, sh, g.pads[0], g.pads[2], g.outputPadding[0]),
    convTransposeLength(g.inSize[1], kw, sw, g.pads[1], g.pads[3], g.outputPadding[1]),
  ];
  if (sh * sw < 2 || outSize[0] <= 0 || outSize[1] <= 0) return null;
  const rows = axisPhases(kh, sh, g.pads[0], outSize[0], g.inSize[0]);
  const cols = axisPhases(kw, sw, g.pads[1], outSize[1], g.inSize[1]);
  if (!rows || !cols) return null;
  return { geometry: g, cin, cout, outSize, phases: rows.flatMap((py) => cols.map((px): [AxisPhase, AxisPhase] => [py, px])) };
}

/** Whether onnxruntime's CPU provider runs this transposed convolution faster as phases (measured: bench/RESULTS.md). */
export function phasesPay(plan: PhasePlan): boolean {
  return plan.cin % PHASE_CHANNEL_BLOCK === 0 && plan.cout % PHASE_CHANNEL_BLOCK === 0;
}

/**
 * Phase (py, px)'s Conv weight [Cout, Cin, py.taps, px.taps] from the ConvTranspose's weight
 * [Cin, Cout, kh, kw]: conv tap (ty, tx) reads input row m − dmax + ty, which the transposed
 * convolution reached through filter tap ky = s·(dmax − ty) + r + pad (likewise columns).
 */
export function phaseWeight(weight: Float32Array, plan: PhasePlan, py: AxisPhase, px: AxisPhase): Float32Array {
  const [cin, cout, kh, kw] = plan.geometry.weightShape;
  const [sh, sw] = plan.geometry.strides;
  const [padTop, padLeft] = plan.geometry.pads;
  const out = new Float32Array(cout * cin * py.taps * px.taps);
  let o = 0;
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let ty = 0; ty < py.taps; ty++) {
        const ky = sh * (py.dmax - ty) + py.r + padTop;
        for (let tx = 0; tx < px.taps; tx++) {
          const kx = sw * (px.dmax - tx) + px.r + padLeft;
          out[o++] = weight[((ci * cout + co) * kh + ky) * kw + kx];
        }
      }
    }
  }
  return out;
}

/** An element-wise op applied to every phase (before the interleave, so MLAS fuses it into the convolution). */
export interface PhaseActivation {
  opType: string;
  /** Its inputs after the first (Clip's bounds), unchanged. */
  extraInputs: string[];
  attrs: Record<string, AttrValue>;
}

/**
 * Emit the phase form of `x` (NCHW [batch, Cin, H, W]) into `sink`; returns the name of the result
 * in NHWC, [batch, outH, outW, Cout]: each phase's Conv (+ activation), the phases concatenated in
 * the channel axis, transposed to NHWC ([batch, H', W', phases·Cout]) and interleaved by a reshape
 * to [batch, H', W', sh, sw, Cout], a transpose to [batch, H', sh, W', sw, Cout] and a reshape.
 */
export function emitPhases(sink: GraphSink, x: string, weight: Float32Array, bias: Float32Array | null, plan: PhasePlan, name: string, activation?: PhaseActivation): string {
  const [sh, sw] = plan.geometry.strides;
  const parts = plan.phases.map(([py, px], p) => {
    const w = sink.initializer(`${name}/phase${p}/kernel`, [plan.cout, plan.cin, py.taps, px.taps], phaseWeight(weight, plan, py, px));
    const inputs = [x, w];
    // A bias of its own per phase: tools that map initializers to parameters (torch.jit.trace) refuse shared ones.
    if (bias) inputs.push(sink.initializer(`${name}/phase${p}/bias`, [plan.cout], bias));
    const attrs = { kernel_shape: [py.taps, px.taps], strides: [1, 1], pads: [py.before, px.before, py.after, px.after] };
    const [y] = sink.node('Conv', inputs, attrs, [`${name}_phase${p}`], `${name}_phase${p}`);
    if (!activation) return y;
    return sink.node(activation.opType, [y, ...activation.extraInputs], activation.attrs, [`${name}_phase${p}_${activation.opType.toLowerCase()}`])[0];
  });
  const [cat] = sink.node('Concat', parts, { axis: 1 }, [`${name}_phases`]);
  const [nhwc] = sink.node('Transpose', [cat], { perm: [0, 2, 3, 1] }, [`${name}_phases_nhwc`]);
  // [batch, H', W', (ry, rx, c)]: 0 keeps the batch and the phase grid's sides.
  const [split] = sink.node('Reshape', [nhwc, sink.int64Initializer(`${name}/phase_split`, [0, 0, 0, sh, sw, plan.cout])], {}, [`${name}_phases_split`]);
  const [moved] = sink.node('Transpose', [split], { perm: [0, 1, 3, 2, 4, 5] }, [`${name}_interleaved`]);
  const [out] = sink.node('Reshape', [moved, sink.int64Initializer(`${name}/image_shape`, [0, plan.outSize[0], plan.outSize[1], plan.cout])], {}, [`${name}_nhwc`]);
  return out;
}
