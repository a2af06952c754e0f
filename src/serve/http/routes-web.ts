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
 *
 * A page downloads two files, and a hot reload can land between them. So both carry the loaded
 * version (`X-Wganx-Sha256`, `X-Wganx-Model-Version`), a request may name the version it wants
 * (`?sha256=<hex>`, as wganx/web asks for the ONNX file its manifest names), and another version
 * than the loaded one is refused with 409 and the loaded one's sha256: the client fetches the
 * manifest again. The ONNX bytes come from memory (those the sessions were created from), not
 * from the folder, which a replacement may be rewriting: what a manifest names is always what is
 * sent, and a replacement in progress never makes the download fail (docs/serve.md).
 *
 * A model that ships its critic (issue 35) also serves `critic.onnx` and `refine.onnx` as its
 * manifest names them, from memory too; the page fetches them when it first refines. For an ONNX
 * file, `?sha256=` is that file's sha256 as the manifest gives it; `X-Wganx-Sha256` is always the
 * version's (the generator's), so a client checks that every file belongs to its manifest.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Router } from 'express';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Manifest } from '../../core/manifest.js';
import { ORT_WEB_FILES, ortWebDir } from '../../runtime/web-files.js';
import { VERSION } from '../../version.js';
import type { Engine } from '../engine/engine.js';
import type { LoadedModel } from '../engine/model.js';
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

/** The sha256 of the model version a model file belongs to, on both model files. */
export const SHA256_HEADER = 'X-Wganx-Sha256';

/** `?sha256=`: absent (null), or the 64 lowercase hex digits of an ONNX file's sha256. */
function requestedSha256(raw: unknown): string | null {
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || !/^[0-9a-f]{64}$/.test(raw)) {
    throw new InvalidArgumentError('sha256', raw, 'the 64 lowercase hex digits of the ONNX file\'s sha256, as manifest.json\'s export.sha256 gives it');
  }
  return raw;
}

/** The manifest names the bytes it goes with (every sha256 filled in, also when the folder's manifest.json left one out). */
function servedManifest(model: LoadedModel): Manifest {
  const m = model.manifest;
  const critic = m.critic && model.critic ? { ...m.critic, sha256: model.critic.sha256, refine: m.critic.refine && model.refine ? { ...m.critic.refine, sha256: model.refine.sha256 } : m.critic.refine } : m.critic;
  const same = m.export.sha256 === model.sha256 && critic?.sha256 === m.critic?.sha256 && critic?.refine?.sha256 === m.critic?.refine?.sha256;
  return same ? m : { ...m, export: { ...m.export, sha256: model.sha256 }, critic };
}

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

  r.get('/models/:name/:file', (req, res) => {
    info(res).endpoint = 'model-file';
    const model = lookupModel(engine, req.params.name, res);
    isolate(res);
    // The files a browser may fetch: the manifest and the ONNX files it names, as loaded.
    const onnx = [{ file: model.manifest.export.file, sha256: model.sha256, bytes: model.bytes }, ...[model.critic, model.refine].filter((f) => f !== null)];
    const served = onnx.find((f) => f.file === req.params.file);
    if (req.params.file !== 'manifest.json' && !served) {
      throw new HttpError(404, `model "${model.name}" has manifest.json and ${onnx.map((f) => f.file).join(', ')}, not ${JSON.stringify(req.params.file)}`);
    }
    const wanted = requestedSha256(req.query.sha256);
    if (wanted !== null && wanted !== (served ?? onnx[0]).sha256) {
      const what = served && served !== onnx[0] ? `its ${served.file} is sha256 ${served.sha256.slice(0, 12)}…` : `sha256 ${model.sha256.slice(0, 12)}…`;
      throw new HttpError(409, `model "${model.name}" is now version ${JSON.stringify(model.manifest.version)} (${what}), not sha256 ${wanted.slice(0, 12)}…: fetch manifest.json again`, { model: model.name, version: model.manifest.version, sha256: model.sha256 });
    }
    res.setHeader(SHA256_HEADER, model.sha256);
    res.setHeader('X-Wganx-Model-Version', model.manifest.version);
    if (req.params.file === 'manifest.json') {
      const manifest = servedManifest(model);
      const text = `${JSON.stringify(manifest, null, 2)}\n`;
      if (etagFresh(req, res, createHash('sha256').update(text).digest('base64url').slice(0, 27))) return void res.status(304).end();
      res.type('application/json').send(text);
      return;
    }
    const file = served!;
    if (etagFresh(req, res, file.sha256)) return void res.status(304).end();
    res.type('application/octet-stream').send(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength));
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
