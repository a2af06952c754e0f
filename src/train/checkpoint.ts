/**
 * Checkpoints: everything a run needs to continue exactly where it stopped.
 *
 * `<out>/checkpoints/step-<000000100>/` holds `state.json` (step, random-stream counters,
 * optimiser step counts, the config fields that must not change, the length of metrics.jsonl at
 * that step, elapsed time, and an index of the tensors) and `tensors.bin` (every generator and
 * critic weight, trainable or not, both optimisers' moment tensors and, with `--ema`, the
 * generator's weight average; float32 little-endian).
 * A checkpoint is written into a hidden temporary folder and renamed into place, so a run killed
 * at any moment leaves either the complete new checkpoint or none; the two newest are kept.
 *
 * @example
 *   await saveCheckpoint(outDir, snapshot);
 *   const latest = await findLatestCheckpoint(outDir); // path or null
 *   const loaded = await readCheckpoint(latest);
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { makeFolder } from '../io/make-folder.js';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError, WganxError } from '../core/errors.js';
import { datasetKind, flagName, resolveTrainConfig, RESUME_LOCKED_FIELDS, unreadFlags, type TrainConfig } from './config.js';
import type { RngState, StreamName } from '../core/random.js';

export const CHECKPOINT_FORMAT = 1;
export const CHECKPOINTS_DIR = 'checkpoints';
/** Completed checkpoints kept on disk (older ones are deleted after a new one lands). */
export const CHECKPOINTS_KEPT = 2;
const STEP_DIGITS = 9;
const STEP_DIR = /^step-(\d+)$/;

/** `ema`: the generator's weight average (`--ema`; none without it, or in checkpoints older than it). */
export const TENSOR_GROUPS = ['generator', 'critic', 'optD', 'optG', 'ema'] as const;
export type TensorGroup = (typeof TENSOR_GROUPS)[number];

export interface CheckpointState {
  format: number;
  /** Generator updates done. */
  step: number;
  config: Partial<TrainConfig>;
  rng: Record<StreamName, RngState>;
  optimizerSteps: { optD: number; optG: number };
  /** Bytes of metrics.jsonl that belong to steps ≤ `step`. */
  metricsBytes: number;
  elapsedSeconds: number;
  /** Latest values, for the progress bar of a resumed run. */
  last: { w: number | null };
  tensors: Array<{ group: TensorGroup; shape: number[]; offset: number; length: number }>;
}

export interface CheckpointSnapshot extends Omit<CheckpointState, 'format' | 'tensors' | 'config'> {
  config: TrainConfig;
  tensors: Record<TensorGroup, readonly tf.Tensor[]>;
}

export interface LoadedCheckpoint {
  dir: string;
  state: CheckpointState;
  tensors: Record<TensorGroup, Float32Array[]>;
}

function lockedConfig(config: TrainConfig): Partial<TrainConfig> {
  const out: Record<string, unknown> = {};
  for (const k of RESUME_LOCKED_FIELDS) out[k] = config[k];
  return out as Partial<TrainConfig>;
}

