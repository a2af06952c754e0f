/**
 * The page and the wganx/web module in a real browser: Debian's Chromium driven by playwright-core
 * (installed by .ci/run; never `npx playwright install`). The page is built into a temporary
 * folder with scripts/build-web.mjs, then served by `wganx serve` (WASM, WebGPU on SwiftShader,
 * the fallback) and by a plain static file server (the static copy). In every case: the samples
 * match the server's samples.png for the same request, nothing is logged as an error, and no
 * request leaves the page's origin. Screenshots go to runs/test-artifacts/web/ (or
 * $WGANX_TEST_ARTIFACTS/web/).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
// @ts-expect-error -- a plain .mjs build script without type declarations
import { buildWeb } from '../../scripts/build-web.mjs';
import { startServer, type RunningServer } from '../../src/serve/http/server.js';
import { resolveServeOptions, silentLogger } from '../../src/serve/options.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];
const ARTIFACTS = join(process.env.WGANX_TEST_ARTIFACTS ?? join(ROOT, 'runs', 'test-artifacts'), 'web');
/** Largest mean |browser − server| per 8-bit channel value (the bound: 2/255). */
const MAX_MEAN_DIFF = 2;

/** The page as `npm run build` writes it (served by wganx serve), and the static copy (`--static`, served by a plain file server). */
let webDir: string;
let staticDir: string;
let server: RunningServer;
let staticServer: Server;
let staticUrl: string;

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.map': 'application/json' };

/** A plain static file server (no special headers), like any static host. */
function serveStatic(root: string): Promise<Server> {
  const s = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(root, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  webDir = mkdtempSync(join(tmpdir(), 'wganx-web-'));
  staticDir = mkdtempSync(join(tmpdir(), 'wganx-web-static-'));
  await buildWeb({ outDir: webDir });
  await buildWeb({ outDir: staticDir, static: true, modelsDir: join(ROOT, 'models'), defaultModel: 'mnist-dcgan' });
  server = await startServer(resolveServeOptions({ modelsDir: join(ROOT, 'models'), port: 0, host: '127.0.0.1', device: 'cpu', threads: 1, reloadIntervalMs: 0 }), { logger: silentLogger, webDir });
  staticServer = await serveStatic(staticDir);
  staticUrl = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await server?.shutdown();
  staticServer?.close();
  rmSync(webDir, { recursive: true, force: true });
  rmSync(staticDir, { recursive: true, force: true });
});

interface Visit {
  page: Page;
  browser: Browser;
  state: { mode: string; device: string; refused: { device: string; reason: string }[]; threads: number; lastRun: { n: number } | null; serverDiff: number | null; error: string | null };
  problems: string[];
}

/** Open the page at `origin` with `query`, wait until it has drawn (or failed), and collect console errors and off-origin requests. */
async function visit(origin: string, query: string, args: string[] = []): Promise<Visit> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BASE_ARGS, ...args] });
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:')) problems.push(`request off the origin: ${url}`);
  });
  await page.goto(`${origin}/?${query}`);
  await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 120_000 });
  const state = (await page.evaluate(() => (globalThis as unknown as { wganx: unknown }).wganx)) as Visit['state'];
  return { page, browser, state, problems };
}

/** The canvas's pixels and the server's samples.png for the same request, both RGBA. */
async function compare(v: Visit, request: string): Promise<{ meanDiff: number; width: number }> {
  const dataUrl = await v.page.evaluate(() => (document.getElementById('grid') as HTMLCanvasElement).toDataURL('image/png'));
  const mine = await sharp(Buffer.from(dataUrl.split(',')[1], 'base64')).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const res = await fetch(`${server.url}/v1/models/${request}`);
  assert.equal(res.status, 200);
  const theirs = await sharp(Buffer.from(await res.arrayBuffer())).toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([mine.info.width, mine.info.height], [theirs.info.width, theirs.info.height], 'the same picture size');
  let sum = 0;
  for (let i = 0; i < mine.data.length; i += 4) for (let c = 0; c < 3; c++) sum += Math.abs(mine.data[i + c] - theirs.data[i + c]);
  return { meanDiff: sum / ((mine.data.length / 4) * 3), width: mine.info.width };
}

async function finish(v: Visit, name: string): Promise<void> {
  await v.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  await v.browser.close();
  assert.deepEqual(v.problems, [], `${name}: no console errors, no request off the origin`);
}

