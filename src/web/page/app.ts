/**
 * The page `wganx serve` shows at `/` (and `dist/web/index.html` on any static host): pick a
 * model, a class, a seed and a count; the samples are computed in this browser by the wganx/web
 * module (WebGPU or WASM) and drawn on a canvas, identical to the server's `samples.png` for the
 * same request, which it can show beside them with the mean pixel difference. A latent walk
 * between two seeds follows a slider. A model that ships its critic offers refinement (a method of
 * the runtime's table and its main parameter: `k` for rank, `steps` for dot and ddls), computed here
 * too; the comparison then asks the server for the same refinement.
 *
 * Models come from `models/index.json` (a list of folder names under `models/`), which the
 * server answers with its ready models. The query string pre-sets the form
 * (`?model=mnist-cgan&seed=3&n=16&class=7&device=wasm&threads=2&compare=1&refine=rank&refine.k=8`);
 * changing the threads after WASM has started reloads the page with the new `threads`. State for
 * tests and scripts: `document.body.dataset.state` (`loading`, `ready`, `error`), `window.wganx`,
 * and the open generator (a wganx/web `WebGenerator`) as `window.wganxGenerator`.
 */
import { openGenerator, REFINE_METHODS, runtimeVersion, wasmStarted, wasmThreads, type RefineMethodName, type RefineRequest, type WebGenerator } from '../index.js';

/** What the last run did, for people and for tests. */
interface PageState {
  mode: 'server' | 'static';
  model: string | null;
  device: string | null;
  refused: { device: string; reason: string }[];
  threads: number;
  runtime: string;
  lastRun: { n: number; ms: number; samplesPerSecond: number } | null;
  /** Mean |browser − server| over the RGB channels, in 8-bit levels. */
  serverDiff: number | null;
  /** The refinement methods the open model can run (`none` only without a critic). */
  refineMethods: string[];
  /** The last run's refinement (`rank k=8 sigma=0.25`), or null for none. */
  refine: string | null;
  error: string | null;
}

const WALK_STEPS = 32;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const state: PageState = { mode: 'static', model: null, device: null, refused: [], threads: 1, runtime: runtimeVersion(), lastRun: null, serverDiff: null, refineMethods: ['none'], refine: null, error: null };
(globalThis as { wganx?: PageState }).wganx = state;

let generator: WebGenerator | null = null;
Object.defineProperty(globalThis, 'wganxGenerator', { get: () => generator, configurable: true });
let openedKey = '';
let busy: Promise<void> = Promise.resolve();

function apiHeaders(): Record<string, string> {
  const key = $<HTMLInputElement>('key').value;
  return key ? { Authorization: `Bearer ${key}` } : {};
}

const authedFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...apiHeaders(), ...(init?.headers as Record<string, string> | undefined) } });

function showError(message: string | null): void {
  state.error = message;
  const el = $('error');
  el.hidden = message === null;
  el.textContent = message ?? '';
  document.body.dataset.state = message === null ? 'ready' : 'error';
}

/**
 * The models to offer: `models/index.json`, which the server answers too (with an
 * `X-Wganx-Server` header: then the server can be compared with).
 */
async function listModels(): Promise<string[]> {
  const res = await authedFetch('models/index.json');
  if (res.status === 401) {
    $('key-field').hidden = false;
    throw new Error('this server requires an API key: enter it above and press Generate');
  }
  if (!res.ok) throw new Error(`models/index.json: HTTP ${res.status}; on a static host, list the model folders under models/ in models/index.json`);
  state.mode = res.headers.has('X-Wganx-Server') ? 'server' : 'static';
  const names = (await res.json()) as unknown;
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw new Error('models/index.json must be a JSON array of model folder names');
  return names;
}

function readForm() {
  const num = (id: string, fallback: number) => {
    const v = Number($<HTMLInputElement>(id).value);
    return Number.isSafeInteger(v) && v >= 0 ? v : fallback;
  };
  const cls = $<HTMLSelectElement>('class').value;
  return {
    model: $<HTMLSelectElement>('model').value,
    device: $<HTMLSelectElement>('device').value,
    seed: num('seed', 0),
    n: Math.max(1, num('n', 16)),
    scale: Math.min(16, Math.max(1, num('scale', 1))),
    cls: cls === '' ? undefined : Number(cls),
    compare: $<HTMLInputElement>('compare').checked,
    threads: $<HTMLSelectElement>('threads').value === 'auto' ? undefined : Number($<HTMLSelectElement>('threads').value),
    refine: readRefine(),
  };
}

