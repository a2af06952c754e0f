/**
 * The inference engine: device choice, the model registry (hot reload) and the dynamic batchers,
 * behind one object that the HTTP layer and benchmarks use. It knows nothing of HTTP: refusals
 * are domain errors (./errors.ts), and batch timings go to whoever listens ({@link EngineEvents}).
 *
 * @example
 *   const engine = await Engine.start(resolveServeOptions({ modelsDir: 'models', device: 'auto' }));
 *   const ring = engine.model('ring');                 // throws ModelNotFound / ModelNotReady
 *   const { data } = await engine.submit(ring, { rows: 4, source: { kind: 'seeded', seed: 1, start: 0 }, labels: null });
 *   await engine.close();
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from '../../core/errors.js';
import type { DeviceChoice, DeviceProbe, NodeDevice } from '../../runtime/devices.js';
import { silentLogger, stderrLogger, type Logger, type ServeOptions } from '../options.js';
import type { BatcherHooks, SubmitRequest, SubmitResult } from './batcher.js';
import { resolveServeDevice } from './device.js';
import { ModelNotFound, ModelNotReady } from './errors.js';
import { loadModel, type BackendOptions, type LoadContext, type LoadedModel } from './model.js';
import type { InferenceBackend } from './instance.js';
import { isModelFolder, ModelRegistry, type ModelEntry, type ModelState } from './registry.js';

/** Why the server is not ready: the model folders that hold readiness back, or what else does. */
export interface Readiness {
  ready: boolean;
  /** Why not, in a sentence (null when ready). */
  reason: string | null;
  /** Model folders not ready (with strict readiness, each of them holds the server back). */
  models: { name: string; state: ModelState; reason: string | null }[];
}

export interface EngineDeps {
  logger?: Logger;
  /** Replace the device probe (tests). */
  probe?: DeviceProbe<NodeDevice>;
  /** Replace worker sessions (tests). */
  createBackend?: (opts: BackendOptions) => Promise<InferenceBackend>;
}

/** Batch-level events, for metrics. */
export interface EngineEvents {
  onBatch?(model: string, rows: number, computeMs: number): void;
  onQueueWait?(model: string, ms: number): void;
}

export interface ModelStats {
  model: string;
  queued: number;
  ready: boolean;
}

export class Engine {
  draining = false;
  private readonly listeners: EngineEvents[] = [];

  private constructor(
    readonly options: ServeOptions,
    readonly device: DeviceChoice<NodeDevice>,
    readonly registry: ModelRegistry,
    readonly logger: Logger,
  ) {}

  /** Choose the device, load every model folder once, start watching for changes. */
  static async start(options: ServeOptions, deps: EngineDeps = {}): Promise<Engine> {
    const engine = await Engine.create(options, deps);
    await engine.load();
    return engine;
  }

  /**
   * Check the models folder and choose the device, but load nothing yet (see {@link load}): the
   * server binds its port in between, so that a taken port fails at once.
   */
  static async create(options: ServeOptions, deps: EngineDeps = {}): Promise<Engine> {
    const logger = deps.logger ?? stderrLogger;
    const s = await stat(options.modelsDir).catch(() => null);
    if (!s?.isDirectory()) throw new InvalidArgumentError('--models', options.modelsDir, 'an existing folder of model folders (e.g. models) or one model folder (e.g. models/ring)');
    // `--models models/ring`: one model folder (it holds manifest.json), served as that one model.
    const single = await isModelFolder(options.modelsDir);
    if (single) logger.info(`${options.modelsDir} is one model folder (it holds manifest.json): serving that model as "${path.basename(path.resolve(options.modelsDir))}"`);
    const device = await resolveServeDevice(options.device, deps.probe);
    for (const r of device.refused) logger.info(`device ${r.device} refused: ${r.reason}`);
    logger.info(`device: ${device.device} (requested ${device.requested}; providers ${device.providers.join(', ')})`);
    let engine: Engine | null = null;
    const ctx: LoadContext = {
      device,
      instances: options.instances,
      threads: options.threads,
      batcher: { maxBatch: options.maxBatch, maxQueueDelayMs: options.maxQueueDelayMs, maxQueue: options.maxQueue, timeoutMs: options.requestTimeoutMs },
      hooks: (name) => engine!.hooks(name),
      createBackend: deps.createBackend,
    };
    const registry = new ModelRegistry(options.modelsDir, (dir, name) => loadModel(dir, name, ctx), logger, { loadTimeoutMs: options.loadTimeoutMs, single });
    engine = new Engine(options, device, registry, logger);
    return engine;
  }

