/**
 * Synchronous float32 matrix products and convolutions on onnxruntime-node's native CPU kernels
 * (MLAS: AVX2 / AVX-512 where the processor has them), for training: tfjs kernels are synchronous,
 * and the wasm backend's XNNPACK has only 128-bit SIMD, several times slower per product
 * (bench/RESULTS.md). src/tfjs routes wasm's `BatchMatMul`, `_FusedMatMul` and convolutions here when
 * a run has it (`wganx train --matmul auto`, the default).
 *
 * onnxruntime-node's public `InferenceSession.run` returns a promise; its native binding's `run`
 * itself is synchronous (the public one wraps it in `setImmediate`). This module uses that binding
 * (`onnxruntime-node/dist/binding.js`, an internal module of the version in package-lock.json),
 * checks its shape and a known product first, and reports why when it cannot: callers then keep
 * XNNPACK.
 *
 * One small session per layout, made on first use, on one thread below ~2M multiply-adds and on
 * `threads` above:
 * - `Gemm` (transA, transB, with or without a bias row) with symbolic m, k, n;
 * - convolutions on MLAS's NCHWc kernels, direct convolutions with no patch matrix (onnxruntime's
 *   internal `com.microsoft.nchwc` operators, which read and write NHWC themselves; the filter is
 *   reordered to their blocked layout here or in the graph): forward convolutions, input gradients
 *   as stride phases (one stride-1 convolution of dy per phase, interleaved in the graph), filter
 *   gradients as convolutions of x by dy;
 * - `ConvTranspose` between NHWC Transposes where the phases do not apply.
 * onnxruntime turns a standard `Conv` into the NCHWc operators only when its filter is a constant
 * of the graph; a training step's filters change every step, hence the operators by hand. Results
 * come back as new Float32Arrays or are written into the caller's.
 *
 * @example
 *   const gemm = openNodeGemm({ threads: 2 });
 *   if (typeof gemm !== 'string') gemm.run(a, b, null, 64, 512, 512, false, true); // Float32Array(64·512)
 */
import { createRequire } from 'node:module';
import { axisPhases, type AxisPhase, type ConvGeometry, type ConvSpec, type HostGemm } from '../core/gemm.js';

const require = createRequire(import.meta.url);

/** The host engine (src/core/gemm.ts) onnxruntime-node gives: it has every convolution. */
export type NodeGemm = HostGemm & Required<Pick<HostGemm, 'convTranspose' | 'conv2d' | 'conv2dFilter'>>;

interface BindingTensor {
  data: Float32Array;
  dims: readonly number[];
}
interface BindingSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: object): Record<string, BindingTensor>;
}
interface BindingModule {
  binding: { InferenceSession: new () => BindingSession };
  initOrt(): void;
}

type Onnx = typeof import('onnx-proto').onnx;
const onnxProto = (): Onnx => (require('onnx-proto') as typeof import('onnx-proto')).onnx;

/** A Gemm graph: y = op(a)·op(b) (+ c). */
function gemmModel(transA: boolean, transB: boolean, withBias: boolean): Uint8Array {
  const onnx = onnxProto();
  const f = onnx.TensorProto.DataType.FLOAT;
  const value = (name: string, dims: string[]) => ({ name, type: { tensorType: { elemType: f, shape: { dim: dims.map((dimParam) => ({ dimParam })) } } } });
  const inputs = [value('a', transA ? ['k', 'm'] : ['m', 'k']), value('b', transB ? ['n', 'k'] : ['k', 'n'])];
  if (withBias) inputs.push(value('c', ['n']));
  const attribute = [
    { name: 'transA', type: onnx.AttributeProto.AttributeType.INT, i: transA ? 1 : 0 },
    { name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: transB ? 1 : 0 },
  ];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'wganx-gemm',
    graph: { name: 'gemm', node: [{ opType: 'Gemm', input: inputs.map((v) => v.name), output: ['y'], attribute }], input: inputs, output: [value('y', ['m', 'n'])] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * NHWC in, NHWC out: Transpose → ConvTranspose → Transpose, with tfjs's filter [KH, KW, Ci, Co]
 * transposed to ONNX's [Co, Ci, KH, KW] (ConvTranspose's input channels are the convolution's
 * outputs).
 */
function convTransposeModel(kernel: readonly [number, number], g: ConvGeometry, outputPadding: readonly [number, number]): Uint8Array {
  const onnx = onnxProto();
  const f = onnx.TensorProto.DataType.FLOAT;
  const INTS = onnx.AttributeProto.AttributeType.INTS;
  const value = (name: string) => ({ name, type: { tensorType: { elemType: f, shape: { dim: ['d0', 'd1', 'd2', 'd3'].map((p) => ({ dimParam: `${name}_${p}` })) } } } });
  const perm = (p: number[]) => [{ name: 'perm', type: INTS, ints: p }];
  const attribute = [
    { name: 'kernel_shape', type: INTS, ints: [...kernel] },
    { name: 'strides', type: INTS, ints: [...g.strides] },
    { name: 'pads', type: INTS, ints: [...g.pads] },
    { name: 'output_padding', type: INTS, ints: [...outputPadding] },
  ];
  const node = [
    { opType: 'Transpose', input: ['x'], output: ['xt'], attribute: perm([0, 3, 1, 2]) },
    { opType: 'Transpose', input: ['w'], output: ['wt'], attribute: perm([3, 2, 0, 1]) },
    { opType: 'ConvTranspose', input: ['xt', 'wt'], output: ['yt'], attribute },
    { opType: 'Transpose', input: ['yt'], output: ['y'], attribute: perm([0, 2, 3, 1]) },
  ];
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], producerName: 'wganx-conv-transpose', graph: { name: 'conv_transpose', node, input: [value('x'), value('w')], output: [value('y')] } });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * MLAS's NCHWc convolutions. onnxruntime's graph optimiser rewrites a `Conv` whose filter is a
 * constant into its internal `com.microsoft.nchwc` operators (channels in blocks of 16 with AVX-512,
 * 8 with AVX2; direct convolution kernels, no patch matrix); a training step's filters change every
 * step, so they are fed as inputs, already in the blocked order the kernels read ({@link reorderFilter}).
 * `ReorderInput` reads NHWC (channels a multiple of 4) into blocks, `ReorderOutput` writes NHWC back;
 * fewer channels than a block go in as NCHW (a `Transpose`), which those kernels also take.
 */
