/** `BatchMatMul`: on the host engine, else XNNPACK with transposed operands made explicit (./matmul.ts). */
import type { WasmKernelConfig } from './kernel.js';
import { matMulKernel } from './matmul.js';

export const batchMatMulConfig: WasmKernelConfig = { kernelName: 'BatchMatMul', own: 'fallback', kernelFunc: matMulKernel('BatchMatMul') };
