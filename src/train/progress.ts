/**
 * What a user watches: a cli-progress bar with ETA and the current Wasserstein estimate on a
 * terminal; on a pipe or log file (nohup), one line every {@link LOG_LINE_SECONDS} instead.
 */
import cliProgress from 'cli-progress';

export const LOG_LINE_SECONDS = 30;

export interface Progress {
  update(step: number, w: number | null, extra?: string): void;
  stop(): void;
}

export function createProgress(total: number, start: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const fmt = (w: number | null) => (w === null || !Number.isFinite(w) ? '–' : w.toFixed(4));
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: 'train |{bar}| {value}/{total} steps | W {w} | {rate} steps/s | ETA {eta_formatted}',
        stream,
        etaBuffer: 200,
        hideCursor: true,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    const t0 = Date.now();
    bar.start(total, start, { w: '–', rate: '–' });
    return {
      update(step, w) {
        const rate = (step - start) / Math.max((Date.now() - t0) / 1000, 1e-3);
        bar.update(step, { w: fmt(w), rate: rate.toFixed(1) });
      },
      stop: () => bar.stop(),
    };
  }
  const t0 = Date.now();
  let last = 0;
  return {
    update(step, w) {
      const now = Date.now();
      if (now - last < LOG_LINE_SECONDS * 1000 && step !== total) return;
      last = now;
      const rate = (step - start) / Math.max((now - t0) / 1000, 1e-3);
      const eta = rate > 0 ? Math.round((total - step) / rate) : NaN;
      stream.write(`train: step ${step}/${total}  W ${fmt(w)}  ${rate.toFixed(2)} steps/s  ETA ${Number.isFinite(eta) ? `${eta}s` : '–'}\n`);
    },
    stop() {},
  };
}
