/**
 * Where the installed onnxruntime-web keeps the files a browser loads beside the page's script
 * (Node only): its WebAssembly loaders and binaries. The server hands them out from the installed
 * package (src/serve/http/routes-web.ts) instead of a copy in dist/web, which kept 42 MB of wasm
 * in wganx's own package; `scripts/build-web.mjs --static` copies the same files for static hosts.
 *
 * @example
 *   const file = path.join(ortWebDir(), ORT_WEB_FILES[0]); // …/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.mjs
 */
import { createRequire } from 'node:module';
import path from 'node:path';

/** onnxruntime-web's loaders and binaries the page loads: the WebGPU build (JSEP) and the WASM-only build. */
export const ORT_WEB_FILES = Object.freeze(['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'] as const);

let dir: string | null = null;

/** The installed onnxruntime-web's `dist/` folder (resolved once, from this package). */
export function ortWebDir(): string {
  dir ??= path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web')); // …/onnxruntime-web/dist/ort.node.min.js
  return dir;
}
