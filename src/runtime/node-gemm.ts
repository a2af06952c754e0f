/**
 * Synchronous float32 matrix products and transposed convolutions on onnxruntime-node's native CPU kernels
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
 * One small session per layout, made on first use: `Gemm` (transA, transB, with or without a bias
 * row) with symbolic m, k, n, on one thread below ~2M multiply-adds and on `threads` above;
 * `ConvTranspose` between NHWC Transposes per filter size, strides and pads (onnxruntime's forward
 * `Conv` measured slower than XNNPACK here: src/tfjs runs forward convolutions as im2col · `Gemm`).
 * Results come back as new Float32Arrays.
 *
 * @example
 *   const gemm = openNodeGemm({ threads: 2 });
 *   if (typeof gemm !== 'string') gemm.run(a, b, null, 64, 512, 512, false, true); // Float32Array(64·512)
 */
import { createRequire } from 'node:module';
import type { ConvGeometry, HostGemm } from '../core/gemm.js';

const require = createRequire(import.meta.url);

/** The host engine (src/core/gemm.ts) onnxruntime-node gives: it has the transposed convolution. */
export type NodeGemm = HostGemm & Required<Pick<HostGemm, 'convTranspose'>>;

interface BindingTensor {
  data: Float32Array;
}
interface BindingSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, unknown>, options: object): Record<string, BindingTensor>;
}
interface BindingModule {
  binding: { InferenceSession: new () => BindingSession };
  initOrt(): void;
}

/** A Gemm graph: y = op(a)·op(b) (+ c). */
function gemmModel(transA: boolean, transB: boolean, withBias: boolean): Uint8Array {
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
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
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
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
  const output = (out: Record<string, BindingTensor>, length: number, what: string): Float32Array => {
    const y = out.y?.data;
    if (!(y instanceof Float32Array) || y.length !== length) throw new Error(`onnxruntime-node's ${what} returned ${y?.length ?? 'nothing'} values, not ${length}`);
    return y;
  };
  const gemm: NodeGemm = {
    describe: `onnxruntime-node ${runtimePackageVersion()} (MLAS), ${threads} thread${threads === 1 ? '' : 's'}`,
    run(a, b, bias, m, k, n, transA, transB, out) {
      const feeds: Record<string, unknown> = {
        a: new Tensor('float32', a, transA ? [k, m] : [m, k]),
        b: new Tensor('float32', b, transB ? [n, k] : [k, n]),
      };
      if (bias) feeds.c = new Tensor('float32', bias, [n]);
      const s = session(`gemm ${transA} ${transB} ${bias !== null}`, () => gemmModel(transA, transB, bias !== null), m * k * n < ONE_THREAD_BELOW ? 1 : threads);
      if (!out) return output(s.run(feeds, { y: null }, {}), m * n, 'Gemm');
      // A pre-allocated output: onnxruntime writes the product into `out` itself.
      if (out.length !== m * n) throw new Error(`Gemm output: ${out.length} floats for [${m}, ${n}]`);
      s.run(feeds, { y: new Tensor('float32', out, [m, n]) }, {});
      return out;
    },
    convTranspose(dy, dyShape, w, wShape, g) {
      const [batch, inH, inW] = dyShape;
      const [kh, kw, ci] = wShape;
      const [outH, outW] = g.outSize;
      // ConvTranspose gives (in − 1)·s + k − pads; output_padding adds the rows a stride left over.
      const outputPadding = [outH - ((inH - 1) * g.strides[0] + kh - g.pads[0] - g.pads[2]), outW - ((inW - 1) * g.strides[1] + kw - g.pads[1] - g.pads[3])] as const;
      if (outputPadding.some((p, i) => p < 0 || p >= g.strides[i])) throw new Error(`ConvTranspose cannot reach [${outH}, ${outW}] from [${inH}, ${inW}]`);
      const feeds = { x: new Tensor('float32', dy, [...dyShape]), w: new Tensor('float32', w, [...wShape]) };
      const s = session(`convT ${[kh, kw, ...g.strides, ...g.pads, ...outputPadding]}`, () => convTransposeModel([kh, kw], g, outputPadding));
      return output(s.run(feeds, { y: null }, {}), batch * outH * outW * ci, 'ConvTranspose');
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
