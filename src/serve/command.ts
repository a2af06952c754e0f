/**
 * `wganx serve`: the entry point that owns process-wide effects (signals, exit code).
 * SIGTERM/SIGINT drain and exit 0, whenever they come (also while the models load); SIGHUP
 * re-scans the models folder at once.
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
  // is kept and acted on once it is.
  let srv: RunningServer | null = null;
  let signalled: string | null = null;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const stop = (signal: string) => {
    (srv?.engine.logger ?? stderrLogger).info(`${signal} received`);
    signalled ??= signal;
    if (srv) void srv.shutdown().then(stopped);
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
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
  const running = srv;
  if (signalled) void running.shutdown().then(stopped);
  // Wait for a signal; a load that fails as a whole (not one model) drains the server and fails the command.
  const failed = await Promise.race([
    done.then(() => null),
    running.loaded.then(
      () => done.then(() => null),
      (error: unknown) => running.shutdown().then(() => ({ error })),
    ),
  ]);
  setTimeout(() => {
    running.engine.logger.error(`still running ${EXIT_GRACE_MS} ms after the drain (a thread is stuck, e.g. reading a hung file system): killing the process`);
    process.kill(process.pid, 'SIGKILL');
  }, EXIT_GRACE_MS).unref();
  if (failed) throw failed.error;
}
