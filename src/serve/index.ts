/**
 * wganx/serve: the ONNX Runtime inference engine and its HTTP API.
 *
 * @example
 *   import { startServer, resolveServeOptions } from './serve/index.js';
 *   const srv = await startServer(resolveServeOptions({ modelsDir: 'models', device: 'auto' }));
 */
export { createApp } from './http/app.js';
export { Engine, type EngineDeps } from './engine/engine.js';
export { bindServer, createHttpServer, startServer, type RunningServer } from './http/server.js';
export { resolveServeOptions, SERVE_FLAGS, API_KEY_ENV, type ServeOptions, type DeviceRequest, type Logger, silentLogger, stderrLogger } from './options.js';
export { resolveServeDevice, probeInWorker } from './engine/device.js';
export { NODE_DEVICES, DeviceUnavailableError, type DeviceChoice, type NodeDevice } from '../runtime/devices.js';
export { QueueFull, RequestTimeout, ClientGone, ModelNotFound, ModelNotReady, ModelUnavailable, InferenceFailed } from './engine/errors.js';
export { DynamicBatcher, type SubmitRequest, type SubmitResult } from './engine/batcher.js';
export type { InferenceBackend, BatchInput, BatchOutput } from './engine/instance.js';
