/**
 * Seeded latents and classes have one source: `seededSamples` (and `walkSamples` for latent walks)
 * in src/core/seeded.ts. Checked on the source, since a copy of the function would give the same
 * bits today and drift tomorrow: every sampling path reaches it, and outside src/core nothing but
 * training and export (which draw their own fixed latents, no seeded samples) calls the sampler or
 * the label rule underneath it. test/core/seeded.test.ts checks that the paths give its bits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { SRC, tsFiles } from './helpers.js';

const files = tsFiles;

const read = (file: string) => readFileSync(join(SRC, file), 'utf8');
/** Code without comments (a comment may name the functions). */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

/** Each path and how it reaches the shared function. */
const PATHS: Record<string, RegExp> = {
  'runtime/generator.ts': /\bseededSamples\(this\.manifest, req\)/, // Generator.sample (browser page, wganx/web, eval, library)
  'web/index.ts': /class WebGenerator extends Generator\b/, // the browser: the runtime's Generator
  'serve/engine/latent-batch.ts': /\bseededSamples\(model, \{ seed: seg\.seed, start: seg\.start, n: count \}\)/, // batch latents
  'serve/engine/ort-worker.ts': /\bbuildLatents\(/, // the session thread
  'serve/engine/latent-worker.ts': /\bbuildLatents\(/, // the latent thread
  'serve/http/routes-v1.ts': /\bseededSamples\(model\.manifest,[\s\S]*\bwalkSamples\(model\.manifest,/, // the routes' classes
  'augment/run.ts': /\bseededSamples\(manifest, /, // chunk latents, local and --remote
  'augment/plan.ts': /\bseededSamples\(this\.manifest, /, // a sample's default class
  'eval/command.ts': /\bgenerator\.sample\(/, // wganx eval
};

/** The building blocks of seededSamples, and the files outside src/core allowed to call them (with the reason). */
const BLOCKS = /\b(sampleLatents|interpolateLatents|defaultLabels?|resolveLabels)\(/;
const ALLOWED: Record<string, string> = {
  'train/samples.ts': "training's progress sheets: fixed latents of a run, no served samples",
  'export/parity.ts': "the exporter's parity inputs: latents of its own, no served samples",
};

test('every sampling path reaches the core\'s seededSamples', () => {
  for (const [file, how] of Object.entries(PATHS)) assert.match(code(read(file)), how, `src/${file} no longer reaches seededSamples as it did`);
});

test('outside src/core only training and export call the sampler or the label rule underneath seededSamples', () => {
  const callers = files(SRC)
    .map((f) => relative(SRC, f).split(sep).join('/'))
    .filter((f) => !f.startsWith('core/') && BLOCKS.test(code(read(f))));
  assert.deepEqual(callers.sort(), Object.keys(ALLOWED).sort(), 'a sampling path draws latents or classes itself instead of calling seededSamples (src/core/seeded.ts)');
});

/** The refinement noise streams (src/core/latent.ts noiseNormals) and the methods that draw from them. */
const NOISE = /\bnoiseNormals\(/;
const NOISE_CALLERS: Record<string, string> = {
  'runtime/refine/rank.ts': "rank's candidate perturbations ε(seed, i, j)",
  'runtime/refine/ddls.ts': "DDLS's Langevin noise ξ(seed, i, step)",
};

test('outside src/core only the refinement methods draw refinement noise', () => {
  const callers = files(SRC)
    .map((f) => relative(SRC, f).split(sep).join('/'))
    .filter((f) => !f.startsWith('core/') && NOISE.test(code(read(f))));
  assert.deepEqual(callers.sort(), Object.keys(NOISE_CALLERS).sort(), 'refinement noise is drawn outside src/runtime/refine');
});
