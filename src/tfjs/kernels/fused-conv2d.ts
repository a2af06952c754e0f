/** `FusedConv2D` (a convolution with bias and activation) on the host engine when the run has one (./conv2d.ts), else XNNPACK's own. */
import * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from '../wasm-heap.js';
import { convOnHost } from './conv2d.js';
import type { WasmKernelConfig } from './kernel.js';

export const fusedConv2DConfig: WasmKernelConfig = {
  kernelName: tf.FusedConv2D,
  own: 'fallback',
  kernelFunc: (args, original) => convOnHost(args as KernelArgs) ?? original!(args),
};