const NCHWC_DOMAIN = 'com.microsoft.nchwc';

/** How x's channels enter the NCHWc kernels: in blocks, as NCHW, or not at all (e.g. 18 channels). */
type Stage = 'blocked' | 'nchw';

function stageOf(channels: number, block: number): Stage | null {
  if (block === 0) return null;
  if (channels < block) return 'nchw';
  return channels % 4 === 0 ? 'blocked' : null;
}

/** onnx-proto's model-building pieces for the NCHWc graphs. */
function nchwcKit() {
  const onnx = onnxProto();
  const { FLOAT, INT64 } = onnx.TensorProto.DataType;
  const { INT, INTS, FLOATS, STRING } = onnx.AttributeProto.AttributeType;
  const value = (name: string, rank: number) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: Array.from({ length: rank }, (_, i) => ({ dimParam: `${name}_${i}` })) } } } });
  return {
    onnx,
    value,
    int: (name: string, i: number) => ({ name, type: INT, i }),
    ints: (name: string, ints: readonly number[]) => ({ name, type: INTS, ints: [...ints] }),
    floats: (name: string, floats: readonly number[]) => ({ name, type: FLOATS, floats: [...floats] }),
    string: (name: string, s: string) => ({ name, type: STRING, s: new TextEncoder().encode(s) }),
    int64s: (name: string, values: readonly number[]) => ({ name, dataType: INT64, dims: [values.length], int64Data: [...values] }),
    /** x NHWC → xc, as the NCHWc kernels read it. */
    stage: (stage: Stage, from: string, to: string) =>
      stage === 'blocked'
        ? { opType: 'ReorderInput', domain: NCHWC_DOMAIN, input: [from], output: [to], attribute: [{ name: 'channels_last', type: INT, i: 1 }] }
        : { opType: 'Transpose', input: [from], output: [to], attribute: [{ name: 'perm', type: INTS, ints: [0, 3, 1, 2] }] },
    reorderOutput: (from: string, to: string, channels: number) => ({ opType: 'ReorderOutput', domain: NCHWC_DOMAIN, input: [from], output: [to], attribute: [{ name: 'channels', type: INT, i: channels }, { name: 'channels_last', type: INT, i: 1 }] }),
    model: (name: string, node: object[], input: object[], initializer: object[] = []) =>
      onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }, { domain: NCHWC_DOMAIN, version: 1 }], producerName: 'wganx-nchwc', graph: { name, node, input, initializer, output: [value('y', 4)] } })).finish(),
  };
}

/** x [1, 1, 1, 4] NHWC → its NCHWc form, whose channel count is the block size. */
function nchwcBlockModel(): Uint8Array {
  const k = nchwcKit();
  return k.model('nchwc_block', [k.stage('blocked', 'x', 'y')], [k.value('x', 4)]);
}

/**
 * y NHWC = act(conv(x, w) + b) on the NCHWc kernels. With `inGraph` (whole blocks of channels) the
 * graph reorders tfjs's filter [KH, KW, Ci, Co] itself (a reshape, a transpose, a reshape); else w
 * and b are fed already in the blocked order, padded ({@link reorderConvFilter}).
 */
