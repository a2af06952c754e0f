/**
 * Prometheus metrics (prom-client), one registry per server so that tests can build many apps.
 * Model labels only ever hold names from the registry (unknown models count as ""), so hostile
 * requests cannot blow up label cardinality.
 */
import client from 'prom-client';
import type { Engine } from '../engine/engine.js';

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export const OUTCOMES = ['ok', 'client_error', 'unauthorized', 'not_found', 'overloaded', 'timeout', 'unavailable', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The outcome label of a response; a 503 is `unavailable` unless the handler saw a full queue (`overloaded`). */
export function outcomeOf(status: number, queueFull = false): Outcome {
  if (status < 400) return 'ok';
  if (status === 401) return 'unauthorized';
  if (status === 404) return 'not_found';
  if (status === 504) return 'timeout';
  if (status === 503) return queueFull ? 'overloaded' : 'unavailable';
  if (status < 500) return 'client_error';
  return 'error';
}

export class ServeMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'wganx_requests_total',
    help: 'HTTP requests by model, endpoint and outcome',
    labelNames: ['model', 'endpoint', 'outcome', 'code'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new client.Histogram({
    name: 'wganx_request_duration_seconds',
    help: 'Time from receiving a request to sending its response',
    labelNames: ['model', 'endpoint'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly queueDuration = new client.Histogram({
    name: 'wganx_queue_duration_seconds',
    help: 'Time a request waited in the batcher queue before its first batch started',
    labelNames: ['model'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly computeDuration = new client.Histogram({
    name: 'wganx_compute_duration_seconds',
    help: 'ONNX Runtime run() time per batch',
    labelNames: ['model'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly batchSize = new client.Histogram({
    name: 'wganx_batch_size',
    help: 'Rows per executed batch',
    labelNames: ['model'] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  /** Metrics of `engine`: its batch events and, on each scrape, its queue lengths and readiness. */
  constructor(engine: Pick<Engine, 'stats' | 'observe'>) {
    const queueLengths = () => engine.stats();
    new client.Gauge({
      name: 'wganx_queue_length',
      help: 'Requests waiting in each model queue',
      labelNames: ['model'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const q of queueLengths()) this.set({ model: q.model }, q.queued);
      },
    });
    new client.Gauge({
      name: 'wganx_model_ready',
      help: '1 when the model is loaded and serving',
      labelNames: ['model'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const q of queueLengths()) this.set({ model: q.model }, q.ready ? 1 : 0);
      },
    });
    client.collectDefaultMetrics({ register: this.registry, prefix: 'wganx_' });
    engine.observe({
      onBatch: (model, rows, computeMs) => {
        this.batchSize.observe({ model }, rows);
        this.computeDuration.observe({ model }, computeMs / 1000);
      },
      onQueueWait: (model, ms) => this.queueDuration.observe({ model }, ms / 1000),
    });
  }
}
