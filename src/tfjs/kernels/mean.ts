/** `Mean` over leading axes as one product on the host engine (./leading-axes.ts). */
import type { WasmKernelConfig } from './kernel.js';
import { columnReduction } from './leading-axes.js';

export const meanConfig: WasmKernelConfig = { kernelName: 'Mean', own: 'fallback', kernelFunc: columnReduction(true) };