test('WASM: the page draws the MNIST grid for a seed, pixel for pixel the server\'s samples.png, and shows the difference', async () => {
  const v = await visit(server.url, 'model=mnist-cgan&seed=3&n=16&scale=4&device=wasm&compare=1');
  try {
    assert.equal(v.state.error, null);
    assert.equal(v.state.mode, 'server');
    assert.equal(v.state.device, 'wasm');
    assert.match(await v.page.textContent('#device-line') ?? '', /^running on wasm \(1 thread\), onnxruntime-web \d/);
    assert.match(await v.page.textContent('#rate-line') ?? '', /^16 samples in [\d.]+ ms \(\d+ samples\/s/);
    const { meanDiff, width } = await compare(v, 'mnist-cgan/samples.png?n=16&seed=3&scale=4');
    assert.equal(width, (4 * 28 + 3 * 2) * 4);
    assert.ok(meanDiff <= MAX_MEAN_DIFF, `mean |browser − server| = ${meanDiff}`);
    // The page's own comparison agrees, and says so.
    assert.ok(v.state.serverDiff !== null && Math.abs(v.state.serverDiff - meanDiff) < 1e-6);
    assert.match(await v.page.textContent('#diff-line') ?? '', /mean \|browser − server\| = [\d.]+ \/ 255/);
    // One class for every sample, and the latent walk's slider draws a frame.
    await v.page.selectOption('#class', '7');
    await v.page.click('#run');
    await v.page.waitForFunction(() => document.body.dataset.state === 'ready');
    const seven = await compare(v, 'mnist-cgan/samples.png?n=16&seed=3&scale=4&class=7');
    assert.ok(seven.meanDiff <= MAX_MEAN_DIFF, `class 7: ${seven.meanDiff}`);
    await v.page.fill('#t', '16');
    await v.page.dispatchEvent('#t', 'input');
    await v.page.waitForFunction(() => document.getElementById('t-line')!.textContent === '16 / 32');
    const walkWidth = await v.page.evaluate(() => (document.getElementById('walk-canvas') as HTMLCanvasElement).width);
    assert.equal(walkWidth, 28 * 6);
  } finally {
    await finish(v, 'wasm');
  }
});

test('WASM with 2 threads in the cross-origin isolated page; a point model draws 1,000 samples with axes and its modes; another thread count reloads the page with ?threads=', async () => {
  const v = await visit(server.url, 'model=ring&seed=5&device=wasm&threads=2');
  try {
    assert.equal(v.state.error, null);
    assert.equal(await v.page.evaluate(() => crossOriginIsolated), true);
    assert.equal(v.state.threads, 2);
    assert.equal(v.state.lastRun?.n, 1000);
    const { meanDiff } = await compare(v, 'ring/samples.png?seed=5&scale=2');
    assert.ok(meanDiff <= MAX_MEAN_DIFF, `mean |browser − server| = ${meanDiff}`);
    // onnxruntime-web reads the thread count once per page: the picker stays usable, and a new
    // count reloads the page with ?threads=N, keeping the other parameters and the form's choices.
    assert.equal(await v.page.evaluate(() => (document.getElementById('threads') as HTMLSelectElement).disabled), false);
    await v.page.fill('#seed', '6');
    await v.page.selectOption('#threads', '1');
    await v.page.waitForURL(/threads=1/);
    await v.page.waitForFunction(() => document.body.dataset.state !== 'loading' && (globalThis as unknown as { wganx: { lastRun: unknown } }).wganx.lastRun !== null, null, { timeout: 120_000 });
    const params = Object.fromEntries(new URL(v.page.url()).searchParams);
    assert.deepEqual(params, { model: 'ring', seed: '6', device: 'wasm', threads: '1' });
    const after = (await v.page.evaluate(() => (globalThis as unknown as { wganx: unknown }).wganx)) as Visit['state'];
    assert.equal(after.error, null);
    assert.equal(after.threads, 1);
    assert.equal(await v.page.$eval('#threads', (s) => (s as HTMLSelectElement).value), '1');
    assert.match(await v.page.textContent('#device-line') ?? '', /^running on wasm \(1 thread\)/);
  } finally {
    await finish(v, 'wasm-threads-ring');
  }
});

test('WebGPU (SwiftShader): the page runs on WebGPU, says so, and matches the server within the same bound', async () => {
  const v = await visit(server.url, 'model=mnist-cgan&seed=3&n=16&scale=4&device=auto', WEBGPU_ARGS);
  try {
    assert.equal(v.state.error, null);
    assert.equal(v.state.device, 'webgpu');
    assert.match(await v.page.textContent('#device-line') ?? '', /^running on webgpu, onnxruntime-web/);
    const { meanDiff } = await compare(v, 'mnist-cgan/samples.png?n=16&seed=3&scale=4');
    assert.ok(meanDiff <= MAX_MEAN_DIFF, `mean |browser − server| = ${meanDiff}`);
  } finally {
    await finish(v, 'webgpu-swiftshader');
  }
});

test('without WebGPU, auto falls back to WASM and says why', async () => {
  const v = await visit(server.url, 'model=mnist-cgan&seed=1&n=9&device=auto', ['--disable-features=WebGPU']);
  try {
    assert.equal(v.state.error, null);
    assert.equal(v.state.device, 'wasm');
    assert.equal(v.state.refused.length, 1);
    assert.equal(v.state.refused[0].device, 'webgpu');
    assert.match(await v.page.textContent('#device-line') ?? '', /^running on wasm .*; webgpu refused: (navigator\.gpu is missing|navigator\.gpu\.requestAdapter\(\) found no adapter)/);
  } finally {
    await finish(v, 'fallback');
  }
});

test('the static copy (dist/web) works from a plain static file server: models from models/index.json, the default model first and opened, the same samples', async () => {
  const v = await visit(staticUrl, 'seed=3&n=16&scale=4&device=wasm');
  try {
    assert.equal(v.state.error, null);
    assert.equal(v.state.mode, 'static');
    assert.equal(await v.page.isHidden('#compare-field'), true, 'no server to compare with');
    const options = await v.page.$$eval('#model option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    const index = JSON.parse(readFileSync(join(staticDir, 'models', 'index.json'), 'utf8')) as string[];
    assert.deepEqual(options, index);
    assert.deepEqual(index, ['mnist-dcgan', ...readdirSync(join(ROOT, 'models')).filter((m) => m !== 'mnist-dcgan' && existsSync(join(ROOT, 'models', m, 'manifest.json'))).sort()]);
    assert.equal(await v.page.$eval('#model', (s) => (s as HTMLSelectElement).value), 'mnist-dcgan', 'the page opens the first model');
    const { meanDiff } = await compare(v, 'mnist-dcgan/samples.png?n=16&seed=3&scale=4');
    assert.ok(meanDiff <= MAX_MEAN_DIFF, `mean |browser − server| = ${meanDiff}`);
  } finally {
    await finish(v, 'static');
  }
});
