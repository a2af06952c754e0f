/** Types of scripts/build-wasm.mjs, for test/tfjs/wasm-adam.test.ts. */
export const WAT_FILE: string;
export const BINARY_FILE: string;
/** The TypeScript source of src/tfjs/wasm-adam.binary.ts for the WebAssembly text `wat`. */
export function assembleAdam(wat: string): Promise<string>;
