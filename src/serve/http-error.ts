/**
 * Errors that carry an HTTP status. Validation errors stay {@link InvalidArgumentError} (→ 400)
 * from the core; everything else the server refuses on purpose is an HttpError.
 */
import { WganxError } from '../core/errors.js';

export class HttpError extends WganxError {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    /** Extra JSON fields of the error body (e.g. the list of models). */
    readonly details: Record<string, unknown> = {},
    /** Seconds for a Retry-After header (503). */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/** Seconds a client is told to wait after a 503 (queue full, model loading, draining). */
export const RETRY_AFTER_SECONDS = 1;

/** 503 because a model's queue is full (metrics count it as `overloaded`; other 503s are `unavailable`). */
export class QueueFullError extends HttpError {
  override name = 'QueueFullError';
}

export const queueFull = (model: string, limit: number) =>
  new QueueFullError(503, `model "${model}" is overloaded: its queue holds the maximum of ${limit} requests; retry later`, { model }, RETRY_AFTER_SECONDS);
export const requestTimeout = (model: string, ms: number) => new HttpError(504, `request to model "${model}" did not complete within ${ms} ms`, { model });
export const unavailable = (message: string) => new HttpError(503, message, {}, RETRY_AFTER_SECONDS);
