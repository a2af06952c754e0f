/**
 * The HTTP application: `createApp(engine)` builds the express app and never listens (tests drive
 * it with supertest; `startServer` in ./server.ts listens).
 *
 * Middleware order: bookkeeping (in-flight count, metrics) → draining → CORS → API key → routes →
 * 404 → errors. Every error is JSON: `{error, field?, value?, allowed?}` on /v1 and `{error}` on
 * the KServe routes, with a 4xx status for anything the client did wrong.
 *
 * @example
 *   const engine = await Engine.start(resolveServeOptions({ modelsDir: 'models' }));
 *   const app = createApp(engine);
 *   await request(app).post('/v1/models/ring/samples').send({ n: 4, format: 'json' });
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { boundedValue, InvalidArgumentError, MAX_QUOTE, WganxError } from '../../core/errors.js';
import { EncodeThreadLost } from '../../encode/encode-pool.js';
import type { Engine } from '../engine/engine.js';
import { ClientGone, InferenceFailed, ModelNotFound, ModelNotReady, ModelUnavailable, QueueFull, RequestTimeout, RETRY_AFTER_SECONDS } from '../engine/errors.js';
import { HttpError } from './http-error.js';
import { closeAfterLinger, info, shownModels } from './http-util.js';
import { charsetRefused, checkJsonCharset, checkJsonDepth, checkUtf8 } from './json-limits.js';
import { BINARY_HEADER, kserveRouter, sendKserveJson } from './kserve.js';
import { outcomeOf, ServeMetrics } from './metrics.js';
import { docsPage, openApiSpec } from './openapi.js';
import { v1Router } from './routes-v1.js';
import { PAGE_ASSET, webRouter } from './routes-web.js';
import { requestSchemas } from './schemas.js';

/** Paths open without the API key: probes, documentation, and the page with its files (not the models it fetches). */
const PUBLIC_PATHS = new Set(['/', '/v2/health/live', '/v2/health/ready', '/openapi.json', '/docs']);
const isPublic = (path: string) => PUBLIC_PATHS.has(path) || PAGE_ASSET.test(path);
const EXPOSED_HEADERS = ['ETag', 'Retry-After', 'Server-Timing', 'X-Wganx-Seed', 'X-Wganx-Model-Version', 'X-Wganx-Sha256', 'X-Wganx-Refine', 'Inference-Header-Content-Length'];
const ALLOWED_HEADERS = ['Content-Type', 'Authorization', 'X-API-Key', 'Inference-Header-Content-Length', 'If-None-Match'];
/** Paths that answer while the models load: probes, metrics and documentation. */
const OPEN_WHILE_STARTING = new Set(['/', '/v2', '/v2/health/live', '/v2/health/ready', '/metrics', '/openapi.json', '/docs']);
/** The docs page: inline styles and same-origin images, nothing else (no scripts, frames or forms). */
const DOCS_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** Longest error text in a response body. */
const MAX_ERROR_TEXT = 1000;
/** How long browsers may cache a CORS preflight answer, seconds. */
const PREFLIGHT_MAX_AGE = 600;

/** Requests being handled, so that SIGTERM can wait for them. */
export class InFlight {
  count = 0;
  private waiters: (() => void)[] = [];
  enter(): void {
    this.count++;
  }
  leave(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

/** Refusals of a full queue held before they are sent (`--shed-hold-ms`); a drain sends them at once. */
export class HeldRefusals {
  private pending = new Map<NodeJS.Timeout, () => void>();
  hold(send: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      send();
    }, ms).unref();
    this.pending.set(timer, send);
  }
  flush(): void {
    for (const [timer, send] of this.pending) {
      clearTimeout(timer);
      send();
    }
    this.pending.clear();
  }
}

