/**
 * Configuration of `wganx serve`, declared once: the CLI turns flags into a {@link ServeOptions},
 * tests build one with {@link resolveServeOptions}, and every module reads the typed object.
 *
 * @example
 *   const opts = resolveServeOptions({ modelsDir: 'models', device: 'cpu', maxBatch: 32 });
 */
import { InvalidArgumentError } from '../core/errors.js';

/** `--device` values. `auto` tries the fastest provider first and reports every fallback. */
export const DEVICES = ['auto', 'cuda', 'webgpu', 'cpu'] as const;
export type DeviceRequest = (typeof DEVICES)[number];
/** A device a session actually runs on. */
export type Device = Exclude<DeviceRequest, 'auto'>;

/** Environment variable read when `--api-key` is not given. */
export const API_KEY_ENV = 'WGANX_API_KEY';

export interface ServeOptions {
  /** Folder whose sub-folders `<name>/{manifest.json, generator.onnx}` are the models. */
  modelsDir: string;
  host: string;
  port: number;
  device: DeviceRequest;
  /** Largest number of rows (samples) one ORT run computes. 1 turns dynamic batching off. */
  maxBatch: number;
  /** How long the first queued request may wait for others to join its batch. */
  maxQueueDelayMs: number;
  /** Queued requests per model beyond which new ones get 503 + Retry-After. */
  maxQueue: number;
  /** Queue wait + compute allowed per request before it fails with 504. */
  requestTimeoutMs: number;
  /** Largest `n` (samples per request, and batch of a KServe request). */
  maxSamples: number;
  /** Largest `steps` of an interpolation. */
  maxSteps: number;
  /** Largest image `scale` factor. */
  maxScale: number;
  /** Request body limit in bytes (JSON and binary). */
  maxBodyBytes: number;
  /** Worker threads (ORT sessions) per model. */
  instances: number;
  /** ORT intra-op threads per session; 0 lets ONNX Runtime choose (one per core). */
  threads: number;
  /** Time SIGTERM waits for in-flight requests before closing connections. */
  drainTimeoutMs: number;
  /** How often the models folder is re-scanned for added, replaced or removed models; 0 = never. */
  reloadIntervalMs: number;
  /** Bearer key required on every endpoint except health, docs and OpenAPI; null = open. */
  apiKey: string | null;
  /** Origins allowed by CORS (exact match, or `*`); empty = no CORS headers. */
  corsOrigins: string[];
  /** Server ready (`/v2/health/ready`) only when every model in the folder loaded. */
  strictReadiness: boolean;
}

export const SERVE_DEFAULTS: Omit<ServeOptions, 'modelsDir'> = Object.freeze({
  host: '0.0.0.0',
  port: 8080,
  device: 'auto',
  maxBatch: 64,
  maxQueueDelayMs: 0,
  maxQueue: 1024,
  requestTimeoutMs: 30_000,
  maxSamples: 1024,
  maxSteps: 64,
  maxScale: 16,
  maxBodyBytes: 4 * 1024 * 1024,
  instances: 1,
  threads: 0,
  drainTimeoutMs: 10_000,
  reloadIntervalMs: 2_000,
  apiKey: null,
  corsOrigins: [],
  strictReadiness: true,
} as const satisfies Omit<ServeOptions, 'modelsDir'>);

function intIn(field: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new InvalidArgumentError(field, value, `an integer in [${min}, ${max}]`);
}

/** Fill defaults and check ranges (the CLI checks flags too; this guards programmatic callers). */
export function resolveServeOptions(partial: Partial<ServeOptions> & { modelsDir: string }): ServeOptions {
  const o: ServeOptions = { ...SERVE_DEFAULTS, ...partial, corsOrigins: [...(partial.corsOrigins ?? SERVE_DEFAULTS.corsOrigins)] };
  if (!DEVICES.includes(o.device)) throw new InvalidArgumentError('device', o.device, `one of ${DEVICES.join(', ')}`);
  intIn('port', o.port, 0, 65535);
  intIn('maxBatch', o.maxBatch, 1, 65536);
  intIn('maxQueueDelayMs', o.maxQueueDelayMs, 0, 60_000);
  intIn('maxQueue', o.maxQueue, 1, 1_000_000);
  intIn('requestTimeoutMs', o.requestTimeoutMs, 1, 3_600_000);
  intIn('maxSamples', o.maxSamples, 1, 65536);
  intIn('maxSteps', o.maxSteps, 2, 1024);
  intIn('maxScale', o.maxScale, 1, 16);
  intIn('maxBodyBytes', o.maxBodyBytes, 1024, 1024 * 1024 * 1024);
  intIn('instances', o.instances, 1, 64);
  intIn('threads', o.threads, 0, 256);
  intIn('drainTimeoutMs', o.drainTimeoutMs, 0, 3_600_000);
  intIn('reloadIntervalMs', o.reloadIntervalMs, 0, 3_600_000);
  if (o.apiKey !== null && o.apiKey.length === 0) throw new InvalidArgumentError('apiKey', o.apiKey, 'a non-empty string or none');
  return o;
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
