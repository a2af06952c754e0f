/**
 * What a training run is given (hooks) and what it returns, shared by the three phases of a run
 * (./open-run.ts, ./loop.ts, ./finish-run.ts) and ./run.ts, which chains them.
 */
import type { HoldoutInfo } from '../data/index.js';
import type { BackendInfo } from '../tfjs/backend.js';
import type { TrainConfig } from './config.js';
import type { RunSummary } from './report.js';

export interface TrainHooks {
  /** Progress and status lines (default: stderr). */
  log?: (message: string) => void;
  /**
   * Quality metrics of the exported model (the command plugs src/eval in here); `log` gets its
   * status lines; `heldOut`: what the data set holds out (image folders), else undefined.
   */
  evaluate?: (modelDir: string, config: TrainConfig, log: (message: string) => void, heldOut?: HoldoutInfo) => Promise<Record<string, unknown> | null>;
  /** Show a progress bar / periodic progress lines (default true). */
  progress?: boolean;
  /**
   * Stop early: once aborted, the run finishes its current step, writes a checkpoint and returns
   * with `interrupted` (the command aborts it on SIGINT/SIGTERM).
   */
  signal?: { readonly aborted: boolean };
}

export interface TrainResult {
  config: TrainConfig;
  backend: BackendInfo;
  stepsDone: number;
  seconds: number;
  /** True when the signal stopped the run early (a checkpoint was written). */
  interrupted: boolean;
  exportDir: string | null;
  quality: Record<string, unknown> | null;
  /** Why measuring the exported model failed (the command exits 1), or null. */
  evaluationError: string | null;
  reportPath: string | null;
  summary: RunSummary | null;
}