/** The parameter the page offers for a method: the first of its row (rank: k; dot, ddls: steps). */
function mainParam(method: RefineMethodName): string | null {
  return Object.keys(REFINE_METHODS[method].params)[0] ?? null;
}

/** The refinement the form asks for (undefined: none); the parameter's bounds are the table's, checked by the runtime. */
function readRefine(): RefineRequest | undefined {
  const method = $<HTMLSelectElement>('refine').value as RefineMethodName;
  if (!(method in REFINE_METHODS) || method === 'none') return undefined;
  const param = mainParam(method);
  const raw = $<HTMLInputElement>('refine-param').value;
  return param === null || raw === '' ? { method } : { method, [param]: Number(raw) };
}

/** Show the chosen method's main parameter with its bounds and default (kept when the user set it). */
function refineChanged(): void {
  const method = $<HTMLSelectElement>('refine').value as RefineMethodName;
  const param = method in REFINE_METHODS && method !== 'none' ? mainParam(method) : null;
  $('refine-param-field').hidden = param === null;
  if (param === null) return;
  const p = REFINE_METHODS[method].params[param];
  const input = $<HTMLInputElement>('refine-param');
  const name = $('refine-param-name');
  if (name.textContent !== param) delete input.dataset.touched; // another parameter: its own default
  name.textContent = param;
  input.min = String(p.min);
  input.max = String(p.max);
  input.step = p.int ? '1' : 'any';
  input.title = p.help;
  if (input.dataset.touched !== '1') input.value = String(p.default);
}

/** Open (or keep) the generator of the chosen model on the chosen device. */
async function ensureGenerator(model: string, device: string, threads: number | undefined): Promise<WebGenerator> {
  // Threads count only until the WASM build starts (onnxruntime-web reads them once per page).
  const key = `${model}|${device}`;
  if (generator && openedKey === key) return generator;
  if (generator) await generator.dispose();
  generator = null;
  $('device-line').textContent = `opening ${model} (${device})…`;
  const g = await openGenerator(`models/${encodeURIComponent(model)}/`, { device, threads, fetch: authedFetch });
  generator = g;
  openedKey = key;
  state.model = model;
  state.device = g.device;
  state.refused = g.refused.map((r) => ({ device: r.device, reason: r.reason }));
  state.threads = g.device === 'wasm' ? wasmThreads() : 1;
  if (wasmStarted()) $('threads').title = `onnxruntime-web runs WASM with ${wasmThreads()} thread(s) in this page; another count reloads the page with ?threads=`;
  const refused = g.refused.map((r) => `; ${r.device} refused: ${r.reason}`).join('');
  const line = $('device-line');
  line.dataset.device = g.device;
  line.textContent = `running on ${g.device}${g.device === 'wasm' ? ` (${state.threads} thread${state.threads === 1 ? '' : 's'})` : ''}, onnxruntime-web ${state.runtime}${refused}`;
  // The class picker: the server's default rule, or one class for every sample.
  const c = g.manifest.conditional;
  const select = $<HTMLSelectElement>('class');
  const wanted = select.dataset.wanted ?? select.value;
  select.replaceChildren(new Option('default (as the server)', ''), ...(c ? c.labels.map((l, i) => new Option(`${i}: ${l}`, String(i))) : []));
  select.value = c && wanted !== '' && Number(wanted) < c.numClasses ? wanted : '';
  delete select.dataset.wanted;
  $('class-field').hidden = !c;
  // The refinement picker: the methods this model can run (a model without a critic offers none).
  const methods = g.refineMethods;
  state.refineMethods = [...methods];
  const refine = $<HTMLSelectElement>('refine');
  const wantedRefine = refine.dataset.wanted ?? refine.value;
  refine.replaceChildren(...methods.map((m) => new Option(m, m)));
  refine.value = (methods as string[]).includes(wantedRefine) ? wantedRefine : 'none';
  delete refine.dataset.wanted;
  $('refine-field').hidden = methods.length <= 1;
  refineChanged();
  // Defaults by kind unless the user set them: 16 digits at 4×, or 1,000 points on a 512-pixel plot.
  const points = g.manifest.kind === 'points';
  if ($<HTMLInputElement>('n').dataset.touched !== '1') $<HTMLInputElement>('n').value = points ? '1000' : '16';
  if ($<HTMLInputElement>('scale').dataset.touched !== '1') $<HTMLInputElement>('scale').value = points ? '2' : '4';
  return g;
}

