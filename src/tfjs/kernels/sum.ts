/** `Sum` over leading axes as one product on the host engine (./leading-axes.ts). */
import type { WasmKernelConfig } from './kernel.js';
import { columnReduction } from './leading-axes.js';

export const sumConfig: WasmKernelConfig = { kernelName: 'Sum', own: 'fallback', kernelFunc: columnReduction(false) };