export interface AppLocals {
  engine: Engine;
  inflight: InFlight;
  metrics: ServeMetrics;
  held: HeldRefusals;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The static page build (scripts/build-web.mjs), from src/serve/http or dist/serve/http alike. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

export interface AppDeps {
  /** Folder of the built page (default: the package's dist/web). */
  webDir?: string;
}

/** Whether `text` is valid JSON (of any kind). */
function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export function createApp(engine: Engine, deps: AppDeps = {}): Express {
  const opts = engine.options;
  const app = express();
  const inflight = new InFlight();
  const metrics = new ServeMetrics(engine);
  const held = new HeldRefusals();
  Object.assign(app.locals, { engine, inflight, metrics, held } satisfies AppLocals);
  app.set('etag', false); // ETags are computed from request parameters, never by hashing bodies
  app.set('x-powered-by', false);
  app.set('query parser', 'simple');
  // express's own last-resort error page never shows a stack (ours below always answers JSON).
  app.set('env', 'production');

  const schemas = requestSchemas(opts);
  const spec = openApiSpec(schemas, opts);
  // Nesting is checked on the raw bytes, before JSON.parse: deep bodies are refused with a 400 (UTF-8 only: 415 otherwise).
  const jsonParser = express.json({
    limit: opts.maxBodyBytes,
    strict: true,
    type: ['application/json', 'application/*+json'],
    verify: (_req, _res, buf, encoding) => {
      checkJsonCharset(encoding);
      checkUtf8(buf);
      checkJsonDepth(buf, 'body');
    },
  });
  const rawParser = express.raw({ limit: opts.maxBodyBytes, type: () => true });

  // Bookkeeping: in-flight count and metrics for every request; no content sniffing, ever.
  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    inflight.enter();
    const t0 = performance.now();
    Object.assign(res.locals, { endpoint: 'other', model: '' });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inflight.leave();
      const { endpoint, model, queueFull } = info(res);
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.requests.inc({ model, endpoint, outcome: outcomeOf(status, queueFull), code: String(status) });
      metrics.requestDuration.observe({ model, endpoint }, (performance.now() - t0) / 1000);
    };
    res.on('finish', finish);
    res.on('close', finish);
    next();
  });

  app.use((req, res, next) => {
    if (!engine.started && !OPEN_WHILE_STARTING.has(req.path) && !PAGE_ASSET.test(req.path)) {
      next(new HttpError(503, 'the server is starting: its models are loading', {}, RETRY_AFTER_SECONDS));
      return;
    }
    if (engine.draining && req.path !== '/v2/health/live') {
      res.setHeader('Connection', 'close');
      next(new HttpError(503, 'the server is shutting down', {}, RETRY_AFTER_SECONDS));
      return;
    }
    next();
  });

  // CORS: only origins on the allow-list get headers; preflights are answered here.
  const origins = new Set(opts.corsOrigins);
  app.use((req, res, next) => {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && (origins.has(origin) || origins.has('*'));
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', origins.has(origin) ? origin : '*');
      res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(', '));
      res.vary('Origin');
    }
    if (req.method === 'OPTIONS' && origin !== undefined) {
      if (allowed) {
        res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS.join(', '));
        res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE));
      }
      res.status(204).end();
      return;
    }
    next();
  });

  if (opts.apiKey !== null) {
    const want = digest(opts.apiKey);
    const auth: RequestHandler = (req, res, next) => {
      if (isPublic(req.path)) return next();
      // The scheme name is case-insensitive (RFC 7235).
      const bearer = /^bearer[ \t]+(\S.*)$/i.exec(req.headers.authorization ?? '');
      const given = bearer ? bearer[1].trim() : (req.headers['x-api-key'] as string | undefined);
      if (typeof given === 'string' && timingSafeEqual(digest(given), want)) return next();
      res.setHeader('WWW-Authenticate', 'Bearer realm="wganx"');
      next(new HttpError(401, given === undefined ? 'an API key is required: send "Authorization: Bearer <key>" or "X-API-Key: <key>"' : 'the API key is wrong'));
    };
    app.use(auth);
  }

  app.get('/openapi.json', (_req, res) => {
    info(res).endpoint = 'openapi';
    res.json(spec);
  });
  app.get('/docs', (_req, res) => {
    info(res).endpoint = 'docs';
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    const models = shownModels(engine).map((name) => ({ name, kind: engine.entry(name)?.model?.manifest.kind ?? 'image' }));
    res.type('html').send(docsPage(spec, models, opts.apiKey !== null));
  });
  app.get('/metrics', async (_req, res) => {
    info(res).endpoint = 'metrics';
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use(v1Router(engine, schemas, jsonParser));
  app.use(kserveRouter(engine, schemas, rawParser));
  app.use(webRouter(engine, deps.webDir ?? DEFAULT_WEB_DIR));

  app.use((req, _res, next) => next(new HttpError(404, `no endpoint ${req.method} ${req.path}; see /docs`)));

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    let status = 500;
    let body: Record<string, unknown>;
    let retryAfter: number | null = null;
    if (err instanceof InvalidArgumentError) {
      status = 400;
      body = { error: err.message, field: err.field, value: boundedValue(err.value), allowed: err.allowed };
    } else if (err instanceof HttpError) {
      status = err.status;
      body = { error: err.message, ...err.details };
      retryAfter = err.retryAfter;
    } else if (err instanceof QueueFull) {
      [status, body, retryAfter] = [503, { error: err.message, model: err.model }, RETRY_AFTER_SECONDS];
      info(res).queueFull = true;
    } else if (err instanceof RequestTimeout) {
      [status, body] = [504, { error: err.message, model: err.model }];
    } else if (err instanceof ClientGone) {
      [status, body] = [499, { error: err.message }];
    } else if (err instanceof ModelNotFound) {
      [status, body] = [404, { error: err.message, field: 'model', value: err.model, allowed: err.available }];
    } else if (err instanceof ModelNotReady) {
      [status, body, retryAfter] = [503, { error: err.message, model: err.model, state: err.state }, err.retryable ? RETRY_AFTER_SECONDS : null];
    } else if (err instanceof ModelUnavailable || err instanceof EncodeThreadLost) {
      // A session or an encoding thread went away mid-request: a fresh one takes the retry.
      [status, body, retryAfter] = [503, { error: err.message }, RETRY_AFTER_SECONDS];
    } else if (err instanceof InferenceFailed) {
      [status, body] = [500, { error: err.message }];
    } else if (err?.type === 'charset.unsupported' && typeof err.charset === 'string') {
      // body-parser's own refusal of a charset it cannot decode (latin1…): named like ours.
      const refused = charsetRefused(err.charset);
      [status, body] = [refused.status, { error: refused.message, ...refused.details }];
    } else if (err?.type === 'encoding.unsupported' || (req.headers['content-encoding'] !== undefined && err?.status === 400 && err.type === undefined && !(err instanceof WganxError))) {
      // A Content-Encoding body-parser does not take, or a gzip/deflate/br body that does not inflate
      // (body-parser passes zlib's or brotli's error on as a 400 with no type of its own).
      const encoding = String(req.headers['content-encoding'] ?? '');
      const unsupported = err.type === 'encoding.unsupported';
      status = unsupported ? 415 : 400;
      const allowed = 'identity, gzip, deflate or br, with a body encoded so';
      body = {
        error: `Content-Encoding ${JSON.stringify(encoding)} ${unsupported ? 'is not accepted' : `does not match the body (${String(err.message)})`}; expected ${allowed}`,
        field: 'Content-Encoding', value: encoding, allowed,
      };
    } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      // body-parser and friends: 400 malformed JSON, 413 too large, 415 bad encoding…
      status = err.status;
      const field = err.type === 'entity.too.large' ? 'body' : err.type === 'entity.parse.failed' ? 'body' : undefined;
      body = { error: err.type === 'entity.too.large' ? `request body is larger than the limit of ${opts.maxBodyBytes} bytes` : String(err.message), ...(field ? { field } : {}) };
      if (err.type === 'entity.too.large') {
        Object.assign(body, { value: err.length ?? null, allowed: `at most ${opts.maxBodyBytes} bytes` });
        closeAfterLinger(req, res); // the rest of the body is unread
      }
      if (err.type === 'entity.parse.failed') {
        const text = typeof err.body === 'string' ? err.body : null;
        Object.assign(body, { value: text === null ? null : boundedValue(text), allowed: 'a JSON object' });
        // The strict parser refuses valid JSON that is not an object or array (null, "text", 3) with
        // JSON.parse's wording: say what it is instead.
        const shown = text !== null && text.length > MAX_QUOTE ? `${text.slice(0, MAX_QUOTE - 3)}...` : text;
        if (text !== null && parsesAsJson(text)) body.error = `body: ${shown} is not allowed; expected a JSON object`;
        else body.error = `body is not valid JSON (${String(err.message)}); expected a JSON object`;
      }
    } else {
      engine.logger.error(`${req.method} ${req.path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      body = { error: 'internal error' };
    }
    // Messages quote at most a short excerpt of a value, but the error text itself is the client's
    // only clue: keep it, bounded too.
    if (typeof body.error === 'string' && body.error.length > MAX_ERROR_TEXT) body.error = `${body.error.slice(0, MAX_ERROR_TEXT - 3)}...`;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 499) {
      res.destroy(); // the client is gone
      return;
    }
    const send = () => {
      if (res.destroyed || res.headersSent) return;
      if (retryAfter !== null) res.setHeader('Retry-After', String(retryAfter));
      if (req.headers[BINARY_HEADER] !== undefined) res.removeHeader('Inference-Header-Content-Length');
      // KServe clients read only {"error": "…"}, and only from a body typed exactly application/json.
      if (req.path.startsWith('/v2')) sendKserveJson(res, { error: body.error }, status);
      else res.status(status).json(body);
    };
    // A full queue's refusal is held a moment (`--shed-hold-ms`) before it is sent: clients that
    // re-send at once (ignoring Retry-After) would otherwise keep the server busy refusing, at the
    // admitted requests' expense (bench:overload, bench/RESULTS.md). A held refusal costs a timer.
    // Spread over half the hold to all of it, so that released clients do not come back in one burst.
    if (err instanceof QueueFull && opts.shedHoldMs > 0 && !engine.draining) held.hold(send, opts.shedHoldMs * (0.5 + Math.random() / 2));
    else send();
  };
  // Whatever goes wrong inside the handler above, the answer is still JSON, never a stack or a path.
  const lastResort: ErrorRequestHandler = (err, req, res, _next) => {
    engine.logger.error(`${req.method} ${req.path}: the error handler failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(500).setHeader('Content-Type', 'application/json');
    res.end('{"error":"internal error"}');
  };
  app.use((err: unknown, req: express.Request, res: express.Response, next: express.NextFunction) => {
    try {
      onError(err, req, res, next);
    } catch (failure) {
      lastResort(failure, req, res, next);
    }
  });
  return app;
}
