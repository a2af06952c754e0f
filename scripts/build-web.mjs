#!/usr/bin/env node
/**
 * Build the browser page into dist/web/ (part of `npm run build`): the page script bundled with
 * esbuild (src/web/page/app.ts with the wganx/web module, the core and onnxruntime-web), its HTML
 * and CSS. That is all the package ships: `wganx serve` hands out onnxruntime-web's WebAssembly
 * files from the installed onnxruntime-web (src/runtime/web-files.ts) and the models from --models.
 *
 * With --static, the folder also gets what a static file host needs: onnxruntime-web's WebAssembly
 * files (same origin: no CDN) and a copy of the bundled models with models/index.json (`npm run
 * build:static` writes web-static/, which is not part of the package).
 *
 *   node scripts/build-web.mjs [--out dist/web] [--static] [--models models] [--default-model <name>]
 *
 * models/index.json lists the model folders by name, `--default-model` first: the page opens it.
 * A model that ships its critic gets its critic.onnx and refine.onnx copied too (the page fetches
 * them when it first refines).
 *
 * onnxruntime-web is bundled in its "extern wasm" form: its .mjs loader and .wasm binary stay
 * separate files beside app.js, which its WASM threads load as their worker script. No source
 * map: the page's sources are not published.
 */
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
/** onnxruntime-web's loaders and binaries: the WebGPU build (JSEP) and the WASM-only build (src/runtime/web-files.ts's ORT_WEB_FILES). */
export const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
const PAGE_FILES = ['index.html', 'style.css'];

/** Model folders under `modelsDir` that hold a generator (manifest.json + the ONNX file it names). */
function generatorFolders(modelsDir) {
  if (!existsSync(modelsDir)) return [];
  return readdirSync(modelsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(modelsDir, d.name, 'manifest.json')))
    .map((d) => d.name)
    .sort();
}

/**
 * Write the page into `outDir` (files are replaced one by one; other files there are left alone,
 * except what an earlier build wrote that this one does not: a source map, and without `static`
 * onnxruntime-web's files and the models' copy).
 */
export async function buildWeb({ outDir = join(ROOT, 'dist', 'web'), static: staticCopy = false, modelsDir = join(ROOT, 'models'), defaultModel = null, minify = true } = {}) {
  const models = staticCopy ? generatorFolders(modelsDir) : [];
  if (defaultModel !== null) {
    const i = models.indexOf(defaultModel);
    if (i < 0) throw new Error(`--default-model ${defaultModel}: no model folder of that name under ${modelsDir} (there are: ${models.join(', ') || 'none'})`);
    models.unshift(...models.splice(i, 1));
  }
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(ROOT, 'src', 'web', 'page', 'app.ts')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['onnxruntime-web-use-extern-wasm'],
    minify,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const f of PAGE_FILES) copyFileSync(join(ROOT, 'src', 'web', 'page', f), join(outDir, f));
  rmSync(join(outDir, 'app.js.map'), { force: true });
  const modelsOut = join(outDir, 'models');
  rmSync(modelsOut, { recursive: true, force: true });
  if (!staticCopy) {
    for (const f of ORT_FILES) rmSync(join(outDir, f), { force: true });
    return { outDir, models };
  }
  const ortDist = dirname(require.resolve('onnxruntime-web')); // …/onnxruntime-web/dist
  for (const f of ORT_FILES) copyFileSync(join(ortDist, f), join(outDir, f));
  // The bundled generators, for static hosts (the server serves its own --models instead).
  for (const name of models) {
    const manifest = JSON.parse(readFileSync(join(modelsDir, name, 'manifest.json'), 'utf8'));
    mkdirSync(join(modelsOut, name), { recursive: true });
    copyFileSync(join(modelsDir, name, 'manifest.json'), join(modelsOut, name, 'manifest.json'));
    const files = [manifest.export.file, manifest.critic?.file, manifest.critic?.refine?.file].filter((f) => typeof f === 'string');
    for (const f of files) copyFileSync(join(modelsDir, name, f), join(modelsOut, name, f));
  }
  writeFileSync(join(modelsOut, 'index.json'), `${JSON.stringify(models)}\n`);
  return { outDir, models };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, static: { type: 'boolean' }, models: { type: 'string' }, 'default-model': { type: 'string' } } });
  const staticCopy = values.static ?? false;
  if (!staticCopy && (values.models !== undefined || values['default-model'] !== undefined)) throw new Error('--models and --default-model shape the static copy: add --static');
  const { outDir, models } = await buildWeb({ outDir: values.out ?? (staticCopy ? join(ROOT, 'web-static') : undefined), static: staticCopy, modelsDir: values.models, defaultModel: values['default-model'] ?? null });
  console.log(staticCopy ? `web: ${outDir} (page, onnxruntime-web files, models: ${models.join(', ') || 'none'})` : `web: ${outDir} (page)`);
}
