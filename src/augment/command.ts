/**
 * `wganx augment`: the command owns the process. The first SIGINT/SIGTERM lets the chunks being
 * written finish (the data set stays resumable) and exits 130/143; a second one exits at once.
 */
import { augment, type AugmentOptions, type AugmentResult } from './run.js';

const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export async function augmentCommand(opts: AugmentOptions): Promise<AugmentResult> {
  const controller = new AbortController();
  let received: keyof typeof SIGNAL_EXIT | null = null;
  const offs = (['SIGINT', 'SIGTERM'] as const).map((name) => {
    const handler = () => {
      if (received) process.exit(SIGNAL_EXIT[name]);
      received = name;
      process.stderr.write(`${name}: finishing the chunks being written (send it again to quit at once; rerun the same command to resume)\n`);
      controller.abort();
    };
    process.on(name, handler);
    return () => process.off(name, handler);
  });
  try {
    const result = await augment(opts, { signal: controller.signal });
    if (!result.complete && received) process.exitCode = SIGNAL_EXIT[received];
    return result;
  } finally {
    for (const off of offs) off();
  }
}
