/**
 * `--backend` values (auto, a native TensorFlow, WebGPU on Dawn, or a portable backend), apart from ./backend.ts so
 * that reading them (the CLI's flag tables) does not load TensorFlow.js.
 */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Threads of tfjs-backend-wasm's threaded build at most: Emscripten's pre-started pool (./wasm-threads.ts). */
export const MAX_WASM_THREADS = 8;

/** How wasm's matrix products run: `auto` on onnxruntime-node's native kernels when they open, else XNNPACK. */
export const MATMUL_CHOICES = ['auto', 'onnxruntime', 'xnnpack'] as const;
export type MatmulChoice = (typeof MATMUL_CHOICES)[number];