function draw(canvas: HTMLCanvasElement, image: ImageData): void {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d')!.putImageData(image, 0, 0);
}

/** Mean |a − b| over the RGB channels of two same-sized RGBA buffers. */
function meanAbsDiff(a: Uint8ClampedArray, b: Uint8ClampedArray): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 4) sum += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
  return sum / ((a.length / 4) * 3);
}

/** The server's samples.png for the same request beside the browser's, with their difference. */
async function compareWithServer(f: ReturnType<typeof readForm>, mine: ImageData): Promise<void> {
  const q = new URLSearchParams({ n: String(f.n), seed: String(f.seed), scale: String(f.scale) });
  if (f.cls !== undefined) q.set('class', String(f.cls));
  for (const [key, value] of Object.entries(f.refine ?? {})) q.set(key === 'method' ? 'refine' : `refine.${key}`, String(value));
  const res = await authedFetch(`v1/models/${encodeURIComponent(f.model)}/samples.png?${q}`);
  if (!res.ok) throw new Error(`the server answered ${res.status}: ${await res.text()}`);
  const blob = await res.blob();
  const img = $<HTMLImageElement>('server');
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
  const bitmap = await createImageBitmap(blob);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  const theirs = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  $('server-figure').hidden = false;
  if (theirs.width !== mine.width || theirs.height !== mine.height) {
    state.serverDiff = null;
    $('diff-line').textContent = `the server: ${theirs.width}×${theirs.height}, the browser ${mine.width}×${mine.height}`;
    return;
  }
  state.serverDiff = meanAbsDiff(mine.data, theirs.data);
  $('diff-line').textContent = `the server; mean |browser − server| = ${state.serverDiff.toFixed(3)} / 255 per pixel`;
}

async function generate(): Promise<void> {
  const chosen = readForm();
  if (!chosen.model) return;
  document.body.dataset.state = 'loading';
  const g = await ensureGenerator(chosen.model, chosen.device, chosen.threads);
  const f = readForm(); // opening a point model sets its default count
  const t0 = performance.now();
  const out = await g.sample({ seed: f.seed, n: f.n, cls: f.cls, refine: f.refine });
  const ms = performance.now() - t0;
  state.lastRun = { n: f.n, ms, samplesPerSecond: (f.n * 1000) / ms };
  const refined = out.refine.method === 'none' ? null : [out.refine.method, ...Object.entries(out.refine.params).map(([k, v]) => `${k}=${v}`)].join(' ');
  state.refine = refined;
  $('rate-line').textContent = `${f.n} samples in ${ms.toFixed(1)} ms (${state.lastRun.samplesPerSecond.toFixed(0)} samples/s, latents and classes included${refined ? `; refined: ${refined}` : ''})`;
  const image = g.toImageData(out, { scale: f.scale });
  draw($<HTMLCanvasElement>('grid'), image);
  $<HTMLButtonElement>('download').disabled = false;
  state.serverDiff = null;
  if (f.compare && state.mode === 'server') await compareWithServer(f, image);
  else $('server-figure').hidden = true;
  await walk();
  showError(null);
}

/** The latent walk's frame at the slider's position. */
async function walk(): Promise<void> {
  const g = generator;
  if (!g) return;
  const f = readForm();
  const a = Number($<HTMLInputElement>('seed-a').value) || 0;
  const b = Number($<HTMLInputElement>('seed-b').value) || 0;
  const t = Number($<HTMLInputElement>('t').value);
  // All frames of the line (the server's interpolate), then the one at t; for a point model, the path up to t.
  const frames = await g.interpolate(a, b, WALK_STEPS + 1, f.cls);
  const rowSize = frames.data.length / frames.dims[0];
  const points = g.manifest.kind === 'points';
  const from = points ? 0 : t;
  const shown = { ...frames, data: frames.data.subarray(from * rowSize, (t + 1) * rowSize), dims: [t + 1 - from, ...frames.dims.slice(1)], labels: frames.labels ? frames.labels.subarray(from, t + 1) : null };
  draw($<HTMLCanvasElement>('walk-canvas'), g.toImageData(shown, { scale: points ? 1 : 6 }));
  $('t-line').textContent = `${t} / ${WALK_STEPS}`;
}

