/**
 * `wganx serve`: the entry point that owns process-wide effects (signals, exit code).
 * SIGTERM/SIGINT drain and exit 0; SIGHUP re-scans the models folder at once.
 */
import type { ServeOptions } from './options.js';
import { startServer } from './http/server.js';

/**
 * After a drain, how long the process may take to end on its own before it is killed: a read stuck
 * on a hung file system keeps a libuv thread busy forever, and `process.exit()` would wait for it
 * too; SIGKILL does not (the exit status, 137, then says the end was forced).
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
  setTimeout(() => {
    srv.engine.logger.error(`still running ${EXIT_GRACE_MS} ms after the drain (a thread is stuck, e.g. reading a hung file system): killing the process`);
    process.kill(process.pid, 'SIGKILL');
  }, EXIT_GRACE_MS).unref();
}