export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(STEP_DIGITS, '0')}`;
}

export async function saveCheckpoint(outDir: string, snap: CheckpointSnapshot): Promise<string> {
  const root = path.join(outDir, CHECKPOINTS_DIR);
  await makeFolder(root);
  const finalDir = path.join(root, checkpointDirName(snap.step));
  const tmpDir = path.join(root, `.tmp-${checkpointDirName(snap.step)}-${process.pid}`);
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir);

  const index: CheckpointState['tensors'] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const group of TENSOR_GROUPS) {
    for (const t of snap.tensors[group]) {
      // Asynchronous: on WebGPU a synchronous read is not possible in Node.
      const values = (await t.data()) as Float32Array;
      index.push({ group, shape: [...t.shape], offset, length: values.length });
      chunks.push(values);
      offset += values.length;
    }
  }
  const all = new Float32Array(offset);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  const state: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    step: snap.step,
    config: lockedConfig(snap.config),
    rng: snap.rng,
    optimizerSteps: snap.optimizerSteps,
    metricsBytes: snap.metricsBytes,
    elapsedSeconds: snap.elapsedSeconds,
    last: snap.last,
    tensors: index,
  };
  await writeFile(path.join(tmpDir, 'tensors.bin'), new Uint8Array(all.buffer));
  await writeFile(path.join(tmpDir, 'state.json'), JSON.stringify(state, null, 1));
  await rm(finalDir, { recursive: true, force: true });
  await rename(tmpDir, finalDir);

  // Keep the newest few; remove stale temporaries of killed runs.
  const entries = await readdir(root);
  const steps = entries.map((e) => STEP_DIR.exec(e)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => b - a);
  for (const s of steps.slice(CHECKPOINTS_KEPT)) await rm(path.join(root, checkpointDirName(s)), { recursive: true, force: true });
  for (const e of entries) if (e.startsWith('.tmp-') && path.join(root, e) !== tmpDir) await rm(path.join(root, e), { recursive: true, force: true });
  return finalDir;
}

/** Path of the newest complete checkpoint under `outDir`, or null. */
export async function findLatestCheckpoint(outDir: string): Promise<string | null> {
  const root = path.join(outDir, CHECKPOINTS_DIR);
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return null;
  }
  const steps = entries.map((e) => STEP_DIR.exec(e)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
  if (steps.length === 0) return null;
  return path.join(root, checkpointDirName(Math.max(...steps)));
}

export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const state = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as CheckpointState;
  if (state.format !== CHECKPOINT_FORMAT) throw new WganxError(`checkpoint ${dir}: format ${state.format}, expected ${CHECKPOINT_FORMAT}`);
  const bytes = await readFile(path.join(dir, 'tensors.bin'));
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const tensors = Object.fromEntries(TENSOR_GROUPS.map((g) => [g, [] as Float32Array[]])) as Record<TensorGroup, Float32Array[]>;
  for (const t of state.tensors) tensors[t.group].push(all.slice(t.offset, t.offset + t.length));
  return { dir, state, tensors };
}

/**
 * Options added after checkpoint format 1 was fixed, with the value that reproduces the behaviour
 * before they existed: a checkpoint that lacks one was trained with that value.
 */
const LATER_FIELD_DEFAULTS: Partial<TrainConfig> = { gNorm: 'none', acWeight: 0, acWeightG: 0, ema: 0, resize: 'cover', background: 'white', holdout: 0, holdoutDir: null, diffaugment: [] };

/** The config a checkpoint was trained with (what builds its nets and data), for a run folder `out`. */
export function configFromCheckpoint(saved: Partial<TrainConfig>, out: string): TrainConfig {
  // The name is the export's, not the run's: a placeholder keeps any run folder's name acceptable.
  return { ...resolveTrainConfig({ dataset: saved.dataset, out, name: 'checkpoint' }), ...LATER_FIELD_DEFAULTS, ...saved, out, resume: false };
}

/**
 * Refuse to resume with a config that would build different nets, data or random streams. Fields
 * the run does not read (e.g. `--lambda` of a gan run, saved by a version that took the flag) are
 * not compared: they cannot be given again.
 */
export function checkResumeConfig(config: TrainConfig, saved: Partial<TrainConfig>, dir: string): void {
  const unread = new Set<string>(unreadFlags({ dataset: config.dataset, kind: datasetKind(config.dataset), algo: config.algo, arch: config.arch, conditional: config.conditional, holdoutDir: config.holdoutDir }).keys());
  for (const k of RESUME_LOCKED_FIELDS) {
    if (unread.has(k)) continue;
    const was = k in saved ? saved[k] : LATER_FIELD_DEFAULTS[k];
    if (JSON.stringify(config[k]) !== JSON.stringify(was)) {
      throw new InvalidArgumentError(flagName(k), config[k], `${JSON.stringify(was)}, the value the checkpoint in ${dir} was trained with (or start a new run without --resume)`);
    }
  }
}

/** Copy saved values into live variables/models, checking shapes. */
export function restoreVariables(target: readonly tf.Variable[], values: readonly Float32Array[], what: string): void {
  if (target.length !== values.length) throw new WganxError(`checkpoint holds ${values.length} ${what} tensors, the run has ${target.length}`);
  tf.tidy(() => target.forEach((v, i) => v.assign(tf.tensor(values[i], v.shape))));
}

export function restoreModel(model: tf.LayersModel, values: readonly Float32Array[]): void {
  const weights = model.weights;
  if (weights.length !== values.length) throw new WganxError(`checkpoint holds ${values.length} tensors for ${model.name}, the model has ${weights.length}`);
  const ts = weights.map((w, i) => tf.tensor(values[i], w.shape as number[]));
  model.setWeights(ts);
  tf.dispose(ts);
}