/** Run `task` after the previous one, showing any error on the page. */
function queue(task: () => Promise<void>): void {
  busy = busy.then(task).catch((err: unknown) => showError(err instanceof Error ? err.message : String(err)));
}

/**
 * A new thread count: onnxruntime-web reads it once per page, so once WASM has started the page
 * reloads with `?threads=N` (no parameter for auto), keeping the other parameters and what the
 * form shows now. Before that, the next run simply uses it.
 */
function threadsChanged(): void {
  if (!wasmStarted()) {
    queue(generate);
    return;
  }
  const params = new URLSearchParams(location.search);
  const set = (name: string, value: string | null) => (value === null || value === '' ? params.delete(name) : params.set(name, value));
  const f = readForm();
  set('model', f.model);
  set('class', $<HTMLSelectElement>('class').value);
  set('seed', String(f.seed));
  for (const id of ['n', 'scale']) if ($<HTMLInputElement>(id).dataset.touched === '1') set(id, $<HTMLInputElement>(id).value);
  set('device', f.device === 'auto' ? null : f.device);
  set('compare', f.compare ? '1' : null);
  for (const key of [...params.keys()]) if (key.startsWith('refine.')) params.delete(key);
  set('refine', f.refine?.method ?? null);
  for (const [key, value] of Object.entries(f.refine ?? {})) if (key !== 'method' && $<HTMLInputElement>('refine-param').dataset.touched === '1') set(`refine.${key}`, String(value));
  set('threads', f.threads === undefined ? null : String(f.threads));
  location.search = params.toString();
}

function download(): void {
  const f = readForm();
  $<HTMLCanvasElement>('grid').toBlob((blob) => {
    if (!blob) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${f.model}-seed${f.seed}-n${f.n}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, 'image/png');
}

async function start(): Promise<void> {
  const params = new URLSearchParams(location.search);
  for (const id of ['seed', 'n', 'scale', 'device', 'threads']) {
    const v = params.get(id);
    if (v !== null) ($(id) as HTMLInputElement | HTMLSelectElement).value = v;
  }
  for (const id of ['n', 'scale']) if (params.has(id)) $<HTMLInputElement>(id).dataset.touched = '1';
  if (params.get('compare') === '1') $<HTMLInputElement>('compare').checked = true;
  if (params.has('class')) $<HTMLSelectElement>('class').dataset.wanted = params.get('class')!;
  // ?refine=<method>&refine.<param>=<value>, as the server's samples.png takes them (the page offers the main parameter).
  if (params.has('refine')) $<HTMLSelectElement>('refine').dataset.wanted = params.get('refine')!;
  const refineValue = [...params.entries()].find(([k]) => k.startsWith('refine.'));
  if (refineValue) {
    $('refine-param-name').textContent = refineValue[0].slice('refine.'.length); // kept if it is the method's main parameter
    $<HTMLInputElement>('refine-param').value = refineValue[1];
    $<HTMLInputElement>('refine-param').dataset.touched = '1';
  }
  const models = await listModels();
  if (models.length === 0) throw new Error('no models to show');
  $('compare-field').hidden = state.mode !== 'server';
  $('docs-link').hidden = state.mode !== 'server';
  const select = $<HTMLSelectElement>('model');
  select.replaceChildren(...models.map((m) => new Option(m, m)));
  const wanted = params.get('model');
  select.value = wanted && models.includes(wanted) ? wanted : models[0];
  await generate();
}

if (typeof document !== 'undefined') {
  $('controls').addEventListener('submit', (e) => {
    e.preventDefault();
    // After an API key was asked for, the first Generate also lists the models.
    queue(async () => ($<HTMLSelectElement>('model').options.length === 0 ? start() : generate()));
  });
  $('model').addEventListener('change', () => queue(generate));
  $('device').addEventListener('change', () => queue(generate));
  $('threads').addEventListener('change', threadsChanged);
  $('refine').addEventListener('change', () => {
    refineChanged();
    queue(generate);
  });
  $('refine-param').addEventListener('input', () => ($<HTMLInputElement>('refine-param').dataset.touched = '1'));
  for (const id of ['n', 'scale']) $(id).addEventListener('input', () => ($<HTMLInputElement>(id).dataset.touched = '1'));
  $('download').addEventListener('click', download);
  for (const id of ['t', 'seed-a', 'seed-b']) $(id).addEventListener('input', () => queue(walk));
  queue(start);
}
