/**
 * The model registry: every sub-folder of the models folder, loaded or not, with its reason.
 *
 * `scan()` compares each folder's files (name, size, mtime, inode) with what is loaded: new
 * folders are loaded, changed ones are loaded again and swapped in only once the new version is
 * warm (requests in flight on the old version complete on it, then its sessions close), removed
 * ones are drained and closed. A model that fails to load is listed with its reason and never
 * affects the others; a failed replacement keeps the old version serving and reports the error. A
 * model whose session thread crashes is loaded again at once. Loads run one at a time.
 * Names in requests are only ever looked up in this map: no request path reaches the file system.
 *
 * The models folder is a folder of model folders (`models/`), or one model folder (it holds
 * manifest.json itself: `models/ring`), which is then the one model, named after the folder.
 *
 * @example
 *   const reg = new ModelRegistry('models', (dir, name) => loadModel(dir, name, ctx), logger);
 *   await reg.scan();
 *   reg.get('ring')?.batcher.submit(…);
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { MODEL_NAME_PATTERN } from '../../core/manifest.js';
import type { LoadedModel } from './model.js';
import type { Logger } from '../options.js';

export const MODEL_STATES = ['loading', 'ready', 'failed'] as const;
export type ModelState = (typeof MODEL_STATES)[number];

export interface ModelEntry {
  name: string;
  state: ModelState;
  /** Why the model is not ready: state `failed`, or `loading` again after its sessions stopped. */
  reason: string | null;
  /** A replacement that failed while the previous version keeps serving. */
  reloadError: string | null;
  model: LoadedModel | null;
  fingerprint: string;
}

export type ModelLoader = (dir: string, name: string) => Promise<LoadedModel>;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A load that did not finish within `--load-timeout`. */
export class LoadTimeout extends Error {
  override name = 'LoadTimeout';
}

/** Hidden and temporary folders (e.g. an atomic write in progress) are not models. */
function isCandidate(name: string): boolean {
  return !name.startsWith('.') && !name.endsWith('.tmp');
}

async function fingerprint(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const parts: string[] = [];
  for (const n of names) {
    try {
      const s = await stat(path.join(dir, n));
      if (s.isFile()) parts.push(`${n}:${s.size}:${s.mtimeMs}:${s.ino}`);
    } catch {
      parts.push(`${n}:gone`);
    }
  }
  return parts.join('|');
}

export interface RegistryOptions {
  loadTimeoutMs: number;
  /** `modelsDir` is itself one model folder (see {@link isModelFolder}). */
  single?: boolean;
}

/** A folder holding manifest.json is one model folder (wganx export writes manifest.json last). */
export async function isModelFolder(dir: string): Promise<boolean> {
  return stat(path.join(dir, 'manifest.json')).then(() => true, () => false);
}

export class ModelRegistry {
  private readonly entries = new Map<string, ModelEntry>();
  private scanning: Promise<void> | null = null;
  /** Loads run one at a time, whether a scan or a crashed session asked for them (see {@link serial}). */
  private loads: Promise<void> = Promise.resolve();
  private rescanRequested = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Old versions still finishing their requests. */
  private readonly retiring = new Set<Promise<void>>();
  /** Models with a reload queued or running because a session stopped (one at a time per model). */
  private readonly reloading = new Set<string>();
  /** Folders without manifest.json already reported as skipped (logged once each). */
  private readonly skipped = new Set<string>();
  /** Set after the first scan completes. */
  initialScanDone = false;

  /** Prefixes of the models folder's paths, cut from what clients see (see {@link clientText}). */
  private readonly prefixes: string[];

  constructor(
    readonly modelsDir: string,
    private readonly loader: ModelLoader,
    private readonly logger: Logger,
    private readonly opts: RegistryOptions = { loadTimeoutMs: 120_000 },
    private readonly onChange: () => void = () => {},
  ) {
    // One model folder: its parent's path is the server's own, and "<name>/generator.onnx" what clients see.
    const root = opts.single ? path.dirname(modelsDir) : modelsDir;
    const given = path.normalize(root);
    this.prefixes = [...new Set([path.resolve(root), given])].filter((p) => p !== '.' && p !== '').map((p) => (p.endsWith(path.sep) ? p : p + path.sep));
  }

  /**
   * A reason as clients may see it: paths relative to the models folder (the server's own
   * folders stay out of responses; the log keeps the full text).
   */
  clientText(text: string): string {
    let out = text;
    for (const p of this.prefixes) out = out.split(p).join('');
    return out;
  }

