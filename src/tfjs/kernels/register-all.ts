/**
 * Every kernel wganx adds to or replaces on the tfjs `wasm` backend, one file each, registered in
 * this order (as tfjs-backend-wasm's `register_all_kernels.ts`). Training needs them: a kernel wasm
 * lacks (UnsortedSegmentSum: the Embedding's gradient; Conv2DBackpropFilter), one it gets wrong
 * (_FusedMatMul's bias on batched products), products and convolutions on a host engine when the
 * run has one (../wasm-host-gemm.ts), and speed patches where wasm's own kernel is a scalar or
 * generic loop (the reasons are in each file; the figures in bench/RESULTS.md).
 * test/tfjs/kernels.test.ts fails when one of them is no longer registered;
 * test/tfjs/wasm-kernels.test.ts compares each with the cpu backend.
 *
 * A kernel calls others through `callKernel` (../wasm-heap.ts) as registered when it runs: the
 * matrix products' transposes go through the patched `Transpose`, the unfused `_FusedMatMul`
 * through the patched `BatchMatMul`, the convolutions' phases through `Conv2D`.
 *
 * @example
 *   registerWasmKernels();   // after the wasm backend package is imported, before training
 */
import { batchMatMulConfig } from './batch-mat-mul.js';
import { conv2DConfig } from './conv2d.js';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.js';
import { fusedAdamConfig } from './fused-adam.js';
import { fusedBatchNormConfig } from './fused-batch-norm.js';
import { fusedConv2DConfig } from './fused-conv2d.js';
import { fusedMatMulConfig } from './fused-mat-mul.js';
import { gatherV2Config } from './gather-v2.js';
import { identityConfig } from './identity.js';
import { registerWasmKernel, type WasmKernelConfig } from './kernel.js';
import { leakyReluConfig } from './leaky-relu.js';
import { meanConfig } from './mean.js';
import { sumConfig } from './sum.js';
import { tanhConfig } from './tanh.js';
import { tileConfig } from './tile.js';
import { transposeConfig } from './transpose.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';

export const WASM_KERNELS: readonly WasmKernelConfig[] = [
  unsortedSegmentSumConfig,
  transposeConfig,
  tileConfig,
  gatherV2Config,
  identityConfig,
  leakyReluConfig,
  tanhConfig,
  fusedBatchNormConfig,
  sumConfig,
  meanConfig,
  batchMatMulConfig,
  fusedMatMulConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  conv2DConfig,
  fusedConv2DConfig,
  fusedAdamConfig,
];

let registered = false;

/** Register {@link WASM_KERNELS} for `wasm` (idempotent). Call after the wasm backend package is imported. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of WASM_KERNELS) registerWasmKernel(config);
}
