/**
 * `_FusedMatMul` (dense layers): on the host engine, else XNNPACK with transposed operands made
 * explicit, batched products with a bias unfused (./matmul.ts).
 */
import type { WasmKernelConfig } from './kernel.js';
import { matMulKernel } from './matmul.js';

export const fusedMatMulConfig: WasmKernelConfig = { kernelName: '_FusedMatMul', own: 'fallback', kernelFunc: matMulKernel('_FusedMatMul') };
