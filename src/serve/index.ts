/**
 * wganx/serve: the ONNX Runtime inference engine and its HTTP API.
 *
 * @example
 *   import { startServer, resolveServeOptions } from './serve/index.js';
 *   const srv = await startServer(resolveServeOptions({ modelsDir: 'models', device: 'auto' }));
 */
export { createApp } from './app.js';
export { Engine, type EngineDeps } from './engine.js';
export { createHttpServer, startServer, type RunningServer } from './server.js';
export { resolveServeOptions, SERVE_DEFAULTS, DEVICES, API_KEY_ENV, type ServeOptions, type DeviceRequest, type Device, type Logger, silentLogger, stderrLogger } from './options.js';
export { resolveDevice, probeDevice, DEVICE_PROVIDERS, DeviceUnavailableError, type DeviceChoice } from './device.js';
export { DynamicBatcher, type SubmitRequest, type SubmitResult } from './batcher.js';
export type { InferenceBackend, BatchInput, BatchOutput } from './instance.js';