  /** Load every model folder once (each within `--load-timeout`), then watch the folder for changes. */
  async load(): Promise<void> {
    const { registry, options } = this;
    await registry.scan();
    const ready = registry.list().filter((e) => e.state === 'ready').length;
    this.logger.info(`${ready} of ${registry.list().length} models ready from ${options.modelsDir}`);
    if (registry.list().length === 0) {
      this.logger.warn(
        `no model folders in ${options.modelsDir}: nothing to serve, and not ready until one appears. --models takes a folder of model folders ` +
          `(each holding manifest.json and its .onnx file, e.g. --models models) or one model folder (e.g. --models models/ring)`,
      );
    }
    if (!this.draining) registry.watch(options.reloadIntervalMs);
  }

  /** Re-read the models folder now (SIGHUP). */
  rescan(): Promise<void> {
    return this.registry.scan();
  }

  /** The first scan of the models folder has finished (until then the server answers 503). */
  get started(): boolean {
    return this.registry.initialScanDone;
  }

  /** Listen to batch events (metrics). */
  observe(listener: EngineEvents): void {
    this.listeners.push(listener);
  }

  private hooks(model: string): BatcherHooks {
    return {
      onBatch: (rows, computeMs) => {
        for (const l of this.listeners) l.onBatch?.(model, rows, computeMs);
      },
      onQueueWait: (ms) => {
        for (const l of this.listeners) l.onQueueWait?.(model, ms);
      },
    };
  }

  /** The ready model called `name`; throws {@link ModelNotFound} or {@link ModelNotReady}. */
  model(name: string): LoadedModel {
    const entry = this.registry.entry(name);
    if (!entry) throw new ModelNotFound(name, this.registry.list().map((e) => e.name));
    if (entry.state !== 'ready' || !entry.model) throw new ModelNotReady(name, entry.state === 'ready' ? 'loading' : entry.state, entry.reason);
    return entry.model;
  }

  /** Every model folder, loaded or not, with its state and reason (sorted by name). */
  list(): ModelEntry[] {
    return this.registry.list();
  }

  /** One model folder's entry, or undefined when no folder has that name. */
  entry(name: string): ModelEntry | undefined {
    return this.registry.entry(name);
  }

  /**
   * Throws what {@link submit} would refuse with right now (queue full, model going away), so that
   * a request can be turned away before its body is read.
   */
  admit(model: LoadedModel): void {
    model.batcher.admit();
  }

  /** Compute a request's samples on `model` through its dynamic batcher. */
  submit(model: LoadedModel, req: SubmitRequest): Promise<SubmitResult> {
    return model.batcher.submit(req);
  }

  /** Queue length and readiness of every model folder (metrics). */
  stats(): ModelStats[] {
    return this.list().map((e) => ({ model: e.name, queued: e.model?.batcher.queueLength ?? 0, ready: e.state === 'ready' }));
  }

  /** Ready for traffic: not draining, at least one model, and (with strict readiness) every model folder loaded. */
  get ready(): boolean {
    return this.readiness().ready;
  }

  /** {@link ready}, with what holds it back (for /v2/health/ready): draining, still loading, no models, or the models not ready. */
  readiness(): Readiness {
    const entries = this.registry.list();
    const models = entries.filter((e) => e.state !== 'ready').map((e) => ({ name: e.name, state: e.state, reason: e.reason }));
    if (this.draining) return { ready: false, reason: 'the server is shutting down', models };
    if (!this.registry.initialScanDone) return { ready: false, reason: 'the models are still loading', models };
    if (entries.length === 0) return { ready: false, reason: 'no model folders in --models: nothing to serve', models };
    if (this.options.strictReadiness) {
      if (models.length === 0) return { ready: true, reason: null, models };
      const names = models.map((m) => `"${m.name}" (${m.state})`).join(', ');
      return { ready: false, reason: `strict readiness: every model folder must load, and ${names} ${models.length > 1 ? 'have' : 'has'} not (--no-strict-readiness: ready once one model is)`, models };
    }
    if (models.length < entries.length) return { ready: true, reason: null, models };
    return { ready: false, reason: 'no model is ready', models };
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
