/**
 * The npm package as a dependent project gets it: `npm pack`'s file list and size, npm commands
 * without the "Unknown project config" warning, and the README's library example run as written in
 * a temporary project that installs the packed tarball offline.
 *
 * Both pack the working tree's dist/ as it is (`--ignore-scripts`: building is `npm run build`'s
 * job, not a test's), so they first check that dist/ is at least as new as every source file.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * The packaging issue's target for the packed tarball (it carried a 42 MB onnxruntime-web copy), for
 * everything but the bundled models' critics: issue 35 ships each bundled generator's critic
 * (`critic.onnx`) and its gradient graph (`refine.onnx`, the generator and the critic composed),
 * about 6 MB of float32 weights that do not compress. Those are bounded on their own below: no model
 * ships more than one more copy of its generator's and critic's weights.
 */
const MAX_PACKED_BYTES = 5_000_000;
const CRITIC_FILE = /^models\/[^/]+\/(critic|refine)\.onnx$/;
const tmp = mkdtempSync(join(tmpdir(), 'wganx-package-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...env }, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return r;
}

/** Files under `dir` (recursively) whose name matches `pattern`. */
function filesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && pattern.test(d.name))
    .map((d) => join(d.parentPath, d.name));
}

/** Refuse to test a stale build: every src/**.ts must be older than what it became in dist/. */
function assertDistFresh(): void {
  const stale: string[] = [];
  const page = statSync(join(ROOT, 'dist', 'web', 'app.js'), { throwIfNoEntry: false });
  for (const file of filesUnder(join(ROOT, 'src'), /\.ts$/)) {
    const rel = relative(join(ROOT, 'src'), file);
    const built = rel.startsWith(join('web', 'page')) ? page : statSync(join(ROOT, 'dist', rel.replace(/\.ts$/, '.js')), { throwIfNoEntry: false });
    if (!built || built.mtimeMs < statSync(file).mtimeMs) stale.push(rel);
  }
  assert.deepEqual(stale, [], 'dist/ is older than these sources: run npm run build first');
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number }[];
}

test('npm pack: dist without source maps or an onnxruntime-web copy, each model once, under 5 MB besides the critics (each at most one copy of its weights); no npm config warning', () => {
  assertDistFresh();
  const r = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown (project|user) config/, 'npm warns about a config key');
  const [pack] = JSON.parse(r.stdout) as PackResult[];
  const paths = pack.files.map((f) => f.path);
  assert.deepEqual(paths.filter((p) => p.endsWith('.map')), [], 'no source maps');
  assert.deepEqual(paths.filter((p) => /(^|\/)ort-wasm|\.wasm$/.test(p)), [], "no copy of onnxruntime-web's files (the server serves the installed package's)");
  assert.deepEqual(paths.filter((p) => p.startsWith('dist/web/models/')), [], 'no second copy of the models');
  const onnx = paths.filter((p) => p.endsWith('.onnx')).sort();
  const shipped = readdirSync(join(ROOT, 'models'))
    .flatMap((m) => readdirSync(join(ROOT, 'models', m)).filter((f) => f.endsWith('.onnx')).map((f) => `models/${m}/${f}`))
    .sort();
  assert.deepEqual(onnx, shipped, 'each bundled model exactly once, under models/');
  for (const p of ['package.json', 'README.md', 'dist/cli.js', 'dist/index.js', 'dist/runtime/node.js', 'dist/export/index.js', 'dist/web/index.js', 'dist/web/app.js', 'dist/web/index.html', 'dist/web/style.css']) assert.ok(paths.includes(p), `${p} ships`);
  // The critics' files are subtracted at their unpacked size, so `rest` is a little below the
  // tarball without them (gzip saves under 10 % on float32 weights).
  const size = (path: string): number => pack.files.find((f) => f.path === path)?.size ?? 0;
  const criticBytes = pack.files.filter((f) => CRITIC_FILE.test(f.path)).reduce((a, f) => a + f.size, 0);
  const rest = pack.size - criticBytes;
  assert.ok(rest < MAX_PACKED_BYTES, `the tarball is ${pack.size} bytes packed (${pack.unpackedSize} unpacked, ${pack.entryCount} files), ${rest} without the critics' ${criticBytes} bytes; the target is under ${MAX_PACKED_BYTES}`);
  for (const m of readdirSync(join(ROOT, 'models'))) {
    const refine = size(`models/${m}/refine.onnx`);
    const weights = size(`models/${m}/generator.onnx`) + size(`models/${m}/critic.onnx`);
    assert.ok(refine <= 1.1 * weights, `models/${m}/refine.onnx is ${refine} bytes, more than one copy of the generator's and critic's ${weights}`);
  }
});

/**
 * A lockfile for a project that depends only on the packed tarball: wganx's own production
 * dependencies exactly as package-lock.json pins them (so `npm ci --offline` takes them from npm's
 * cache by their integrity, without the registry).
 */
function dependentLock(tarball: string): object {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    '': { name: 'dependent', version: '1.0.0', dependencies: { wganx: `file:${tarball}` } },
    'node_modules/wganx': { version: pkg.version, resolved: `file:${tarball}`, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true) continue;
    const { devOptional: _devOptional, ...kept } = entry;
    packages[path] = kept;
  }
  return { name: 'dependent', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/** The first code block of the README's "From code" section. */
function readmeLibraryExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## From code'));
  const block = /```(?:js|ts)\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'the README has a library example under "## From code"');
  return block[1];
}

test("the README's library example runs as written in a project that installs the packed wganx offline", () => {
  assertDistFresh();
  const project = join(tmp, 'dependent');
  const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
  assert.equal(packed.status, 0, packed.stderr);
  const [{ filename }] = JSON.parse(packed.stdout) as PackResult[];
  rmSync(project, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'dependent', version: '1.0.0', type: 'module', private: true, dependencies: { wganx: `file:../${filename}` } }, null, 2));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(dependentLock(`../${filename}`), null, 2));
  // Offline: nothing may come from the network (the README's install advice for a dependent project).
  const install = run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], project, { ONNXRUNTIME_NODE_INSTALL: 'skip' });
  assert.equal(install.status, 0, `npm ci --offline failed:\n${install.stderr.slice(-3000)}`);
  assert.ok(existsSync(join(project, 'node_modules', 'wganx', 'models', 'mnist-dcgan', 'manifest.json')));

  writeFileSync(join(project, 'example.mjs'), readmeLibraryExample());
  const example = run(process.execPath, ['example.mjs'], project);
  assert.equal(example.status, 0, `the README example failed:\n${example.stderr.slice(-3000)}`);
  assert.match(example.stdout, /^cpu \[/m, 'it printed the device and the refusals');
  // exportModel wrote into the dependent project's own models/, not into the package.
  const manifest = JSON.parse(readFileSync(join(project, 'models', 'tiny', 'manifest.json'), 'utf8')) as { name: string };
  assert.equal(manifest.name, 'tiny');
  assert.equal(existsSync(join(project, 'node_modules', 'wganx', 'models', 'tiny')), false);
});
