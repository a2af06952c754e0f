/**
 * The load generator of bench:overload, in a process of its own (pinned by the bench with
 * `taskset`): autocannon against one URL, printing one JSON line of {@link LoadFigures}. It counts
 * responses by status itself, because autocannon's own latency percentiles mix the admitted
 * requests with the refused ones: a 503 answered at admission takes a fraction of a millisecond
 * and would pull the percentiles of what the server actually served far down.
 *
 *   node --import tsx bench/overload-load.ts <url> <connections> <seconds> <json body>
 */
// @ts-expect-error -- autocannon ships no type declarations
import autocannon from 'autocannon';

/** What one load run measured. Rates are per second of the run; latencies in ms, of 2xx responses only. */
export interface LoadFigures {
  admittedPerSecond: number;
  shedPerSecond: number;
  /** Responses that were neither 2xx nor 503 (should be none). */
  otherPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Connection errors and timeouts. */
  errors: number;
}

/** Nearest-rank percentile `q` (0–1) of ascending `sorted`; NaN when empty. */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
}

async function main(): Promise<void> {
  const [url, connections, seconds, body] = process.argv.slice(2);
  if (!url || !(Number(connections) >= 1) || !(Number(seconds) > 0) || body === undefined) {
    throw new Error('usage: overload-load.ts <url> <connections> <seconds> <json body>');
  }
  const admitted: number[] = [];
  let shed = 0;
  let other = 0;
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      { url, connections: Number(connections), duration: Number(seconds), method: 'POST', headers: { 'content-type': 'application/json' }, body },
      (err: Error | null, r: AutocannonResult) => (err ? reject(err) : resolve(r)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) admitted.push(ms);
      else if (status === 503) shed++;
      else other++;
    });
  });
  admitted.sort((a, b) => a - b);
  const s = result.duration;
  const figures: LoadFigures = {
    admittedPerSecond: admitted.length / s,
    shedPerSecond: shed / s,
    otherPerSecond: other / s,
    p50Ms: percentile(admitted, 0.5),
    p99Ms: percentile(admitted, 0.99),
    errors: result.errors + result.timeouts,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
