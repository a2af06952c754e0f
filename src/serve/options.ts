/**
 * Configuration of `wganx serve`, declared once as a flag table ({@link SERVE_FLAGS}): the CLI
 * builds its flags from it, tests and programs build a {@link ServeOptions} with
 * {@link resolveServeOptions}, and every module reads the typed object.
 *
 * @example
 *   const opts = resolveServeOptions({ modelsDir: 'models', device: 'cpu', maxBatch: 32 });
 */
import { resolveFlags, type FlagInput, type FlagTable, type FlagValues } from '../core/flags.js';
import { NODE_DEVICE_REQUESTS } from '../runtime/devices.js';

/** Environment variable read when `--api-key` is not given. */
export const API_KEY_ENV = 'WGANX_API_KEY';

export const SERVE_FLAGS = {
  modelsDir: { type: 'string', flag: '--models', arg: '<dir>', help: 'folder of model folders (<name>/generator.onnx + manifest.json)', default: 'models', nonEmpty: true },
  defaultModel: {
    type: 'string', flag: '--default-model', arg: '<name>', default: null, nonEmpty: true,
    help: 'the model the browser page opens and /docs shows first (default: the first by name)',
  },
  host: { type: 'string', flag: '--host', arg: '<host>', help: 'interface to listen on', default: '0.0.0.0', nonEmpty: true },
  port: { type: 'int', flag: '--port', arg: '<n>', help: 'TCP port (0 = any free port)', default: 8080, min: 0, max: 65535 },
  device: { type: 'choice', flag: '--device', arg: '<device>', help: 'execution provider; auto tries cuda, then webgpu, then cpu, and logs why each was refused', default: 'auto', choices: NODE_DEVICE_REQUESTS },
  maxBatch: { type: 'int', flag: '--max-batch', arg: '<n>', help: 'largest batch (rows) one ONNX Runtime run computes; 1 turns dynamic batching off', default: 64, min: 1, max: 65536 },
  maxQueueDelayMs: {
    type: 'int', flag: '--max-queue-delay-ms', arg: '<ms>', default: 0, min: 0, max: 60_000,
    help: 'how long a queued request may wait for others to fill its batch while a session is idle (busy sessions batch whatever queued meanwhile)',
  },
  maxQueue: { type: 'int', flag: '--max-queue', arg: '<n>', help: 'queued requests per model before answering 503 with Retry-After', default: 1024, min: 1, max: 1_000_000 },
  shedHoldMs: {
    type: 'int', flag: '--shed-hold-ms', arg: '<ms>', default: 1000, min: 0, max: 60_000,
    help: "hold a full queue's 503 between half this and this long before sending it, so that clients re-sending at once do not keep the server busy refusing (0: answer at once)",
  },
  requestTimeoutMs: { type: 'int', flag: '--request-timeout-ms', arg: '<ms>', help: 'queue + compute time allowed per request before 504', default: 30_000, min: 1, max: 3_600_000 },
  maxSamples: { type: 'int', flag: '--max-samples', arg: '<n>', help: 'largest n per request (and batch of a KServe request)', default: 1024, min: 1, max: 65536 },
  maxSteps: { type: 'int', flag: '--max-steps', arg: '<n>', help: 'largest interpolation steps', default: 64, min: 2, max: 1024 },
  maxRefineK: {
    type: 'int', flag: '--max-refine-k', arg: '<k>', default: 16, min: 0, max: 64,
    help: 'largest refine.k of a samples request (rank: k generator + critic passes per sample; 0 turns rank off)',
  },
  maxRefineSteps: {
    type: 'int', flag: '--max-refine-steps', arg: '<n>', default: 200, min: 0, max: 1000,
    help: 'largest refine.steps of a samples request (dot, ddls: a forward and backward pass of G and the critic per step and sample; 0 turns them off)',
  },
  maxScale: { type: 'int', flag: '--max-scale', arg: '<n>', help: 'largest image upscaling factor', default: 16, min: 1, max: 16 },
  maxBodyBytes: { type: 'int', flag: '--max-body-bytes', arg: '<n>', help: 'request body limit in bytes', default: 4 * 1024 * 1024, min: 1024, max: 1024 ** 3 },
  instances: { type: 'int', flag: '--instances', arg: '<n>', help: 'ONNX Runtime sessions (worker threads) per model', default: 1, min: 1, max: 64 },
  threads: { type: 'int', flag: '--threads', arg: '<n>', help: 'intra-op threads per session (0 = one per core)', default: 0, min: 0, max: 256 },
  drainTimeoutMs: { type: 'int', flag: '--drain-timeout', arg: '<ms>', help: 'on SIGTERM, how long in-flight requests may take before connections close', default: 10_000, min: 0, max: 3_600_000 },
  loadTimeoutMs: {
    type: 'int', flag: '--load-timeout', arg: '<ms>', default: 120_000, min: 100, max: 3_600_000,
    help: 'how long loading one model may take before it is marked failed (the other models load and serve meanwhile)',
  },
  reloadIntervalMs: { type: 'int', flag: '--reload-interval', arg: '<ms>', help: 'how often the models folder is checked for added, replaced or removed models (0 = never)', default: 2_000, min: 0, max: 3_600_000 },
  apiKey: { type: 'string', flag: '--api-key', arg: '<key>', help: 'require this key (Authorization: Bearer or X-API-Key) on all but health and docs', default: null, nonEmpty: true, env: API_KEY_ENV },
  corsOrigins: { type: 'list', flag: '--cors-origin', arg: '<origins>', help: 'comma-separated origins allowed by CORS (or *)', default: [] },
  strictReadiness: {
    type: 'boolean', flag: '--strict-readiness', default: true,
    help: 'report ready only when every model folder loaded', negatedHelp: 'report ready when at least one model is (default: only when all are)',
  },
} as const satisfies FlagTable;

export type ServeOptions = FlagValues<typeof SERVE_FLAGS>;
export type DeviceRequest = ServeOptions['device'];

/** Fill defaults and check ranges: the CLI and programmatic callers go through the same checks. */
export function resolveServeOptions(partial: FlagInput<typeof SERVE_FLAGS> = {}): ServeOptions {
  return resolveFlags(SERVE_FLAGS, partial);
}

/** A log sink; the server writes one line per event. Tests pass a silent or recording one. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const stderrLogger: Logger = {
  info: (m) => process.stderr.write(`wganx serve: ${m}\n`),
  warn: (m) => process.stderr.write(`wganx serve: warning: ${m}\n`),
  error: (m) => process.stderr.write(`wganx serve: error: ${m}\n`),
};

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