function nchwcConvModel(ci: number, co: number, kernel: readonly [number, number], spec: ConvSpec, withBias: boolean, block: number, inGraph: boolean): Uint8Array {
  const k = nchwcKit();
  const [kh, kw] = kernel;
  const stage = stageOf(ci, block)!;
  const attribute: object[] = [k.ints('kernel_shape', kernel), k.ints('strides', spec.strides), k.ints('pads', spec.pads)];
  if (spec.activation === 'relu') attribute.push(k.string('activation', 'Relu'));
  if (spec.activation === 'leakyrelu') attribute.push(k.string('activation', 'LeakyRelu'), k.floats('activation_params', [spec.alpha ?? 0.2]));
  const node: object[] = [k.stage(stage, 'x', 'xc')];
  const initializer: object[] = [];
  if (inGraph) {
    // [KH, KW, Ci/bs, bs, Co/bs, bs] → OIHWBiBo, or [KH, KW, Ci, Co/bs, bs] → OIHWBo (NCHW input).
    const blocked = stage === 'blocked';
    initializer.push(
      k.int64s('split', blocked ? [kh, kw, ci / block, block, co / block, block] : [kh, kw, ci, co / block, block]),
      k.int64s('oihw', [co, ci, kh, kw]),
    );
    node.push(
      { opType: 'Reshape', input: ['wraw', 'split'], output: ['wsplit'] },
      { opType: 'Transpose', input: ['wsplit'], output: ['wblocks'], attribute: [k.ints('perm', blocked ? [4, 2, 0, 1, 3, 5] : [3, 2, 0, 1, 4])] },
      { opType: 'Reshape', input: ['wblocks', 'oihw'], output: ['w'] },
    );
  }
  node.push({ opType: 'Conv', domain: NCHWC_DOMAIN, input: withBias ? ['xc', 'w', 'b'] : ['xc', 'w'], output: ['yc'], attribute }, k.reorderOutput('yc', 'y', co));
  const input = [k.value('x', 4), k.value(inGraph ? 'wraw' : 'w', 4)];
  if (withBias) input.push({ name: 'b', type: { tensorType: { elemType: k.onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'b_0' }] } } } });
  return k.model('nchwc_conv', node, input, initializer);
}

/** A transposed convolution split into stride phases (see {@link phasePlan}). */
interface PhasePlan {
  block: number;
  stage: Stage;
  strides: readonly [number, number];
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
  /** Every phase (row phase, column phase), rows outer: the order they are interleaved in. */
  phases: [AxisPhase, AxisPhase][];
}

/**
 * dx = convTranspose(dy, w) as sh·sw stride-1 convolutions of dy, one per output phase with only
 * the filter taps that reach it (src/core/gemm.ts `axisPhases`), on the NCHWc kernels; null where
 * the stride does not tile dx, dy's channels cannot enter them or dx has fewer than a block.
 */
function phasePlan(wShape: readonly number[], dyShape: readonly number[], g: ConvGeometry, block: number): PhasePlan | null {
  const [kh, kw, ci, co] = wShape;
  const stage = stageOf(co, block);
  // Fewer outputs than a block would be padded to one: ConvTranspose is faster there (bench/RESULTS.md, 2026-12-07).
  if (!stage || ci < block) return null;
  const rows = axisPhases(kh, g.strides[0], g.pads[0], g.outSize[0], dyShape[1]);
  const cols = axisPhases(kw, g.strides[1], g.pads[1], g.outSize[1], dyShape[2]);
  if (!rows || !cols) return null;
  return { block, stage, strides: g.strides, padTop: g.pads[0], padLeft: g.pads[1], outH: g.outSize[0], outW: g.outSize[1], phases: rows.flatMap((py) => cols.map((px): [AxisPhase, AxisPhase] => [py, px])) };
}

/** A phase's filter dims as the NCHWc Conv reads them: [ci padded, co (padded when blocked), taps y, taps x]. */
function phaseFilterDims(py: AxisPhase, px: AxisPhase, ci: number, co: number, plan: PhasePlan): number[] {
  const pad = (c: number) => Math.ceil(c / plan.block) * plan.block;
  return [pad(ci), plan.stage === 'blocked' ? pad(co) : co, py.taps, px.taps];
}

/**
 * Each phase a stride-1 NCHWc convolution of dy (its pads: the phase's rows before and after), the
 * phases' outputs put side by side in the channel axis ([B, rows, cols, phases·Ci], NHWC) and
 * interleaved into dx by a reshape, a transpose and a reshape: dx[b, sh·m + ry, sw·n + rx, c] =
 * phase (ry, rx)[b, m, n, c].
 */
function nchwcPhaseModel(plan: PhasePlan, ci: number): Uint8Array {
  const k = nchwcKit();
  const count = plan.phases.length;
  const [sh, sw] = plan.strides;
  const node: object[] = [k.stage(plan.stage, 'x', 'xc')];
  const last = count === 1 ? 'y' : 'cat';
  plan.phases.forEach(([py, px], p) => {
    const attribute = [k.ints('kernel_shape', [py.taps, px.taps]), k.ints('strides', [1, 1]), k.ints('pads', [py.before, px.before, py.after, px.after])];
    node.push({ opType: 'Conv', domain: NCHWC_DOMAIN, input: ['xc', `w${p}`], output: [`y${p}`], attribute });
  });
  if (count === 1) node.push(k.reorderOutput('y0', last, ci));
  else if (ci % plan.block === 0) {
    // Blocks of whole phases: concatenated in the blocked layout they stay valid NCHWc channels.
    node.push({ opType: 'Concat', input: plan.phases.map((_, p) => `y${p}`), output: ['catc'], attribute: [k.int('axis', 1)] });
    node.push(k.reorderOutput('catc', last, count * ci));
  } else {
    plan.phases.forEach((_, p) => node.push(k.reorderOutput(`y${p}`, `o${p}`, ci)));
    node.push({ opType: 'Concat', input: plan.phases.map((_, p) => `o${p}`), output: [last], attribute: [k.int('axis', 3)] });
  }
  const initializer: object[] = [];
  if (count > 1) {
    initializer.push(k.int64s('split', [0, 0, 0, sh, sw, ci]), k.int64s('joined', [0, plan.outH, plan.outW, ci]));
    node.push({ opType: 'Reshape', input: ['cat', 'split'], output: ['cat6'] });
    node.push({ opType: 'Transpose', input: ['cat6'], output: ['dx6'], attribute: [k.ints('perm', [0, 1, 3, 2, 4, 5])] });
    node.push({ opType: 'Reshape', input: ['dx6', 'joined'], output: ['y'] });
  }
  return k.model('nchwc_phases', node, [k.value('x', 4), ...plan.phases.map((_, p) => k.value(`w${p}`, 4))], initializer);
}

