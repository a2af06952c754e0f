/**
 * Refinement in a real browser (issue 35): Debian's Chromium (playwright-core) on the page served by
 * `wganx serve` with model folders that ship their critic (test/runtime/refine-fixtures.ts), and on
 * the static copy. The page offers the methods a model can run; the wganx/web generator it opens
 * (WASM) picks the same latents as the server for `rank`, bit for bit, so its samples are the
 * server's up to the two runtimes' kernels (as raw samples are), and the 8-bit pictures are the same
 * pixels; `dot` and `ddls` agree with the server within 1/255; the page's own comparison asks the
 * server for the same refinement.
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
import { seededSamples } from '../../src/core/seeded.js';
import { REFINE_METHODS } from '../../src/runtime/refine/index.js';
import { openGenerator } from '../../src/runtime/node.js';
import { startServer, type RunningServer } from '../../src/serve/http/server.js';
import { resolveServeOptions, silentLogger } from '../../src/serve/options.js';
import { criticFixtures } from '../runtime/refine-fixtures.js';
import { parseNpy } from '../serve/helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];
const ARTIFACTS = join(process.env.WGANX_TEST_ARTIFACTS ?? join(ROOT, 'runs', 'test-artifacts'), 'web');
/** A gradient method's outputs in the browser and on the server: within 1/255 (issue 35). */
const GRADIENT_BOUND = 1 / 255;
/** rank's outputs: the same latents, so only the runtimes' kernels differ (as for raw samples). */
const KERNEL_BOUND = 1e-5;

const GRADIENT_REQUESTS = [{ method: 'dot', steps: 5, stepSize: 0.05 }, { method: 'ddls', steps: 4, stepSize: 0.02 }];

let fx: Awaited<ReturnType<typeof criticFixtures>>;
let webDir: string;
let staticDir: string;
let server: RunningServer;
let staticServer: Server;
let staticUrl: string;

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream' };

/** A plain static file server (no special headers, query strings ignored), like any static host. */
function serveStatic(root: string): Promise<Server> {
  const s = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(root, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  fx = await criticFixtures(); // points and digits (with their critic), bare (none)
  webDir = mkdtempSync(join(tmpdir(), 'wganx-web-refine-'));
  staticDir = mkdtempSync(join(tmpdir(), 'wganx-web-refine-static-'));
  await buildWeb({ outDir: webDir });
  await buildWeb({ outDir: staticDir, static: true, modelsDir: fx.root, defaultModel: 'digits' });
  server = await startServer(resolveServeOptions({ modelsDir: fx.root, port: 0, host: '127.0.0.1', device: 'cpu', threads: 1, reloadIntervalMs: 0 }), { logger: silentLogger, webDir });
  staticServer = await serveStatic(staticDir);
  staticUrl = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await server?.shutdown();
  staticServer?.close();
  rmSync(webDir, { recursive: true, force: true });
  rmSync(staticDir, { recursive: true, force: true });
  fx?.cleanup();
});

interface PageState {
  mode: string;
  device: string;
  error: string | null;
  serverDiff: number | null;
  refineMethods: string[];
  refine: string | null;
  lastRun: { n: number } | null;
}

interface Visit {
  page: Page;
  browser: Browser;
  state: PageState;
  problems: string[];
}

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
  return { page, browser, state: await pageState(page), problems };
}

const pageState = async (page: Page) => (await page.evaluate(() => (globalThis as unknown as { wganx: unknown }).wganx)) as PageState;

async function finish(v: Visit, name: string): Promise<void> {
  await v.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  await v.browser.close();
  assert.deepEqual(v.problems, [], `${name}: no console errors, no request off the origin`);
}

/** The page's generator (wganx/web) on a request: its outputs as numbers. */
async function browserSample(page: Page, req: object): Promise<number[]> {
  return page.evaluate(async (r) => {
    const g = (globalThis as unknown as { wganxGenerator: { sample(req: object): Promise<{ data: Float32Array }> } }).wganxGenerator;
    return Array.from((await g.sample(r)).data);
  }, req);
}

/** The server's outputs of a request (.npy). */
async function serverSample(model: string, body: object): Promise<Float32Array> {
  const res = await fetch(`${server.url}/v1/models/${model}/samples`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...body, format: 'npy' }) });
  assert.equal(res.status, 200, await res.clone().text());
  return parseNpy(Buffer.from(await res.arrayBuffer())).data;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The page's canvas and the server's samples.png for `query`, as 8-bit RGB: how many channel values differ. */
