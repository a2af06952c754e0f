/**
 * A training run, in three phases that can be driven (and tested) one by one: ./open-run.ts
 * (backend, data, folders, nets, resume), ./loop.ts (the updates, metrics, sheets, checkpoints)
 * and ./finish-run.ts (curves, export, quality, report).
 *
 * @example
 *   const result = await train(resolveTrainConfig({ dataset: 'ring8', out: 'runs/ring', steps: 2000 }));
 *   result.exportDir // 'models/ring'
 */
import type { TrainConfig } from './config.js';
import { hyperparameters, finishRun } from './finish-run.js';
import { runLoop } from './loop.js';
import { closeRun, GPU_LOG_EVERY, netSpec, openRun } from './open-run.js';
import type { TrainHooks, TrainResult } from './run-types.js';

export type { TrainHooks, TrainResult } from './run-types.js';
export { GPU_LOG_EVERY, hyperparameters, netSpec };

export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const run = await openRun(config, hooks);
  try {
    const loop = await runLoop(run, hooks);
    if (loop.interrupted) {
      const { step } = loop;
      run.log(step > 0 ? `interrupted at step ${step}; checkpoint written — continue with the same command plus --resume` : 'interrupted before the first step; nothing to resume (start the same command again)');
      return { config, backend: run.backend, stepsDone: step, seconds: loop.seconds, interrupted: true, exportDir: null, quality: null, evaluationError: null, reportPath: null, summary: null };
    }
    return await finishRun(run, loop, hooks);
  } finally {
    closeRun(run);
  }
}