/**
 * out = the filter `src` in MLAS's NCHWc order for a convolution from `ins` to `outs` channels with
 * taps [tapsY, tapsX]: OIHWBiBo (out[((((ob·IB + ib)·tapsY + ty)·tapsX + tx)·bs + bi)·bs + bo]) for
 * blocked input, OIHWBo (out[(((ob·ins + i)·tapsY + ty)·tapsX + tx)·bs + bo]) for NCHW input, zeros
 * in the padding channels. src[tap(ty, tx) + i·inStride + o·outStride] is the weight from input
 * channel i to output channel o.
 */
function reorderFilter(src: Float32Array, out: Float32Array, ins: number, outs: number, tapsY: number, tapsX: number, tap: (ty: number, tx: number) => number, inStride: number, outStride: number, bs: number, blockedIn: boolean): void {
  const outBlocks = Math.ceil(outs / bs);
  const insPadded = blockedIn ? Math.ceil(ins / bs) * bs : ins;
  if (outBlocks * bs !== outs || insPadded !== ins) out.fill(0);
  for (let ob = 0; ob < outBlocks; ob++) {
    const count = Math.min(bs, outs - ob * bs);
    for (let ty = 0; ty < tapsY; ty++) {
      for (let tx = 0; tx < tapsX; tx++) {
        const t = tap(ty, tx) + ob * bs * outStride;
        for (let i = 0; i < ins; i++) {
          const d = blockedIn ? ((((ob * (insPadded / bs) + ((i / bs) | 0)) * tapsY + ty) * tapsX + tx) * bs + (i % bs)) * bs : (((ob * ins + i) * tapsY + ty) * tapsX + tx) * bs;
          const s = t + i * inStride;
          for (let o = 0; o < count; o++) out[d + o] = src[s + o * outStride];
        }
      }
    }
  }
}

/** A forward convolution's filter [KH, KW, Ci, Co] in the NCHWc order. */
function reorderConvFilter(w: Float32Array, [kh, kw, ci, co]: readonly number[], out: Float32Array, bs: number, blockedIn: boolean): void {
  reorderFilter(w, out, ci, co, kh, kw, (ty, tx) => (ty * kw + tx) * ci * co, co, 1, bs, blockedIn);
}

/**
 * Phase (py, px)'s filter: the convolution of dy (Co channels in) to dx's phase (Ci out), tap
 * (ty, tx) = w[sh·(dmax_y − ty) + ry + padTop, sw·(dmax_x − tx) + rx + padLeft, ci, co].
 */
function reorderPhaseFilter(w: Float32Array, [, kw, ci, co]: readonly number[], plan: PhasePlan, py: AxisPhase, px: AxisPhase, out: Float32Array): void {
  const [sh, sw] = plan.strides;
  const tap = (ty: number, tx: number) => ((sh * (py.dmax - ty) + py.r + plan.padTop) * kw + sw * (px.dmax - tx) + px.r + plan.padLeft) * ci * co;
  reorderFilter(w, out, co, ci, py.taps, px.taps, tap, 1, co, plan.block, plan.stage === 'blocked');
}

/**
 * A filter gradient as NCHWc convolutions: with x's channels as the batch and its images as the
 * channels (x' = x transposed to [Ci, B, H, W]), and dy as a filter [Co, B, OH, OW] dilated by the
 * stride, dW'[ci, co, ky, kx] = Σ_{b, oy, ox} x'[ci, b, sh·oy + ky − top, sw·ox + kx − left] ·
 * dy[b, oy, ox, co] is a convolution of x' whose output is the filter's size. The kernels sum one
 * block of images (16 with AVX-512) over the filter's taps in one register chain, then add that to
 * the output; dy's rows are split into bands (one convolution per band, of the rows of x' it
 * reaches) so that a chain holds at most `chainTerms` products, and the bands' outputs are added
 * in float64 in the graph. The chains, not the few additions of whole blocks, set the error
 * against float64 (measured: bench/RESULTS.md, 2026-12-07).
 */
