/**
 * `wganx serve`: the entry point that owns process-wide effects (signals, exit code).
 * SIGTERM/SIGINT drain and exit 0; SIGHUP re-scans the models folder at once.
 */
import type { ServeOptions } from './options.js';
import { startServer } from './http/server.js';

/**
 * After a drain, how long the process may take to end on its own before it is ended: a model load
 * stuck on a hung file system keeps a libuv thread (and so the process) busy forever.
 */
const EXIT_GRACE_MS = 1000;

export async function serveCommand(options: ServeOptions): Promise<void> {
  const srv = await startServer(options);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      srv.engine.logger.info(`${signal} received`);
      void srv.shutdown().then(() => resolve());
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void srv.engine.rescan());
  });
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}
