/**
 * Adam's update of one variable as one kernel on the tfjs wasm backend.
 *
 * As tensor ops, one update is 13 kernels, each with a fresh output in the heap and a pass over
 * memory (about 5 ns per element on this machine, more for small variables, where each kernel's
 * fixed cost dominates). The kernel `FusedAdam` does it in one pass, four floats at a time, with a
 * tiny WebAssembly module (./wasm-adam.wat, SIMD) that works on the backend's own memory: about
 * 1.1 ns per element (bench/RESULTS.md). Its float32 operations are the tensor ops' in their
 * order, so the new weights and moments are the same bits (test/tfjs/wasm-adam.test.ts).
 *
 * src/train/optimizers.ts uses the kernel wherever the current backend registers it.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM_WASM_PLAIN, ADAM_WASM_SHARED } from './wasm-adam.binary.js';
import { heapIndex, type KernelArgs, type WasmBackend } from './wasm-heap.js';
import { isShared } from './wasm-host-gemm.js';

/** The kernel's name. Inputs `x` (the variable), `m`, `v`, `g`; outputs x', m', v'. */
export const FUSED_ADAM = 'FusedAdam';

/** Its attributes: the constants of one step (see src/train/optimizers.ts). */
export interface FusedAdamAttrs {
  beta1: number;
  beta2: number;
  /** lr / (1 − β1^t). */
  stepSize: number;
  /** √(1 − β2^t). */
  sqrtBc2: number;
  epsilon: number;
}

type AdamExport = (w: number, m: number, v: number, g: number, wOut: number, mOut: number, vOut: number, n: number, b1: number, c1: number, b2: number, c2: number, stepSize: number, sqrtBc2: number, eps: number) => void;

/** The emscripten module behind the backend: its memory is `asm.memory` (one-thread builds) or `wasmMemory` (threaded). */
interface WasmModuleMemory {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
}

function base64Bytes(b64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** One instance per memory (a backend keeps its memory for life; growing it keeps the object). */
const instances = new WeakMap<WebAssembly.Memory, AdamExport>();

/** The module's `adam`, linked to `memory` (a plain or a shared one). */
export function adamFor(memory: WebAssembly.Memory): AdamExport {
  let fn = instances.get(memory);
  if (!fn) {
    const module = new WebAssembly.Module(base64Bytes(isShared(memory) ? ADAM_WASM_SHARED : ADAM_WASM_PLAIN));
    fn = new WebAssembly.Instance(module, { env: { memory } }).exports.adam as AdamExport;
    instances.set(memory, fn);
  }
  return fn;
}

function backendMemory(backend: WasmBackend): WebAssembly.Memory {
  const mod = backend.wasm as unknown as WasmModuleMemory;
  const memory = mod.wasmMemory ?? mod.asm?.memory;
  if (!memory) throw new Error('FusedAdam: the wasm backend does not expose its memory');
  return memory;
}

function fusedAdam(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as WasmBackend;
  const { x, m, v, g } = args.inputs as Record<'x' | 'm' | 'v' | 'g', tf.TensorInfo>;
  const a = args.attrs as unknown as FusedAdamAttrs;
  const n = tf.util.sizeFromShape(x.shape);
  for (const [name, t] of Object.entries({ x, m, v, g })) {
    if (t.dtype !== 'float32') throw new Error(`FusedAdam: ${name} must be float32, got ${t.dtype}`);
    if (tf.util.sizeFromShape(t.shape) !== n) throw new Error(`FusedAdam: ${name} has shape [${t.shape}], x has [${x.shape}]`);
  }
  const adam = adamFor(backendMemory(backend));
  const outs = [x, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
  const at = (t: tf.TensorInfo): number => heapIndex(backend, t) * Float32Array.BYTES_PER_ELEMENT;
  adam(at(x), at(m), at(v), at(g), at(outs[0]), at(outs[1]), at(outs[2]), n, a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.stepSize, a.sqrtBc2, a.epsilon);
  return outs;
}

/** Register `FusedAdam` for `wasm` where WebAssembly SIMD is there (idempotent). */
export function registerWasmAdam(): void {
  if (tf.getKernel(FUSED_ADAM, 'wasm')) return;
  if (!WebAssembly.validate(base64Bytes(ADAM_WASM_PLAIN))) return; // no SIMD: the optimiser keeps its tensor ops
  tf.registerKernel({ kernelName: FUSED_ADAM, backendName: 'wasm', kernelFunc: fusedAdam as unknown as tf.KernelFunc });
}
