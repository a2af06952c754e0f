/**
 * `wganx serve`: the entry point that owns process-wide effects (signals, exit code).
 * SIGTERM/SIGINT drain and exit 0, whenever they come (also while the models load: the loads then
 * finish, and close, before the process ends); SIGHUP re-scans the models folder at once.
 */
import type { ServeOptions } from './options.js';
import { bindServer, type RunningServer } from './http/server.js';
import { stderrLogger } from './options.js';

/**
 * After a drain, how long the process may take to end on its own before it is killed: a read stuck
 * on a hung file system keeps a libuv thread busy forever, and `process.exit()` would wait for it
 * too; SIGKILL does not (the exit status, 137, then says the end was forced).
 */
const EXIT_GRACE_MS = 1000;

export async function serveCommand(options: ServeOptions): Promise<void> {
  // The handlers are in place before anything starts: a signal that comes before the port is bound
  // (or while the models load) is acted on as soon as there is a server to drain.
  let received!: () => void;
  const signalled = new Promise<void>((resolve) => (received = resolve));
  const onSignal = (signal: string) => {
    stderrLogger.info(`${signal} received`);
    received();
  };
  const onTerm = () => onSignal('SIGTERM');
  const onInt = () => onSignal('SIGINT');
  let srv: RunningServer | null = null;
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  process.on('SIGHUP', () => void srv?.engine.rescan());
  try {
    srv = await bindServer(options);
  } catch (err) {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    throw err;
  }
  // Wait for a signal; a load that fails as a whole (not one model) fails the command. Either way, drain.
  const failed = await Promise.race([
    signalled.then(() => null),
    srv.loaded.then(
      () => signalled.then(() => null),
      (error: unknown) => ({ error }),
    ),
  ]);
  let loading = true;
  const settled = srv.loaded.then(
    () => (loading = false),
    () => (loading = false),
  );
  await srv.shutdown();
  const { logger } = srv.engine;
  if (loading) {
    // A load still running ends by itself (each within --load-timeout) and closes its sessions; the
    // grace below starts after it, so that a slow load is not taken for a stuck thread.
    logger.info('waiting for the models still loading (each at most --load-timeout)');
    await settled;
  }
  setTimeout(() => {
    logger.error(`still running ${EXIT_GRACE_MS} ms after the drain (a thread is stuck, e.g. reading a hung file system): killing the process`);
    process.kill(process.pid, 'SIGKILL');
  }, EXIT_GRACE_MS).unref();
  if (failed) throw failed.error;
}
