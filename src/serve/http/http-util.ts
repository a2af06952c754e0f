/**
 * Small helpers shared by the HTTP routes: the model a request names, the per-request bookkeeping
 * read by metrics, the client-gone signal and the Server-Timing header.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { CancelSignal } from '../engine/batcher.js';
import type { Engine } from '../engine/engine.js';
import type { LoadedModel } from '../engine/model.js';
import { HttpError } from './http-error.js';
import { modelNameSchema, parseInput } from './schemas.js';

/** Per-response bookkeeping for metrics: set by handlers once the model is known. */
export interface RequestInfo {
  endpoint: string;
  model: string;
  /** The request was refused because the model's queue was full. */
  queueFull?: boolean;
}

export function info(res: Response): RequestInfo {
  return res.locals as RequestInfo;
}

/**
 * The ready model called `raw`: a 400 when it is not a model name, else whatever the engine
 * refuses (not served → 404, loading or failed → 503 with the reason; see ./app.ts).
 */
export function lookupModel(engine: Engine, raw: unknown, res: Response): LoadedModel {
  const name = parseInput(modelNameSchema, raw, 'model');
  if (engine.entry(name)) info(res).model = name; // metrics label only names served folders
  return engine.model(name);
}

/**
 * Turns a request away before its body is read: a declared body above the limit (413, and the
 * connection closes rather than read what the client still sends), an unknown or unready model,
 * or a full queue (503). Under overload, bodies that would be refused are then never parsed, so
 * the CPU goes to the requests that can be served.
 */
export function admission(engine: Engine, maxBodyBytes: number): RequestHandler {
  return (req: Request, res: Response, next) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      res.setHeader('Connection', 'close');
      throw new HttpError(413, `request body is larger than the limit of ${maxBodyBytes} bytes`, { field: 'body', value: Number(declared), allowed: `at most ${maxBodyBytes} bytes` });
    }
    engine.admit(lookupModel(engine, req.params.name, res));
    next();
  };
}

/**
 * Aborted when the client disconnects before its response is sent: the request then leaves the
 * queue. A plain object rather than an AbortController, because EventTarget's machinery is costly
 * on the hot path (bench/RESULTS.md has the measurement).
 */
class ClientGone implements CancelSignal {
  aborted = false;
  private listeners: (() => void)[] = [];

  constructor(res: Response) {
    res.once('close', () => {
      if (!res.writableFinished) this.abort();
    });
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return; // like an AbortSignal: a listener added after the abort never runs
    this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  private abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    for (const l of this.listeners.splice(0)) l();
  }
}

/** {@link ClientGone} for a route's request. */
export function clientSignal(res: Response): CancelSignal {
  return new ClientGone(res);
}

/** Server-Timing header: where the time went (visible in browsers' dev tools). */
export function serverTiming(res: Response, queueMs: number, computeMs: number): void {
  res.setHeader('Server-Timing', `queue;dur=${queueMs.toFixed(2)}, compute;dur=${computeMs.toFixed(2)}`);
}

/**
 * Sets a strong `ETag` (from `tag`) and `Cache-Control: no-cache` (revalidate on every use); true
 * when the client's `If-None-Match` already names it (the caller answers 304).
 */
export function etagFresh(req: Request, res: Response, tag: string): boolean {
  const etag = `"${tag}"`;
  res.setHeader('ETag', etag);
  res.setHeader('Cache-Control', 'no-cache');
  const inm = req.headers['if-none-match'];
  return inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}`);
}

/**
 * The names of the ready models in the order the page and /docs show them: `--default-model`
 * first (when it is ready), then the others by name.
 */
export function shownModels(engine: Engine): string[] {
  const { defaultModel } = engine.options;
  const names = engine.list().filter((e) => e.state === 'ready').map((e) => e.name);
  const i = defaultModel === null ? -1 : names.indexOf(defaultModel);
  return i <= 0 ? names : [names[i]!, ...names.slice(0, i), ...names.slice(i + 1)];
}