interface FilterPlan {
  block: number;
  /** dy rows [r0, r1) of each band, and the rows of x' (and the pads) its convolution reads. */
  bands: { r0: number; r1: number; lo: number; hi: number; before: number; after: number }[];
  /** x's columns read, and the pads, the same for every band. */
  cols: { lo: number; hi: number; before: number; after: number };
  coPadded: number;
}

/** The input range of one axis a band of `r1 − r0` output rows reaches, clipped to the input, and the pads that make up the rest. */
function reach(r0: number, r1: number, stride: number, k: number, pad: number, size: number) {
  const from = stride * r0 - pad;
  const to = stride * (r1 - 1) + k - pad;
  const lo = Math.max(0, from);
  const hi = Math.min(size, to);
  return { lo, hi, before: lo - from, after: to - hi };
}

function filterPlan([batch, h, w]: readonly number[], [, oh, ow, co]: readonly number[], [kh, kw]: readonly [number, number], spec: ConvSpec, chainTerms: number, block: number): FilterPlan | null {
  if (block === 0 || batch % block !== 0) return null;
  const rows = Math.min(oh, Math.floor(chainTerms / (block * ow)));
  if (rows < 1) return null;
  const bands = [];
  for (let r0 = 0; r0 < oh; r0 += rows) {
    const r1 = Math.min(oh, r0 + rows);
    bands.push({ r0, r1, ...reach(r0, r1, spec.strides[0], kh, spec.pads[0], h) });
  }
  return { block, bands, cols: reach(0, ow, spec.strides[1], kw, spec.pads[1], w), coPadded: Math.ceil(co / block) * block };
}

/**
 * x NHWC [B, H, W, Ci] → x' [Ci, B, H, W], each band's rows of it → one NCHWc convolution with dy's
 * band → [Ci, KH, KW, Co]; the bands added in float64 → y [KH, KW, Ci, Co]. The bands' filters are inputs `w0`, `w1`… reordered by the
 * caller, or, where Co is a whole number of blocks (`inGraph`), made from input `dy` in the graph.
 */
function nchwcFilterModel(plan: FilterPlan, xShape: readonly number[], dyShape: readonly number[], kernel: readonly [number, number], spec: ConvSpec, inGraph: boolean): Uint8Array {
  const k = nchwcKit();
  const { DOUBLE, FLOAT } = k.onnx.TensorProto.DataType;
  const [batch, h, w, ci] = xShape;
  const [, oh, ow, co] = dyShape;
  const bs = plan.block;
  const { cols } = plan;
  const initializer: object[] = [];
  const node: object[] = [{ opType: 'Transpose', input: ['x'], output: ['xt'], attribute: [k.ints('perm', [3, 0, 1, 2])] }];
  plan.bands.forEach((band, j) => {
    const rows = band.r1 - band.r0;
    // The band's filter: dy [B, rows, OW, Co] = [B/bs, bs, rows, OW, Co/bs, bs] → [Co/bs, B/bs, rows, OW, bs, bs].
    if (inGraph) {
      let from = 'dy';
      if (rows !== oh) {
        initializer.push(k.int64s(`dstarts${j}`, [band.r0]), k.int64s(`dends${j}`, [band.r1]), k.int64s(`daxes${j}`, [1]));
        node.push({ opType: 'Slice', input: ['dy', `dstarts${j}`, `dends${j}`, `daxes${j}`], output: [`dys${j}`] });
        from = `dys${j}`;
      }
      initializer.push(k.int64s(`split${j}`, [batch / bs, bs, rows, ow, co / bs, bs]), k.int64s(`wshape${j}`, [co, batch, rows, ow]));
      node.push(
        { opType: 'Reshape', input: [from, `split${j}`], output: [`d6${j}`] },
        { opType: 'Transpose', input: [`d6${j}`], output: [`d6t${j}`], attribute: [k.ints('perm', [4, 0, 2, 3, 1, 5])] },
        { opType: 'Reshape', input: [`d6t${j}`, `wshape${j}`], output: [`w${j}`] },
      );
    }
    // The rows (and columns) of x' the band reaches, into NCHWc blocks of images. (Transposing x
    // straight into blocks, [B/bs, bs, H, W, Ci] → [Ci, B/bs, H, W, bs], measured slower.)
    let input = 'xt';
    if (band.lo > 0 || band.hi < h || cols.lo > 0 || cols.hi < w) {
      initializer.push(k.int64s(`starts${j}`, [band.lo, cols.lo]), k.int64s(`ends${j}`, [band.hi, cols.hi]), k.int64s(`axes${j}`, [2, 3]));
      node.push({ opType: 'Slice', input: ['xt', `starts${j}`, `ends${j}`, `axes${j}`], output: [`xs${j}`] });
      input = `xs${j}`;
    }
    node.push({ opType: 'ReorderInput', domain: NCHWC_DOMAIN, input: [input], output: [`xc${j}`], attribute: [k.int('channels_last', 0)] });
    const attribute = [k.ints('kernel_shape', [rows, ow]), k.ints('dilations', spec.strides), k.ints('pads', [band.before, cols.before, band.after, cols.after])];
    node.push({ opType: 'Conv', domain: NCHWC_DOMAIN, input: [`xc${j}`, `w${j}`], output: [`yc${j}`], attribute });
    node.push(k.reorderOutput(`yc${j}`, `yo${j}`, co));
  });
  if (plan.bands.length === 1) {
    node.push({ opType: 'Transpose', input: ['yo0'], output: ['y'], attribute: [k.ints('perm', [1, 2, 0, 3])] });
  } else {
    // [bands·Ci, KH, KW, Co] → [bands, Ci·KH·KW·Co], summed in float64 over the bands.
    initializer.push(k.int64s('partsShape', [plan.bands.length, ci, kernel[0], kernel[1], co]), k.int64s('bandAxis', [0]));
    node.push(
      { opType: 'Concat', input: plan.bands.map((_, j) => `yo${j}`), output: ['parts'], attribute: [k.int('axis', 0)] },
      { opType: 'Reshape', input: ['parts', 'partsShape'], output: ['parts5'] },
      { opType: 'Cast', input: ['parts5'], output: ['parts64'], attribute: [k.int('to', DOUBLE)] },
      { opType: 'ReduceSum', input: ['parts64', 'bandAxis'], output: ['sum64'], attribute: [k.int('keepdims', 0)] },
      { opType: 'Cast', input: ['sum64'], output: ['sum'], attribute: [k.int('to', FLOAT)] },
      { opType: 'Transpose', input: ['sum'], output: ['y'], attribute: [k.ints('perm', [1, 2, 0, 3])] },
    );
  }
  const inputs = inGraph ? [k.value('x', 4), k.value('dy', 4)] : [k.value('x', 4), ...plan.bands.map((_, j) => k.value(`w${j}`, 4))];
  return k.model('nchwc_filter_grad', node, inputs, initializer);
}

