/** wganx's wasm kernels against cpu on the threaded build (SharedArrayBuffer heap): see ./wasm-kernels.cases.ts. */
import { defineKernelTests } from './wasm-kernels.cases.js';

defineKernelTests(2);
