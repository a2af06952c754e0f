/**
 * How a long command (train, augment) owns SIGINT / SIGTERM: the first one aborts the job's
 * signal, so that it stops at a safe point (a checkpoint, the chunks being written) and says why;
 * a second one exits at once. The command then exits 128 + the signal's number (130 / 143).
 * Only commands call this: library code takes an AbortSignal and never installs handlers.
 *
 * @example
 *   const stop = onStopSignals('finishing this step (send it again to quit at once)');
 *   try { await job({ signal: stop.signal }); } finally { stop.off(); }
 *   if (stop.received) process.exitCode = stop.exitCode;
 */

/** Exit codes of a job stopped by a signal (128 + the signal's number). */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT;

export interface StopSignals {
  /** Aborted by the first SIGINT / SIGTERM. */
  readonly signal: AbortSignal;
  /** The signal received, or null. */
  readonly received: StopSignal | null;
  /** 130 / 143 for the signal received (undefined before one). */
  readonly exitCode: number | undefined;
  /** Remove the handlers. */
  off(): void;
}

/** Install the handlers; `doing` completes the line `SIGINT: <doing>` printed on the first signal. */
export function onStopSignals(doing: string): StopSignals {
  const controller = new AbortController();
  let received: StopSignal | null = null;
  const offs = (Object.keys(SIGNAL_EXIT) as StopSignal[]).map((name) => {
    const handler = () => {
      if (received) process.exit(SIGNAL_EXIT[name]);
      received = name;
      process.stderr.write(`${name}: ${doing}\n`);
      controller.abort();
    };
    process.on(name, handler);
    return () => process.off(name, handler);
  });
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    get exitCode() {
      return received ? SIGNAL_EXIT[received] : undefined;
    },
    off: () => offs.forEach((off) => off()),
  };
}
