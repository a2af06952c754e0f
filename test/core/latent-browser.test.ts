/**
 * The latent sampler gives bit-identical vectors in Node and in a real browser (Debian's chromium,
 * installed by .ci/run): src/core is bundled for the page with esbuild and run there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import { sampleLatents, uniformAt } from '../../src/core/index.js';

const CHROMIUM = '/usr/bin/chromium';

test('sample i of seed s is the same float32 vector in Node and in chromium', async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../../src/core/index.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    globalName: 'wganxCore',
    platform: 'browser',
    write: false,
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.addScriptTag({ content: bundle.outputFiles[0].text });
    const cases = [
      { seed: 0, start: 0, count: 3, dim: 100 },
      { seed: 123456789, start: 2 ** 33 + 5, count: 2, dim: 7 },
      { seed: 2 ** 52 - 1, start: 999, count: 4, dim: 64, distribution: 'uniform' as const },
    ];
    for (const c of cases) {
      const inBrowser = await page.evaluate((req) => Array.from((globalThis as any).wganxCore.sampleLatents(req) as Float32Array), c);
      assert.deepEqual(inBrowser, Array.from(sampleLatents(c)), JSON.stringify(c));
    }
    const choice = await page.evaluate(() => (globalThis as any).wganxCore.uniformAt(7, 11, 3) as number);
    assert.equal(choice, uniformAt(7, 11, 3));
  } finally {
    await browser.close();
  }
});
