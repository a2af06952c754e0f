/**
 * `metrics.jsonl`: one JSON object per logged generator step.
 *
 * `{"step":100,"w":0.123,"criticLoss":-0.1,"generatorLoss":0.05,"penalty":0.002,"seconds":12.3}`
 * — `step` counts generator updates done, `w` is the Wasserstein estimate E[D(x)] − E[D(G(z))]
 * of the last critic update, `criticLoss` includes λ·penalty, `penalty` is null without one,
 * `classLoss` (runs with `--ac-weight` only) is the critic's auxiliary-classifier cross-entropy on
 * the real batch, `seconds` is wall time since the run first started (across resumes).
 *
 * Lines are written unbuffered; a checkpoint records the file's length, and a resumed run cuts the
 * file back to it, so the log never holds steps the resumed run will redo.
 */
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';

export interface MetricsRecord {
  step: number;
  w: number;
  criticLoss: number;
  generatorLoss: number;
  penalty: number | null;
  /** Auxiliary classifier cross-entropy on real data; absent without an AC head. */
  classLoss?: number | null;
  lr: number;
  seconds: number;
}

export const METRICS_FILE = 'metrics.jsonl';

export class MetricsLog {
  private readonly fd: number;
  private size: number;

  /** Open for appending; `truncateTo` (bytes) cuts off lines written after a checkpoint. */
  constructor(
    readonly file: string,
    truncateTo: number | null,
  ) {
    this.fd = openSync(file, truncateTo === null ? 'w' : existsSync(file) ? 'r+' : 'w+');
    this.size = truncateTo === null ? 0 : Math.min(truncateTo, fstatSync(this.fd).size);
    ftruncateSync(this.fd, this.size);
  }

  append(r: MetricsRecord): void {
    const line = JSON.stringify({ ...r, seconds: Math.round(r.seconds * 1000) / 1000 }) + '\n';
    this.size += writeSync(this.fd, line, this.size);
  }

  /** Length of the file so far (what a checkpoint records). */
  bytes(): number {
    return this.size;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export function readMetrics(file: string): MetricsRecord[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MetricsRecord);
}
