/**
 * What a user watches during long work: a cli-progress bar with rate and ETA on a terminal; on a
 * pipe or log file (nohup, CI), one line every {@link LOG_LINE_SECONDS} instead, and at the end.
 *
 * @example
 *   const p = createProgress({ label: 'augment', unit: 'images', total: 10_000 });
 *   p.update(2_500);            // …or p.update(step, 'W 0.51') with an extra field
 *   p.stop();
 */
import cliProgress from 'cli-progress';

export const LOG_LINE_SECONDS = 30;

export interface Progress {
  /** `done` of `total` finished; `extra` is shown after the count (e.g. `W 0.51`). */
  update(done: number, extra?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Name of the job at the start of each line. */
  label: string;
  /** What is counted (`steps`, `images`). */
  unit: string;
  total: number;
  /** Already done before this run (a resumed job): the rate counts only what this run does. */
  start?: number;
  stream?: NodeJS.WriteStream;
}

export function createProgress(opts: ProgressOptions): Progress {
  const { label, unit, total } = opts;
  const start = opts.start ?? 0;
  const stream = opts.stream ?? process.stderr;
  const t0 = Date.now();
  const rate = (done: number, now: number) => (done - start) / Math.max((now - t0) / 1000, 1e-3);
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} |{bar}| {value}/{total} ${unit} {extra}| {rate} ${unit}/s | ETA {eta_formatted}`,
        stream,
        etaBuffer: 200,
        hideCursor: true,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, { extra: '', rate: '–' });
    return {
      update(done, extra) {
        const r = rate(done, Date.now());
        bar.update(done, { extra: extra ? `| ${extra} ` : '', rate: r >= 100 ? r.toFixed(0) : r.toFixed(1) });
      },
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    update(done, extra) {
      const now = Date.now();
      if (now - last < LOG_LINE_SECONDS * 1000 && done !== total) return;
      last = now;
      const r = rate(done, now);
      const eta = r > 0 ? Math.round((total - done) / r) : NaN;
      stream.write(`${label}: ${done}/${total} ${unit}${extra ? `  ${extra}` : ''}  ${r >= 100 ? r.toFixed(0) : r.toFixed(2)} ${unit}/s  ETA ${Number.isFinite(eta) ? `${eta}s` : '–'}\n`);
    },
    stop() {},
  };
}
