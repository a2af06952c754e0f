/** wganx's wasm kernels against cpu on the one-thread build (plain heap): see ./wasm-kernels.cases.ts. */
import { defineKernelTests } from './wasm-kernels.cases.js';

defineKernelTests(1);
