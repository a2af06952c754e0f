/**
 * Synchronous float32 matrix products on onnxruntime-node's native CPU kernels (MLAS: AVX2 /
 * AVX-512 where the processor has them), for training: tfjs kernels are synchronous, and the
 * wasm backend's XNNPACK has only 128-bit SIMD, 3–15× slower per product on the machine in
 * bench/RESULTS.md. src/tfjs routes wasm's `BatchMatMul` and `_FusedMatMul` here when a run has it.
 *
 * onnxruntime-node's public `InferenceSession.run` returns a promise; its native binding's `run`
 * itself is synchronous (the public one wraps it in `setImmediate`). This module uses that binding
 * (`onnxruntime-node/dist/binding.js`, an internal module of the version in package-lock.json),
 * checks its shape first, and reports why when it cannot: callers then keep XNNPACK.
 *
 * One small session per operand layout: `Gemm` (transA, transB) with symbolic m, k, n, and a
 * second with a bias row C [n]. Inputs may be views on the wasm heap (no copy in); the product
 * comes back as a new Float32Array.
 *
 * @example
 *   const gemm = openNodeGemm({ threads: 2 });
 *   if (typeof gemm !== 'string') gemm.run(a, b, null, 64, 512, 512, false, true); // Float32Array(64·512)
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A synchronous c = op(a)·op(b) (+ bias), row-major float32. */
export interface NodeGemm {
  /** What runs the products, for the backend line (e.g. "onnxruntime-node 1.30.0 (MLAS), 2 threads"). */
  readonly describe: string;
  /**
   * c [m, n] = op(a) · op(b) (+ bias [n] on every row). `a` is [m, k] ([k, m] when `transA`), `b` is
   * [k, n] ([n, k] when `transB`).
   */
  run(a: Float32Array, b: Float32Array, bias: Float32Array | null, m: number, k: number, n: number, transA: boolean, transB: boolean): Float32Array;
}

interface BindingTensor {
  data: Float32Array;
}
interface BindingSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, BindingTensor>;
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

/** Engines by thread count: a process opens each once. */
const engines = new Map<number, NodeGemm | string>();

function open(threads: number): NodeGemm | string {
  const mod = loadBinding();
  if (typeof mod === 'string') return mod;
  const { Tensor } = require('onnxruntime-common') as typeof import('onnxruntime-common');
  const options = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const sessions = new Map<number, BindingSession>();
  const session = (transA: boolean, transB: boolean, withBias: boolean): BindingSession => {
    const key = (transA ? 1 : 0) | (transB ? 2 : 0) | (withBias ? 4 : 0);
    let s = sessions.get(key);
    if (!s) {
      const bytes = gemmModel(transA, transB, withBias);
      s = new mod.binding.InferenceSession();
      s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, options);
      sessions.set(key, s);
    }
    return s;
  };
  const gemm: NodeGemm = {
    describe: `onnxruntime-node ${runtimePackageVersion()} (MLAS), ${threads} thread${threads === 1 ? '' : 's'}`,
    run(a, b, bias, m, k, n, transA, transB) {
      const feeds: Record<string, unknown> = {
        a: new Tensor('float32', a, transA ? [k, m] : [m, k]),
        b: new Tensor('float32', b, transB ? [n, k] : [k, n]),
      };
      if (bias) feeds.c = new Tensor('float32', bias, [n]);
      const out = session(transA, transB, bias !== null).run(feeds, { y: null }, {});
      const y = out.y?.data;
      if (!(y instanceof Float32Array) || y.length !== m * n) throw new Error(`onnxruntime-node's Gemm returned ${y?.length ?? 'nothing'} values for [${m}, ${n}]`);
      return y;
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
