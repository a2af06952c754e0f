/**
 * What the engine refuses or fails, as domain errors: the HTTP layer (src/serve/http/app.ts) alone
 * turns them into status codes (503 + Retry-After, 504, 499, 404, 500).
 */
import { WganxError } from '../../core/errors.js';

/** Seconds a client should wait before retrying a request the engine refused for now. */
export const RETRY_AFTER_SECONDS = 1;

export class EngineError extends WganxError {
  override name = 'EngineError';
}

/** The model's queue holds `limit` requests already. */
export class QueueFull extends EngineError {
  override name = 'QueueFull';
  constructor(
    readonly model: string,
    readonly limit: number,
  ) {
    super(`model "${model}" is overloaded: its queue holds the maximum of ${limit} requests; retry later`);
  }
}

/** Queue wait and compute took longer than the request timeout. */
export class RequestTimeout extends EngineError {
  override name = 'RequestTimeout';
  constructor(
    readonly model: string,
    readonly ms: number,
  ) {
    super(`request to model "${model}" did not complete within ${ms} ms`);
  }
}

/** The client went away before its samples were computed. */
export class ClientGone extends EngineError {
  override name = 'ClientGone';
  constructor() {
    super('client closed the request');
  }
}

/** No model of that name in the models folder. */
export class ModelNotFound extends EngineError {
  override name = 'ModelNotFound';
  constructor(
    readonly model: string,
    readonly available: string[],
  ) {
    super(`model "${model}" is not served here; models: ${available.join(', ') || '(none)'}`);
  }
}

/** The model is loading (retry soon) or failed to load (its reason says why). */
export class ModelNotReady extends EngineError {
  override name = 'ModelNotReady';
  constructor(
    readonly model: string,
    readonly state: 'loading' | 'failed',
    readonly reason: string | null,
  ) {
    super(`model "${model}" is not ready: ${state === 'loading' ? `loading${reason ? ` (${reason})` : ''}` : reason}`);
  }

  /** A loading model will be ready soon; a failed one only when its files change. */
  get retryable(): boolean {
    return this.state === 'loading';
  }
}

/** The model version that took the request is going away (unloaded, replaced, or its sessions stopped); retry. */
export class ModelUnavailable extends EngineError {
  override name = 'ModelUnavailable';
}

/** The runtime failed on a batch. */
export class InferenceFailed extends EngineError {
  override name = 'InferenceFailed';
}
