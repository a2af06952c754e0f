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

/** After a refusal sent before the body was read: at most this much of the body is still read (and dropped)… */
export const LINGER_MAX_BYTES = 64 * 1024 * 1024;
/** …for at most this long, before the connection closes. */
export const LINGER_MS = 5_000;

/**
 * Close the connection after this answer, but the way nginx's lingering close does: keep reading
 * (and dropping) what the client still sends, up to {@link LINGER_MAX_BYTES} and {@link LINGER_MS},
 * and close once its body has ended. Closing a socket with unread bytes makes the kernel send a
 * reset, and clients that send the whole body before they read (Python's urllib, Node's fetch)
 * then see a broken pipe instead of the 413. Node's server closes a `Connection: close` socket
 * with `destroySoon()` once the answer is written: for this socket it only ends the sending side.
 */
export function closeAfterLinger(req: Request, res: Response): void {
  res.setHeader('Connection', 'close');
  const socket = req.socket as Request['socket'] & { destroySoon?: () => void };
  if (req.complete || res.locals.lingering) return;
  res.locals.lingering = true;
  socket.destroySoon = () => {
    socket.end();
  };
  res.once('finish', () => {
    let seen = 0;
    const close = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const timer = setTimeout(close, LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > LINGER_MAX_BYTES) close();
    });
    req.once('end', close);
    req.once('error', close);
    req.resume();
  });
}

/**
 * Turns a request away before its body is read: a declared body above the limit (413, and the
 * connection closes after a bounded lingering read: {@link closeAfterLinger}), an unknown or unready model,
 * or a full queue (503). Under overload, bodies that would be refused are then never parsed, so
 * the CPU goes to the requests that can be served.
 */
export function admission(engine: Engine, maxBodyBytes: number): RequestHandler {
  return (req: Request, res: Response, next) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      closeAfterLinger(req, res);
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
/**
 * The model version that answered: `X-Wganx-Model-Version` (the manifest's) and `X-Wganx-Sha256`
 * (the loaded generator file's), so that a client can tell when a hot reload replaced it.
 */
export function modelHeaders(res: Response, model: { manifest: { version: string }; sha256: string }): void {
  res.setHeader('X-Wganx-Model-Version', model.manifest.version);
  res.setHeader('X-Wganx-Sha256', model.sha256);
}

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
