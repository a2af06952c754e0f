/**
 * Listening: start the engine, serve `createApp(engine)` on host:port, and shut down cleanly.
 *
 * `shutdown()` (what SIGTERM calls): stop accepting connections, mark the server draining (new
 * requests on open connections get 503 with `Connection: close`, readiness turns 503), wait for
 * in-flight requests up to `drainTimeoutMs`, then close the remaining connections and the sessions.
 *
 * @example
 *   const srv = await startServer(resolveServeOptions({ modelsDir: 'models', port: 8080 }));
 *   process.once('SIGTERM', () => srv.shutdown().then(() => process.exit(0)));
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { WganxError } from '../../core/errors.js';
import { createApp, type AppDeps, type AppLocals } from './app.js';
import { Engine, type EngineDeps } from '../engine/engine.js';
import type { ServeOptions } from '../options.js';

export interface RunningServer {
  engine: Engine;
  server: http.Server;
  /** The bound address (port 0 → the port chosen by the OS). */
  url: string;
  /** Drain and close; resolves with whether every in-flight request completed in time. */
  shutdown(): Promise<{ drained: boolean; dropped: number }>;
  /** Settles once every model folder has loaded or failed (each within `--load-timeout`). */
  loaded: Promise<void>;
}

/**
 * A constructor for `base`'s instances whose prototype is `proto` (which inherits from
 * `base.prototype`), or null when `base` is an ES class, which cannot be called on an object made
 * elsewhere. (Node's IncomingMessage and ServerResponse are plain constructor functions. Going
 * through `Reflect.construct(base, args, newTarget)` instead was slower than not doing this:
 * bench/RESULTS.md, 2026-12-07.)
 */
export function bornWith<A extends unknown[], T extends object>(base: new (...args: A) => T, proto: object): (new (...args: A) => T) | null {
  if (/^class\b/.test(Function.prototype.toString.call(base))) return null;
  const init = base as unknown as (this: T, ...args: A) => void;
  function Born(this: T, ...args: A) {
    init.apply(this, args);
  }
  Born.prototype = proto;
  return Born as unknown as new (...args: A) => T;
}

/**
 * `http.createServer(app)`, except that each request and response is created with the app's own
 * request and response prototypes. Express's `app.handle()` sets those prototypes on every request;
 * changing an existing object's prototype throws away V8's optimised property access for it
 * (expressjs/express#5998): a minimal express POST handler spent about three times as much
 * event-loop time per request (bench/RESULTS.md, 2026-12-07). Setting the prototype an object already has is
 * a no-op, so express behaves the same, only faster. Falls back to `http.createServer(app)` if
 * Node's classes ever become ES classes.
 */
export function createHttpServer(app: Express): http.Server {
  const IncomingMessage = bornWith(http.IncomingMessage, app.request);
  const ServerResponse = bornWith(http.ServerResponse, app.response);
  if (!IncomingMessage || !ServerResponse) return http.createServer(app);
  return http.createServer({ IncomingMessage: IncomingMessage as typeof http.IncomingMessage, ServerResponse: ServerResponse as unknown as typeof http.ServerResponse }, app);
}

/** Why the port could not be bound, naming the flag to change. */
function listenError(err: NodeJS.ErrnoException, options: ServeOptions): WganxError {
  const where = `${options.host}:${options.port}`;
  if (err.code === 'EADDRINUSE') return new WganxError(`--port ${options.port}: ${where} is already in use (EADDRINUSE); choose another --port, or stop the process that holds it`);
  if (err.code === 'EACCES') return new WganxError(`--port ${options.port}: binding ${where} is not permitted (EACCES); ports below 1024 need privileges`);
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') return new WganxError(`--host ${options.host}: not an address of this machine (${err.code})`);
  return new WganxError(`cannot listen on ${where} (--host, --port): ${err.message}`);
}

/**
 * Start the engine, bind the port, then load the models (a taken port fails at once, before any
 * model loads; until the first load finishes the API answers 503 and readiness is false).
 * Resolves once every model folder has loaded or failed (each within `--load-timeout`).
 */
export async function startServer(options: ServeOptions, deps: EngineDeps & AppDeps = {}): Promise<RunningServer> {
  const srv = await bindServer(options, deps);
  await srv.loaded;
  return srv;
}

/**
 * {@link startServer}, but resolves as soon as the port is bound, with the models still loading
 * (`loaded` settles when they are done). `shutdown()` works from then on: a SIGTERM that comes
 * while the models load drains at once instead of waiting for them.
 */
export async function bindServer(options: ServeOptions, deps: EngineDeps & AppDeps = {}): Promise<RunningServer> {
  const engine = await Engine.create(options, deps);
  const app = createApp(engine, deps);
  const { inflight, held } = app.locals as AppLocals;
  const server = createHttpServer(app);
  // Keep-alive longer than typical load balancers' idle timeout, so they close first.
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await engine.close();
    throw listenError(err as NodeJS.ErrnoException, options);
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}`;
  engine.logger.info(`bound http://${host}:${addr.port}; loading the models (the API answers 503 until they are loaded)`);
  const loaded = engine.load().then(() => {
    if (engine.draining) return;
    const { defaultModel } = options;
    if (defaultModel !== null && !engine.entry(defaultModel)) {
      engine.logger.warn(`--default-model ${defaultModel}: no such model folder under ${options.modelsDir} (the page opens the first model by name)`);
    }
    engine.logger.info(`listening on http://${host}:${addr.port} (docs: ${url}/docs)`);
  });
  loaded.catch(() => {}); // the caller awaits it; until then a failure is not "unhandled"

  let shuttingDown: Promise<{ drained: boolean; dropped: number }> | null = null;
  const shutdown = () => {
    shuttingDown ??= (async () => {
      engine.logger.info(`draining: ${inflight.count} requests in flight, up to ${options.drainTimeoutMs} ms`);
      engine.draining = true;
      held.flush(); // refusals held for a full queue go out now
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      // Closing the engine right away dispatches queued requests without waiting out the batch delay.
      const engineClosed = engine.close();
      const drained = await Promise.race([
        Promise.all([inflight.idle(), engineClosed]).then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), options.drainTimeoutMs))),
      ]);
      clearTimeout(timer);
      const dropped = inflight.count;
      if (!drained) {
        engine.logger.warn(`drain timeout: closing ${dropped} requests still in flight`);
        await engine.abort('the server is shutting down');
      }
      server.closeAllConnections();
      await closed;
      engine.logger.info(drained ? 'drained; bye' : `stopped with ${dropped} requests dropped`);
      return { drained, dropped };
    })();
    return shuttingDown;
  };
  return { engine, server, url, shutdown, loaded };
}