  /**
   * Run the loader with a deadline: a load that hangs (a file on a dead network mount, a driver
   * that never answers) fails with {@link LoadTimeout} and frees the queue of loads; if it ever
   * finishes, its sessions are closed and `lateEnd` runs (the hang was transient: load again).
   * No new load of the folder starts while one hangs: each would hold a thread of libuv's pool.
   */
  private loadWithin(dir: string, name: string, lateEnd: () => void): Promise<LoadedModel> {
    const ms = this.opts.loadTimeoutMs;
    const load = this.loader(dir, name);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new LoadTimeout(`loading did not finish within --load-timeout (${ms} ms); a model file may be on a hung mount`));
        void load.then((late) => late.batcher.close(), () => {}).finally(lateEnd);
      }, ms);
    });
    return Promise.race([load, deadline]).finally(() => clearTimeout(timer));
  }

  /** The ready version of a model, or null. */
  get(name: string): LoadedModel | null {
    const e = this.entries.get(name);
    return e?.state === 'ready' ? e.model : null;
  }

  entry(name: string): ModelEntry | undefined {
    return this.entries.get(name);
  }

  list(): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Re-read the models folder; concurrent calls share one scan (and queue at most one more). */
  scan(): Promise<void> {
    if (this.scanning) {
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescanRequested = false;
        await this.scanOnce();
      } while (this.rescanRequested && !this.closed);
    })().finally(() => {
      this.scanning = null;
      this.initialScanDone = true;
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    if (this.opts.single) {
      const name = path.basename(path.resolve(this.modelsDir));
      if (!(await isModelFolder(this.modelsDir))) {
        if (this.entries.has(name)) this.remove(name);
        return;
      }
      await this.serial(() => this.refresh(name, this.modelsDir));
      return;
    }
    let dirents;
    try {
      dirents = await readdir(this.modelsDir, { withFileTypes: true });
    } catch (err) {
      this.logger.warn(`cannot read the models folder ${this.modelsDir}: ${message(err)}; keeping the models already loaded`);
      return;
    }
    const seen = new Set<string>();
    const work: (() => Promise<void>)[] = [];
    for (const d of dirents) {
      if (!isCandidate(d.name)) continue;
      const dir = path.join(this.modelsDir, d.name);
      let isDir = d.isDirectory();
      if (d.isSymbolicLink()) isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
      if (!isDir) continue;
      // A generator folder holds manifest.json (wganx export writes it last). Other folders, such
      // as models/mnist-evaluator (a classifier with its own evaluator.json), are not served.
      if (!(await isModelFolder(dir))) {
        if (!this.skipped.has(d.name)) this.logger.info(`skipping ${dir}: no manifest.json, so not a generator folder`);
        this.skipped.add(d.name);
        continue;
      }
      this.skipped.delete(d.name);
      seen.add(d.name);
      work.push(() => this.refresh(d.name, dir));
    }
    for (const name of [...this.entries.keys()]) if (!seen.has(name)) this.remove(name);
    // One load at a time: onnxruntime's WebGPU provider crashes when sessions are created on
    // several threads at once (seen with SwiftShader), and loads compete for the same cores anyway.
    for (const load of work) await this.serial(load);
  }

  /** Runs `load` after every load queued before it: two loads of one model never overlap. */
  private serial(load: () => Promise<void>): Promise<void> {
    const run = this.loads.then(load);
    this.loads = run.catch(() => {});
    return run;
  }

  /** Load `name` from `dir` if its files changed since the last load (or always, with `force`). */
  private async refresh(name: string, dir: string, force = false): Promise<void> {
    let fp: string;
    try {
      fp = await fingerprint(dir);
    } catch (err) {
      fp = `unreadable:${message(err)}`;
    }
    const old = this.entries.get(name);
    if (old && old.fingerprint === fp && !force) return;
    if (!MODEL_NAME_PATTERN.test(name)) {
      this.entries.set(name, { name, state: 'failed', reason: `folder name "${name}" is not a model name (${MODEL_NAME_PATTERN})`, reloadError: null, model: null, fingerprint: fp });
      this.logger.warn(`model folder ${dir} failed: its name is not a model name (${MODEL_NAME_PATTERN}); rename it`);
      this.onChange();
      return;
    }
    const previous = old?.state === 'ready' ? old.model : null;
    const entry: ModelEntry = old ?? { name, state: 'loading', reason: null, reloadError: null, model: null, fingerprint: fp };
    entry.fingerprint = fp;
    if (!previous) {
      if (entry.state === 'failed') entry.reason = null; // the old failure no longer applies while the new files load
      entry.state = 'loading';
    }
    this.entries.set(name, entry);
    this.onChange();
    try {
      // A timed-out load that ends after all: forget the fingerprint, so the next scan loads the folder again.
      const model = await this.loadWithin(dir, name, () => {
        if (this.entries.get(name) === entry && entry.fingerprint === fp) entry.fingerprint = '';
      });
      if (this.closed || this.entries.get(name) !== entry) {
        await model.batcher.close();
        return;
      }
      // The previous version may have lost its last session while this one loaded (then it is retired already).
      const replacing = previous !== null && entry.model === previous;
      model.batcher.onSessionLost((err, all) => this.sessionLost(entry, model, err, all));
      entry.model = model;
      entry.state = 'ready';
      entry.reason = null;
      entry.reloadError = null;
      if (model.warning) this.logger.warn(`model "${name}": ${model.warning}`);
      this.logger.info(`${replacing ? 'replaced' : 'loaded'} model "${name}" version ${model.manifest.version} (sha256 ${model.sha256.slice(0, 12)}…, warm-up ${model.warmupMs.toFixed(0)} ms; device ${model.device.choice ?? model.device.device})`);
      if (replacing) this.retire(previous);
    } catch (err) {
      if (previous !== null && entry.model === previous) {
        entry.reloadError = this.clientText(message(err));
        this.logger.error(`model "${name}": the new files failed to load, version ${previous.manifest.version} keeps serving: ${message(err)}`);
      } else {
        entry.state = 'failed';
        entry.reason = this.clientText(message(err));
        entry.model = null;
        this.logger.error(`model "${name}" is not ready: ${message(err)}`);
      }
    }
    this.onChange();
  }

  /**
   * A session of `model` stopped on its own (its worker thread crashed): load this model's files
   * again at once (only this model: other folders wait for the next scan). While other sessions
   * of the version are left it keeps serving, as during a replacement; with none left the model is
   * `loading` (503 with Retry-After) until the new load is warm.
   */
  private sessionLost(entry: ModelEntry, model: LoadedModel, err: Error, all: boolean): void {
    if (this.closed || this.entries.get(entry.name) !== entry || entry.model !== model) return; // already replaced or removed
    this.logger.error(`model "${entry.name}": ${err.message}; loading it again${all ? '' : ' (its other sessions keep serving)'}`);
    if (all) {
      entry.state = 'loading';
      entry.reason = this.clientText(`session stopped: ${err.message}`);
      entry.model = null;
      this.retire(model);
      this.onChange();
    }
    // A reload already on its way loads the same files: its outcome holds for this loss too.
    if (this.reloading.has(entry.name)) return;
    this.reloading.add(entry.name);
    void this.serial(async () => {
      try {
        // Skipped when the model was removed, or a scan has loaded new files for it since.
        if (this.closed || this.entries.get(entry.name) !== entry || (entry.model !== model && entry.model !== null)) return;
        await this.refresh(entry.name, this.opts.single ? this.modelsDir : path.join(this.modelsDir, entry.name), true);
      } finally {
        this.reloading.delete(entry.name);
      }
    });
  }

  private remove(name: string): void {
    const e = this.entries.get(name);
    this.entries.delete(name);
    if (e?.model) this.retire(e.model);
    this.logger.info(`model "${name}" removed`);
    this.onChange();
  }

  /** Let an old version finish its queued and running requests, then close its sessions. */
  private retire(model: LoadedModel): void {
    const p: Promise<void> = model.batcher.close().catch((err) => this.logger.error(`closing model "${model.name}": ${message(err)}`));
    this.retiring.add(p);
    void p.finally(() => this.retiring.delete(p));
  }

  /** Re-scan every `intervalMs` (hot reload). */
  watch(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.scan(), intervalMs);
    this.timer.unref();
  }

  /**
   * Stop watching, let every model finish its requests (up to the caller's deadline), close the
   * sessions. A load still running is not waited for: it closes its own sessions when it ends.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const models = [...this.entries.values()].flatMap((e) => (e.model ? [e.model] : []));
    await Promise.all([...models.map((m) => m.batcher.close()), ...this.retiring]);
  }

  /** Close now, failing whatever is still queued. */
  async abort(reason: string): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const models = [...this.entries.values()].flatMap((e) => (e.model ? [e.model] : []));
    await Promise.all(models.map((m) => m.batcher.abort(reason)));
  }
}