/**
 * A band's filter: dy's rows [r0, r1) as the convolution's filter in NCHWc order, [Co (padded), B,
 * rows, OW]: out[((((c·(B/bs) + ib)·rows + t)·OW + ox)·bs + bi)·bs + bo] = dy[ib·bs + bi, r0 + t, ox, c·bs + bo].
 */
function reorderBandFilter(dy: Float32Array, [batch, oh, ow, co]: readonly number[], plan: FilterPlan, r0: number, r1: number, out: Float32Array): void {
  const bs = plan.block;
  const rows = r1 - r0;
  const inBlocks = batch / bs;
  const coBlocks = plan.coPadded / bs;
  if (plan.coPadded !== co) out.fill(0);
  for (let b = 0; b < batch; b++) {
    const ib = (b / bs) | 0;
    const bi = b - ib * bs;
    for (let t = 0; t < rows; t++) {
      for (let ox = 0; ox < ow; ox++) {
        const src = ((b * oh + r0 + t) * ow + ox) * co;
        for (let c = 0; c < coBlocks; c++) {
          const d = ((((c * inBlocks + ib) * rows + t) * ow + ox) * bs + bi) * bs;
          const count = Math.min(bs, co - c * bs);
          const s = src + c * bs;
          for (let o = 0; o < count; o++) out[d + o] = dy[s + o];
        }
      }
    }
  }
}

function loadBinding(): BindingModule | string {
  let mod: BindingModule;
  try {
    mod = require('onnxruntime-node/dist/binding.js') as BindingModule;
  } catch (err) {
    return `onnxruntime-node's native binding did not load (${(err as Error).message.split('\n')[0]})`;
  }
  if (typeof mod.initOrt !== 'function' || typeof mod.binding?.InferenceSession !== 'function') {
    return `onnxruntime-node ${runtimePackageVersion()} has no synchronous session binding wganx knows`;
  }
  return mod;
}