async function pixelsDiffering(v: Visit, model: string, query: string): Promise<{ differing: number; total: number }> {
  const dataUrl = await v.page.evaluate(() => (document.getElementById('grid') as HTMLCanvasElement).toDataURL('image/png'));
  const mine = await sharp(Buffer.from(dataUrl.split(',')[1], 'base64')).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const res = await fetch(`${server.url}/v1/models/${model}/samples.png?${query}`);
  assert.equal(res.status, 200);
  const theirs = await sharp(Buffer.from(await res.arrayBuffer())).toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([mine.info.width, mine.info.height], [theirs.info.width, theirs.info.height]);
  let differing = 0;
  for (let i = 0; i < mine.data.length; i += 4) for (let c = 0; c < 3; c++) if (mine.data[i + c] !== theirs.data[i + c]) differing++;
  return { differing, total: (mine.data.length / 4) * 3 };
}

test('WASM: rank in the page picks the server\'s latents bit for bit, draws the server\'s pixels, and the page compares with the refined server picture', async (t) => {
  const v = await visit(server.url, 'model=digits&seed=3&n=8&scale=2&device=wasm&compare=1&refine=rank&refine.k=6');
  try {
    assert.equal(v.state.error, null);
    assert.equal(v.state.device, 'wasm');
    assert.deepEqual(v.state.refineMethods, ['none', 'rank', 'dot', 'ddls']);
    assert.equal(v.state.refine, `rank k=6 sigma=${REFINE_METHODS.rank.params.sigma.default}`);
    assert.equal(await v.page.isVisible('#refine-field'), true);
    assert.equal(await v.page.textContent('#refine-param-name'), 'k');
    assert.match(await v.page.textContent('#rate-line') ?? '', /refined: rank k=6 sigma=/);
    // The latents rank picks: the page's generator and the runtime the server runs (onnxruntime-node), bit for bit.
    const node = await openGenerator(join(fx.root, 'digits'), { device: 'cpu', threads: 1 });
    try {
      const { z, labels } = seededSamples(node.manifest, { seed: 3, start: 0, n: 8 });
      const want = Array.from(await node.refineLatents({ seed: 3, indices: [0, 1, 2, 3, 4, 5, 6, 7], z, labels }, { method: 'rank', k: 6 }));
      const got = await v.page.evaluate(
        async ({ z, labels }) => {
          const g = (globalThis as unknown as { wganxGenerator: { refineLatents(rows: object, req: object): Promise<Float32Array> } }).wganxGenerator;
          return Array.from(await g.refineLatents({ seed: 3, indices: [0, 1, 2, 3, 4, 5, 6, 7], z: Float32Array.from(z), labels: Int32Array.from(labels) }, { method: 'rank', k: 6 }));
        },
        { z: Array.from(z), labels: Array.from(labels!) },
      );
      assert.deepEqual(got, want, "rank's latents in the browser and on the server's runtime");
      assert.notDeepEqual(want, Array.from(z), 'rank moved some latents');
    } finally {
      await node.dispose();
    }
    // The samples: the server's up to the kernels; the 8-bit pictures: the same pixels.
    const browser = await browserSample(v.page, { seed: 3, n: 8, refine: { method: 'rank', k: 6 } });
    const served = await serverSample('digits', { seed: 3, n: 8, refine: { method: 'rank', k: 6 } });
    const d = maxDiff(browser, served);
    t.diagnostic(`rank (digits): max |browser − server| = ${d}`);
    assert.ok(d <= KERNEL_BOUND, `rank: max |browser − server| = ${d}`);
    const px = await pixelsDiffering(v, 'digits', 'n=8&seed=3&scale=2&refine=rank&refine.k=6');
    assert.equal(px.differing, 0, `${px.differing} of ${px.total} channel values differ from the server's refined samples.png`);
    assert.equal(v.state.serverDiff, 0, "the page's own comparison (it asks the server for the same refinement)");
    const raw = await pixelsDiffering(v, 'digits', 'n=8&seed=3&scale=2');
    assert.ok(raw.differing > 0, 'the refined picture is not the raw one');
  } finally {
    await finish(v, 'refine-rank-wasm');
  }
});

