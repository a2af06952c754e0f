/**
 * `FusedAdam`, a kernel of our own: Adam's update of one variable in one pass, by the WebAssembly
 * SIMD function of ../wasm-adam.ts working on the backend's own memory. Registered where
 * WebAssembly SIMD is there; src/train/optimizers.ts uses it wherever the backend registers it.
 */
import * as tf from '@tensorflow/tfjs';
import { adamAvailable, adamFor, FUSED_ADAM, type FusedAdamAttrs } from '../wasm-adam.js';
import { heapIndex, type KernelArgs, type WasmBackend } from '../wasm-heap.js';
import type { WasmKernelConfig } from './kernel.js';

/** The emscripten module behind the backend: its memory is `asm.memory` (one-thread builds) or `wasmMemory` (threaded). */
interface WasmModuleMemory {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
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

export const fusedAdamConfig: WasmKernelConfig = {
  kernelName: FUSED_ADAM,
  own: 'add',
  kernelFunc: (args) => fusedAdam(args as KernelArgs),
  available: adamAvailable,
};