function runtimePackageVersion(): string {
  try {
    return (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return '(unknown version)';
  }
}

/**
 * Open the products on `threads` intra-op threads (idle threads sleep: the wasm backend's own pool
 * shares the cores). Returns a reason instead when onnxruntime-node cannot do it here; a first
 * product is checked against a hand-computed one before the engine is handed out.
 */
export function openNodeGemm(opts: { threads: number }): NodeGemm | string {
  let opened = engines.get(opts.threads);
  if (!opened) engines.set(opts.threads, (opened = open(opts.threads)));
  return opened;
}

/**
 * Products of fewer multiply-adds than this run on one thread: waking the sleeping intra-op thread
 * costs tens of microseconds, more than it saves on a small product (measured in bench/RESULTS.md).
 */
const ONE_THREAD_BELOW = 2 ** 21;

/** Engines by thread count: a process opens each once. */
const engines = new Map<number, NodeGemm | string>();

/** A session with the private buffers its inputs are staged in (reordered filters, a padded bias). */
interface Staged {
  session: BindingSession;
  buffers: Float32Array[];
}

function open(threads: number): NodeGemm | string {
  const mod = loadBinding();
  if (typeof mod === 'string') return mod;
  const { Tensor } = require('onnxruntime-common') as typeof import('onnxruntime-common');
  const options = (intraOpNumThreads: number) => ({
    intraOpNumThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const sessions = new Map<string, BindingSession>();
  const session = (key: string, model: () => Uint8Array, sessionThreads = threads): BindingSession => {
    key = `${key} ×${sessionThreads}`;
    let s = sessions.get(key);
    if (!s) {
      const bytes = model();
      s = new mod.binding.InferenceSession();
      s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, options(sessionThreads));
      sessions.set(key, s);
    }
    return s;
  };
  const staged = new Map<string, Staged>();
  /** A session whose inputs need private buffers of these sizes (made once per key). */
  const stagedSession = (key: string, model: () => Uint8Array, sizes: readonly number[], sessionThreads: number): Staged => {
    const full = `${key} ×${sessionThreads}`;
    let s = staged.get(full);
    if (!s) staged.set(full, (s = { session: session(key, model, sessionThreads), buffers: sizes.map((n) => new Float32Array(n)) }));
    return s;
  };
  const output = (out: Record<string, BindingTensor>, length: number, what: string): Float32Array => {
    const y = out.y?.data;
    if (!(y instanceof Float32Array) || y.length !== length) throw new Error(`onnxruntime-node's ${what} returned ${y?.length ?? 'nothing'} values, not ${length}`);
    return y;
  };
  /** Run `s`, its output `y` [dims] written into `out` when given, else returned as a new array. */
  const runInto = (s: BindingSession, feeds: Record<string, unknown>, dims: number[], what: string, out?: Float32Array): Float32Array => {
    const length = dims.reduce((a, b) => a * b, 1);
    if (!out) return output(s.run(feeds, { y: null }, {}), length, what);
    if (out.length !== length) throw new Error(`${what} output: ${out.length} floats for [${dims.join(', ')}]`);
    s.run(feeds, { y: new Tensor('float32', out, dims) }, {});
    return out;
  };
  /** The NCHWc block (16 with AVX-512, 8 with AVX2…), or 0 where this build's MLAS has no NCHWc kernels. */
  let block: number | null = null;
  const nchwcBlock = (): number => {
    if (block === null) {
      try {
        const y = session('nchwc block', nchwcBlockModel, 1).run({ x: new Tensor('float32', new Float32Array(4), [1, 1, 1, 4]) }, { y: null }, {}).y;
        block = y.dims[1] >= 4 && y.dims[1] % 4 === 0 ? y.dims[1] : 0;
      } catch {
        block = 0;
      }
    }
    return block;
  };
  const threadsFor = (multiplyAdds: number) => (multiplyAdds < ONE_THREAD_BELOW ? 1 : threads);

  /** dx by stride phases on the NCHWc kernels (see {@link nchwcPhaseModel}). */
  const phases = (plan: PhasePlan, dy: Float32Array, dyShape: readonly number[], w: Float32Array, wShape: readonly number[], out?: Float32Array): Float32Array => {
    const [batch, inH, inW, co] = dyShape;
    const [kh, kw, ci] = wShape;
    const key = `phases ${[kh, kw, ci, co, inH, inW, plan.outH, plan.outW, ...plan.strides, plan.padTop, plan.padLeft]}`;
    const multiplyAdds = batch * plan.outH * plan.outW * ci * co * Math.ceil((kh * kw) / (plan.strides[0] * plan.strides[1]));
    const dims = plan.phases.map(([py, px]) => phaseFilterDims(py, px, ci, co, plan));
    const s = stagedSession(key, () => nchwcPhaseModel(plan, ci), dims.map((d) => d.reduce((a, b) => a * b, 1)), threadsFor(multiplyAdds));
    const feeds: Record<string, unknown> = { x: new Tensor('float32', dy, [...dyShape]) };
    plan.phases.forEach(([py, px], p) => {
      reorderPhaseFilter(w, wShape, plan, py, px, s.buffers[p]);
      feeds[`w${p}`] = new Tensor('float32', s.buffers[p], dims[p]);
    });
    return runInto(s.session, feeds, [batch, plan.outH, plan.outW, ci], 'phases of ConvTranspose', out);
  };

  const gemm: NodeGemm = {
    describe: `onnxruntime-node ${runtimePackageVersion()} (MLAS), ${threads} thread${threads === 1 ? '' : 's'}`,
    run(a, b, bias, m, k, n, transA, transB, out) {
      const feeds: Record<string, unknown> = {
        a: new Tensor('float32', a, transA ? [k, m] : [m, k]),
        b: new Tensor('float32', b, transB ? [n, k] : [k, n]),
      };
      if (bias) feeds.c = new Tensor('float32', bias, [n]);
      const s = session(`gemm ${transA} ${transB} ${bias !== null}`, () => gemmModel(transA, transB, bias !== null), threadsFor(m * k * n));
      return runInto(s, feeds, [m, n], 'Gemm', out);
    },
    conv2d(x, xShape, w, wShape, bias, spec, out) {
      const [batch, h, wd, ci] = xShape;
      const [kh, kw, , co] = wShape;
      const bs = nchwcBlock();
      const stage = stageOf(ci, bs);
      if (!stage) return null;
      const [pt, pl, pb, pr] = spec.pads;
      const oh = Math.floor((h + pt + pb - kh) / spec.strides[0]) + 1;
      const ow = Math.floor((wd + pl + pr - kw) / spec.strides[1]) + 1;
      const key = `conv ${[ci, co, kh, kw, ...spec.strides, ...spec.pads]} ${bias !== null} ${spec.activation ?? ''} ${spec.alpha ?? ''}`;
      const coPadded = Math.ceil(co / bs) * bs;
      const ciPadded = stage === 'blocked' ? Math.ceil(ci / bs) * bs : ci;
      // Whole blocks: the graph reorders the filter; else it is reordered (and padded) here.
      const inGraph = coPadded === co && ciPadded === ci;
      const sizes = inGraph ? [] : [coPadded * ciPadded * kh * kw, coPadded];
      const s = stagedSession(`${key} ${inGraph}`, () => nchwcConvModel(ci, co, [kh, kw], spec, bias !== null, bs, inGraph), sizes, threadsFor(batch * oh * ow * kh * kw * ci * co));
      const feeds: Record<string, unknown> = { x: new Tensor('float32', x, [...xShape]) };
      if (inGraph) {
        feeds.wraw = new Tensor('float32', w, [...wShape]);
        if (bias) feeds.b = new Tensor('float32', bias, [co]);
      } else {
        reorderConvFilter(w, wShape, s.buffers[0], bs, stage === 'blocked');
        feeds.w = new Tensor('float32', s.buffers[0], [coPadded, ciPadded, kh, kw]);
        if (bias) {
          s.buffers[1].set(bias);
          feeds.b = new Tensor('float32', s.buffers[1], [coPadded]);
        }
      }
      return runInto(s.session, feeds, [batch, oh, ow, co], 'NCHWc Conv', out);
    },
    conv2dFilter(x, xShape, dy, dyShape, kernel, spec, chainTerms, out) {
      const [batch, , , ci] = xShape;
      const [, oh, ow, co] = dyShape;
      const [kh, kw] = kernel;
      const plan = filterPlan(xShape, dyShape, kernel, spec, chainTerms, nchwcBlock());
      if (!plan) return null;
      // dy's bands become the filters in the graph when Co is whole blocks, else here (padded).
      const inGraph = co === plan.coPadded;
      const key = `filter grad ${[...xShape, ...dyShape, kh, kw, ...spec.strides, ...spec.pads, chainTerms]} ${inGraph}`;
      const sizes = inGraph ? [] : plan.bands.map((band) => plan.coPadded * batch * (band.r1 - band.r0) * ow);
      const s = stagedSession(key, () => nchwcFilterModel(plan, xShape, dyShape, kernel, spec, inGraph), sizes, threadsFor(batch * oh * ow * kh * kw * ci * co));
      const feeds: Record<string, unknown> = { x: new Tensor('float32', x, [...xShape]) };
      if (inGraph) feeds.dy = new Tensor('float32', dy, [...dyShape]);
      else {
        plan.bands.forEach((band, j) => {
          reorderBandFilter(dy, dyShape, plan, band.r0, band.r1, s.buffers[j]);
          feeds[`w${j}`] = new Tensor('float32', s.buffers[j], [plan.coPadded, batch, band.r1 - band.r0, ow]);
        });
      }
      return runInto(s.session, feeds, [kh, kw, ci, co], 'NCHWc filter gradient', out);
    },
    convTranspose(dy, dyShape, w, wShape, g, out) {
      const [batch, inH, inW] = dyShape;
      const [kh, kw, ci] = wShape;
      const [outH, outW] = g.outSize;
      // ConvTranspose gives (in − 1)·s + k − pads; output_padding adds the rows a stride left over.
      const outputPadding = [outH - ((inH - 1) * g.strides[0] + kh - g.pads[0] - g.pads[2]), outW - ((inW - 1) * g.strides[1] + kw - g.pads[1] - g.pads[3])] as const;
      if (outputPadding.some((p, i) => p < 0 || p >= g.strides[i])) throw new Error(`ConvTranspose cannot reach [${outH}, ${outW}] from [${inH}, ${inW}]`);
      const plan = phasePlan(wShape, dyShape, g, nchwcBlock());
      if (plan) return phases(plan, dy, dyShape, w, wShape, out);
      const feeds = { x: new Tensor('float32', dy, [...dyShape]), w: new Tensor('float32', w, [...wShape]) };
      const s = session(`convT ${[kh, kw, ...g.strides, ...g.pads, ...outputPadding]}`, () => convTransposeModel([kh, kw], g, outputPadding));
      return runInto(s, feeds, [batch, outH, outW, ci], 'ConvTranspose', out);
    },
  };
  try {
    mod.initOrt();
    // [[1, 2], [3, 4]] · [[5, 6], [7, 8]]ᵀ + [1, -1] = [[18, 22], [40, 52]]
    const y = gemm.run(Float32Array.of(1, 2, 3, 4), Float32Array.of(5, 6, 7, 8), Float32Array.of(1, -1), 2, 2, 2, false, true);
    if (y.join(',') !== '18,22,40,52') return `onnxruntime-node's Gemm computed [${y.join(', ')}] for a known product`;
  } catch (err) {
    return `onnxruntime-node's synchronous binding failed (${(err as Error).message.split('\n')[0]})`;
  }
  return gemm;
}

