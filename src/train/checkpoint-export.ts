/**
 * `wganx export --checkpoint <dir>`: the generator (and critic) of a training checkpoint as a model folder, so a
 * long run can be measured (and served) at any checkpoint without stopping it. The checkpoint's
 * config rebuilds the same nets; its generator weights (batch-norm statistics included; the weight
 * average of a run with `--ema`) are exported exactly as the run's own export at the end would
 * be, then measured with src/eval where wganx has metrics for the data set (toys, conditional
 * MNIST).
 *
 * @example
 *   wganx export --checkpoint runs/digits --out models/digits-step4000   # the run's newest checkpoint
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { resolveFlags, type FlagInput } from '../core/flags.js';
import { createRunRngs } from '../core/random.js';
import { openDataset } from '../data/index.js';
import { EXPORT_FLAGS } from '../export/flags.js';
import { quietTfjs, startBackend } from '../tfjs/backend.js';
import { configFromCheckpoint, findLatestCheckpoint, readCheckpoint, restoreModel } from './checkpoint.js';
import { evaluateExport } from './command.js';
import { exportableCritic, exportableGenerator, exportTrainedGenerator } from './export-generator.js';
import { buildNets, disposeNets } from './models/index.js';
import { hyperparameters, netSpec } from './run.js';

/** The checkpoint folder `given` names: itself when it holds state.json, else a run folder's newest. */
async function checkpointDir(given: string): Promise<string> {
  if (await stat(path.join(given, 'state.json')).catch(() => null)) return given;
  const latest = await findLatestCheckpoint(given);
  if (latest) return latest;
  throw new InvalidArgumentError('--checkpoint', given, 'a checkpoint folder (<run>/checkpoints/step-…, holding state.json) or a run folder that holds one');
}

export interface CheckpointExport {
  dir: string;
  step: number;
  metrics: Record<string, unknown> | null;
}

/** Export the generator of the checkpoint `opts.checkpoint` to `opts.out` (and measure it). */
export async function exportCheckpoint(given: FlagInput<typeof EXPORT_FLAGS>, log: (line: string) => void): Promise<CheckpointExport> {
  const opts = resolveFlags(EXPORT_FLAGS, given);
  for (const [field, flag] of [['model', '--model'], ['labels', '--labels']] as const) {
    if (opts[field] !== undefined) throw new InvalidArgumentError(flag, opts[field], `nothing with --checkpoint (the run's own ${field === 'model' ? 'nets' : 'class names'} are used)`);
  }
  if (opts.kind !== 'auto') throw new InvalidArgumentError('--kind', opts.kind, 'auto with --checkpoint (the run knows what it generates)');
  if (opts.checkpoint === undefined) throw new InvalidArgumentError('--checkpoint', opts.checkpoint, 'a checkpoint folder or a run folder (required)');
  const dir = await checkpointDir(opts.checkpoint);
  const ck = await readCheckpoint(dir);
  const config = configFromCheckpoint(ck.state.config, path.dirname(path.dirname(dir)));
  quietTfjs();
  await startBackend('wasm', []);
  const dataset = await openDataset(config, log, false);
  const spec = netSpec(config, dataset);
  const nets = await buildNets(config.arch, spec, createRunRngs(config.seed).init);
  const { model, critic } = await (async () => {
    try {
      // A run with --ema exports its weight average; so does its checkpoint. The critic is the trained one.
      restoreModel(nets.generator, ck.tensors.ema.length > 0 ? ck.tensors.ema : ck.tensors.generator);
      restoreModel(nets.critic, ck.tensors.critic);
      const generator = await exportableGenerator(nets.generator, spec, config.arch, config.dataScale);
      try {
        return { model: generator, critic: await exportableCritic(nets.critic, spec, config.arch, config.dataScale) };
      } catch (err) {
        generator.dispose();
        throw err;
      }
    } finally {
      disposeNets(nets);
    }
  })();
  try {
    const exported = await exportTrainedGenerator(model, {
      modelsDir: path.dirname(opts.out),
      name: path.basename(opts.out),
      dataset,
      training: {
        algorithm: config.algo,
        dataset: config.dataset,
        steps: ck.state.step,
        hyperparameters: hyperparameters(config),
        command: `wganx export --checkpoint ${dir}`,
        backend: 'unknown (exported from a checkpoint)',
        durationSeconds: Math.round(ck.state.elapsedSeconds * 10) / 10,
        metrics: {},
        ...(dataset.holdout ? { holdout: dataset.holdout } : {}),
      },
      description: `${config.conditional ? 'class-conditional ' : ''}${config.algo.toUpperCase()} ${config.arch} generator trained on ${config.dataset} with wganx (checkpoint at step ${ck.state.step})`,
      log,
      options: { opset: opts.opset, fp16: opts.fp16, tritonDir: opts.triton, tolerance: opts.tolerance, force: opts.force },
      critic,
    });
    return { dir: exported.dir, step: ck.state.step, metrics: await evaluateExport(exported.dir, config, log, dataset.holdout) };
  } finally {
    model.dispose();
    critic.dispose();
  }
}

/** The command: export, then print where the model went and its figures. */
export async function exportCheckpointCommand(given: FlagInput<typeof EXPORT_FLAGS>): Promise<void> {
  const r = await exportCheckpoint(given, (m) => process.stderr.write(`${m}\n`));
  const figures = r.metrics ? Object.entries(r.metrics).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${v}`).join(', ') : 'no metrics for this data set';
  process.stdout.write(`exported the generator and its critic at step ${r.step} to ${r.dir}\n  quality   ${figures}\n`);
}
