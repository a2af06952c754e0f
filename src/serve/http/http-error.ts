/**
 * Errors that carry an HTTP status: what the HTTP layer refuses on its own (no endpoint, wrong
 * API key, wrong content type). Validation errors stay {@link InvalidArgumentError} (→ 400) from the
 * core, and the engine's refusals stay domain errors (../engine/errors.ts); ./app.ts maps both.
 */
import { WganxError } from '../../core/errors.js';

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
