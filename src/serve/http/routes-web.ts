/**
 * The browser side of the server: the page at `/` and its files (the build in `dist/web/`, see
 * scripts/build-web.mjs, and onnxruntime-web's WebAssembly files from the installed package), the
 * list of ready models at `/models/index.json` (as a static copy has it), and each ready model's
 * `manifest.json` and ONNX file under `/models/<name>/`, which the wganx/web module fetches.
 *
 * The page's responses are cross-origin isolated (COOP + COEP), which onnxruntime-web needs for
 * WASM threads, and carry a Content-Security-Policy that keeps every request on this origin.
 * Model files carry a strong ETag (their sha256) and revalidate on every use, so a reloaded model
 * reaches the browser at once and an unchanged one is never downloaded twice.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Router } from 'express';
import { readRegularFile } from '../../runtime/model-folder.js';
import { ORT_WEB_FILES, ortWebDir } from '../../runtime/web-files.js';
import { VERSION } from '../../version.js';
import type { Engine } from '../engine/engine.js';
import { HttpError } from './http-error.js';
import { etagFresh, info, lookupModel, shownModels } from './http-util.js';

/** Everything from this origin; WebAssembly may compile; workers from this origin or blobs. */
export const PAGE_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; img-src 'self' blob: data:; style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

function isolate(res: express.Response): void {
  for (const [k, v] of Object.entries(ISOLATION)) res.setHeader(k, v);
}

/** The page's own files: one path segment with an extension (`/app.js`, `/ort-….wasm`); never a folder. */
export const PAGE_ASSET = /^\/[A-Za-z0-9_-][A-Za-z0-9._-]*\.[A-Za-z0-9]+$/;

export function webRouter(engine: Engine, webDir: string): Router {
  const r = express.Router();
  const built = () => existsSync(join(webDir, 'index.html')) && existsSync(join(webDir, 'app.js'));

  r.get('/', (_req, res) => {
    info(res).endpoint = 'page';
    if (!built()) throw new HttpError(503, `the browser page is not built (no ${join('dist', 'web', 'app.js')}): run npm run build; the API docs are at /docs`);
    isolate(res);
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(join(webDir, 'index.html'));
  });

  // The same list a static copy keeps in models/index.json; the header tells the page it has a server behind it.
  r.get('/models/index.json', (_req, res) => {
    info(res).endpoint = 'model-index';
    isolate(res);
    res.setHeader('X-Wganx-Server', VERSION);
    res.setHeader('Cache-Control', 'no-cache');
    res.json(shownModels(engine));
  });

  r.get('/models/:name/:file', async (req, res) => {
    info(res).endpoint = 'model-file';
    const model = lookupModel(engine, req.params.name, res);
    isolate(res);
    if (req.params.file === 'manifest.json') {
      const text = `${JSON.stringify(model.manifest, null, 2)}\n`;
      if (etagFresh(req, res, createHash('sha256').update(text).digest('base64url').slice(0, 27))) return void res.status(304).end();
      res.type('application/json').send(text);
      return;
    }
    if (req.params.file !== model.manifest.export.file) {
      throw new HttpError(404, `model "${model.name}" has manifest.json and ${model.manifest.export.file}, not ${JSON.stringify(req.params.file)}`);
    }
    if (etagFresh(req, res, model.sha256)) return void res.status(304).end();
    // The folder changed since the model loaded (another file, or one that is not a regular file):
    // never hand out bytes that do not match the manifest.
    const bytes = await readRegularFile(model.dir, model.manifest.export.file).catch(() => null);
    if (!bytes || createHash('sha256').update(bytes).digest('hex') !== model.sha256) throw new HttpError(503, `model "${model.name}" is being replaced; try again`, {}, 1);
    res.type('application/octet-stream').send(bytes);
  });

  // The page's own files (scripts, styles), read-only, never a listing; onnxruntime-web's
  // .wasm/.mjs come from the installed package (never copied into dist/web), and only those.
  const staticOptions = {
    index: false,
    redirect: false,
    dotfiles: 'ignore',
    etag: true,
    lastModified: false,
    cacheControl: true,
    maxAge: 0,
    setHeaders: (res: express.Response, file: string) => {
      isolate(res);
      if (file.endsWith('.html')) res.setHeader('Content-Security-Policy', PAGE_CSP);
    },
  } as const;
  const assets = express.static(webDir, staticOptions);
  const ortAssets = express.static(ortWebDir(), staticOptions);
  const ortFiles = new Set<string>(ORT_WEB_FILES.map((f) => `/${f}`));
  r.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // Top-level files only: the static copy's models/ folder is for static hosts (here /models/ is
    // the served models), and a raw single-segment path cannot be decoded into a folder.
    if (!PAGE_ASSET.test(req.path)) return next();
    info(res).endpoint = 'page-asset';
    return ortFiles.has(req.path) ? ortAssets(req, res, next) : assets(req, res, next);
  });
  return r;
}
