/**
 * `wganx augment`: the command owns the process. The first SIGINT/SIGTERM lets the chunks being
 * written finish (the data set stays resumable) and exits 130/143; a second one exits at once.
 */
import { onStopSignals } from '../io/stop-signals.js';
import { augment, type AugmentOptions, type AugmentResult } from './run.js';

export async function augmentCommand(opts: AugmentOptions): Promise<AugmentResult> {
  const stop = onStopSignals('finishing the chunks being written (send it again to quit at once; rerun the same command to resume)');
  try {
    const result = await augment(opts, { signal: stop.signal });
    if (!result.complete && stop.received) process.exitCode = stop.exitCode;
    return result;
  } finally {
    stop.off();
  }
}