test('WASM: dot and ddls in the page agree with the server within 1/255; the method select switches the parameter', async (t) => {
  const v = await visit(server.url, 'model=points&seed=4&n=50&device=wasm&compare=1&refine=dot&refine.steps=5');
  try {
    assert.equal(v.state.error, null);
    assert.equal(v.state.refine, `dot steps=5 stepSize=${REFINE_METHODS.dot.params.stepSize.default}`);
    assert.equal(await v.page.textContent('#refine-param-name'), 'steps');
    assert.ok(v.state.serverDiff !== null && v.state.serverDiff <= 1, `the page's picture against the server's: ${v.state.serverDiff}`);
    for (const refine of GRADIENT_REQUESTS) {
      const served = await serverSample('points', { seed: 4, n: 12, refine });
      const d = maxDiff(await browserSample(v.page, { seed: 4, n: 12, refine }), served);
      t.diagnostic(`${refine.method} (points): max |browser − server| = ${d}`);
      assert.ok(d <= GRADIENT_BOUND, `${refine.method} (points): max |browser − server| = ${d}`);
      assert.ok(maxDiff(served, await serverSample('points', { seed: 4, n: 12 })) > 0, `${refine.method} moved the samples`);
    }
    // The select: rank shows k with its default; back to none hides the parameter and draws the raw samples.
    await v.page.selectOption('#refine', 'rank');
    await v.page.waitForFunction(() => (globalThis as unknown as { wganx: PageState }).wganx.refine?.startsWith('rank') === true && document.body.dataset.state === 'ready');
    assert.equal(await v.page.textContent('#refine-param-name'), 'k');
    assert.equal(await v.page.inputValue('#refine-param'), String(REFINE_METHODS.rank.params.k.default));
    await v.page.selectOption('#refine', 'none');
    await v.page.waitForFunction(() => (globalThis as unknown as { wganx: PageState }).wganx.refine === null && document.body.dataset.state === 'ready');
    assert.equal(await v.page.isHidden('#refine-param-field'), true);
  } finally {
    await finish(v, 'refine-dot-wasm');
  }
  const w = await visit(server.url, 'model=digits&seed=4&n=12&device=wasm');
  try {
    for (const refine of GRADIENT_REQUESTS) {
      const d = maxDiff(await browserSample(w.page, { seed: 4, n: 12, refine }), await serverSample('digits', { seed: 4, n: 12, refine }));
      t.diagnostic(`${refine.method} (digits): max |browser − server| = ${d}`);
      assert.ok(d <= GRADIENT_BOUND, `${refine.method} (digits): max |browser − server| = ${d}`);
    }
  } finally {
    await finish(w, 'refine-gradient-digits');
  }
});

test('WebGPU (SwiftShader): rank, dot and ddls in the page agree with the server within 1/255', async (t) => {
  const v = await visit(server.url, 'model=digits&seed=4&n=4&device=webgpu', WEBGPU_ARGS);
  try {
    assert.equal(v.state.error, null);
    assert.equal(v.state.device, 'webgpu');
    for (const refine of [{ method: 'rank', k: 6, sigma: 0.5 }, ...GRADIENT_REQUESTS]) {
      const d = maxDiff(await browserSample(v.page, { seed: 4, n: 12, refine }), await serverSample('digits', { seed: 4, n: 12, refine }));
      t.diagnostic(`${refine.method} (digits, webgpu): max |browser − server| = ${d}`);
      assert.ok(d <= GRADIENT_BOUND, `${refine.method} (digits, webgpu): max |browser − server| = ${d}`);
    }
  } finally {
    await finish(v, 'refine-webgpu');
  }
});

test('a model without a critic offers no refinement; the static copy carries critic.onnx and refine.onnx and refines from a plain file server', async () => {
  const v = await visit(server.url, 'model=bare&seed=1&device=wasm&refine=rank');
  try {
    assert.equal(v.state.error, null);
    assert.deepEqual(v.state.refineMethods, ['none']);
    assert.equal(v.state.refine, null, 'a refinement the model cannot run is not asked for');
    assert.equal(await v.page.isHidden('#refine-field'), true);
  } finally {
    await finish(v, 'refine-bare');
  }
  assert.deepEqual(readdirSync(join(staticDir, 'models', 'digits')).sort(), ['critic.onnx', 'generator.onnx', 'manifest.json', 'refine.onnx']);
  assert.deepEqual(readdirSync(join(staticDir, 'models', 'bare')).sort(), ['generator.onnx', 'manifest.json']);
  const s = await visit(staticUrl, 'seed=3&n=8&scale=2&device=wasm&refine=rank&refine.k=6');
  try {
    assert.equal(s.state.error, null);
    assert.equal(s.state.mode, 'static');
    assert.equal(s.state.refine, `rank k=6 sigma=${REFINE_METHODS.rank.params.sigma.default}`);
    const px = await pixelsDiffering(s, 'digits', 'n=8&seed=3&scale=2&refine=rank&refine.k=6');
    assert.equal(px.differing, 0, `${px.differing} of ${px.total} channel values differ from the server's refined samples.png`);
  } finally {
    await finish(s, 'refine-static');
  }
});
