/**
 * The three phases of a training run, driven one at a time: openRun (nets, resume state, nothing
 * trained), runLoop (updates and checkpoints; stops on the signal), finishRun (export, quality,
 * report). train() only chains them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { finishRun } from '../../src/train/finish-run.js';
import { runLoop } from '../../src/train/loop.js';
import { closeRun, openRun } from '../../src/train/open-run.js';
import { tempDir, tinyConfig } from './helpers.js';

const quiet = { progress: false, log: () => {} };

test('openRun builds and restores without training; runLoop stops on the signal with a checkpoint; finishRun exports and reports', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const config = tinyConfig(join(dir, 'run'), { steps: 5, export: true, modelsDir: join(dir, 'models') });
    const fresh = await openRun(config, quiet);
    try {
      assert.equal(fresh.start, 0);
      assert.equal(fresh.ctx.optG.step, 0);
      assert.ok(!existsSync(join(config.out, 'metrics.jsonl')), 'opening trains nothing');
      let reads = 0;
      const loop = await runLoop(fresh, { ...quiet, signal: { get aborted() { return ++reads > 2; } } });
      assert.deepEqual([loop.step, loop.interrupted], [2, true]);
      assert.ok(existsSync(join(config.out, 'checkpoints', 'step-000000002', 'state.json')));
    } finally {
      closeRun(fresh);
    }

    const resumed = await openRun({ ...config, resume: true }, quiet);
    try {
      assert.equal(resumed.start, 2);
      assert.equal(resumed.ctx.optG.step, 2);
      const loop = await runLoop(resumed, quiet);
      assert.deepEqual([loop.step, loop.interrupted], [5, false]);
      assert.equal(readFileSync(loop.metricsFile, 'utf8').trim().split('\n').length, 5);
      let measured: string | null = null;
      const result = await finishRun(resumed, loop, { ...quiet, evaluate: async (modelDir) => ((measured = modelDir), { score: 1 }) });
      assert.equal(result.exportDir, join(dir, 'models', 'run'));
      assert.equal(measured, result.exportDir);
      assert.deepEqual(result.quality, { score: 1 });
      assert.ok(result.reportPath && existsSync(result.reportPath));
      assert.ok(existsSync(join(config.out, 'samples', 'final.png')));
    } finally {
      closeRun(resumed);
    }
  } finally {
    cleanup();
  }
});
