/**
 * The inference engine: device choice, the model registry (hot reload) and metrics, behind one
 * object that the HTTP app and benchmarks use.
 *
 * @example
 *   const engine = await Engine.start(resolveServeOptions({ modelsDir: 'models', device: 'auto' }));
 *   const model = engine.registry.get('ring');
 *   await engine.close();
 */
import { stat } from 'node:fs/promises';
import { InvalidArgumentError } from '../core/errors.js';
import { resolveDevice, type DeviceChoice } from './device.js';
import type { InferenceBackend } from './instance.js';
import { ServeMetrics } from './metrics.js';
import { loadModel, type LoadContext } from './model.js';
import type { Device } from './options.js';
import { silentLogger, stderrLogger, type Logger, type ServeOptions } from './options.js';
import type { SessionSpec } from './protocol.js';
import { ModelRegistry } from './registry.js';

export interface EngineDeps {
  logger?: Logger;
  /** Replace the device probe (tests). */
  probe?: (device: Device) => Promise<string | null>;
  /** Replace worker sessions (tests). */
  createBackend?: (opts: { model: Uint8Array; providers: string[]; threads: number; spec: SessionSpec; label: string }) => Promise<InferenceBackend>;
}

export class Engine {
  draining = false;

  private constructor(
    readonly options: ServeOptions,
    readonly device: DeviceChoice,
    readonly registry: ModelRegistry,
    readonly metrics: ServeMetrics,
    readonly logger: Logger,
  ) {}

  /** Choose the device, load every model folder once, start watching for changes. */
  static async start(options: ServeOptions, deps: EngineDeps = {}): Promise<Engine> {
    const logger = deps.logger ?? stderrLogger;
    const s = await stat(options.modelsDir).catch(() => null);
    if (!s?.isDirectory()) throw new InvalidArgumentError('--models', options.modelsDir, 'an existing folder of model folders');
    const device = await resolveDevice(options.device, deps.probe);
    for (const r of device.refused) logger.info(`device ${r.device} refused: ${r.reason}`);
    logger.info(`device: ${device.device} (requested ${device.requested}; providers ${device.providers.join(', ')})`);
    let registry!: ModelRegistry;
    const metrics = new ServeMetrics(() =>
      registry.list().map((e) => ({ model: e.name, queued: e.model?.batcher.queueLength ?? 0, ready: e.state === 'ready' })),
    );
    const ctx: LoadContext = {
      device,
      instances: options.instances,
      threads: options.threads,
      batcher: { maxBatch: options.maxBatch, maxQueueDelayMs: options.maxQueueDelayMs, maxQueue: options.maxQueue, timeoutMs: options.requestTimeoutMs },
      hooks: (name) => metrics.hooks(name),
      createBackend: deps.createBackend,
    };
    registry = new ModelRegistry(options.modelsDir, (dir, name) => loadModel(dir, name, ctx), logger);
    await registry.scan();
    const ready = registry.list().filter((e) => e.state === 'ready').length;
    logger.info(`${ready} of ${registry.list().length} models ready from ${options.modelsDir}`);
    registry.watch(options.reloadIntervalMs);
    return new Engine(options, device, registry, metrics, logger);
  }

  /** Ready for traffic: not draining and (with strict readiness) every model folder loaded. */
  get ready(): boolean {
    if (this.draining || !this.registry.initialScanDone) return false;
    const entries = this.registry.list();
    return this.options.strictReadiness ? entries.every((e) => e.state === 'ready') : entries.some((e) => e.state === 'ready');
  }

  /** Finish queued and running requests, then close every session. */
  close(): Promise<void> {
    this.draining = true;
    return this.registry.close();
  }

  abort(reason: string): Promise<void> {
    this.draining = true;
    return this.registry.abort(reason);
  }
}

export { silentLogger };
