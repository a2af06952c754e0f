/**
 * tfjs's WebGPU backend in Node (src/tfjs/webgpu.ts), exercised without a GPU through SwiftShader,
 * the Vulkan driver Debian's chromium ships. The Vulkan loader is found at process start, so every
 * WebGPU run is a child process with LD_LIBRARY_PATH and VK_ICD_FILENAMES pointing at chromium's
 * copies. Checked: the penalty's gradient against finite differences (MLP and DCGAN critics), a
 * short training run against the cpu backend, checkpoints that move between WebGPU and wasm, and
 * `auto`, which never picks a software adapter.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM_LIB = '/usr/lib/chromium';
const SWIFTSHADER = { LD_LIBRARY_PATH: CHROMIUM_LIB, VK_ICD_FILENAMES: join(CHROMIUM_LIB, 'vk_swiftshader_icd.json') };
/**
 * |a − b| ≤ ATOL + RTOL·|b| for every logged figure: float32 kernels that sum in other orders differ
 * in the last bits, and losses that are differences of larger critic scores (near 0 for the ring)
 * keep those bits' absolute size.
 */
const RTOL = 1e-3;
const ATOL = 1e-4;
const tmp = mkdtempSync(join(tmpdir(), 'wganx-webgpu-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function node(args: string[], env: Record<string, string> = {}) {
  assert.ok(existsSync(SWIFTSHADER.VK_ICD_FILENAMES), `${SWIFTSHADER.VK_ICD_FILENAMES} is missing: apt-get install chromium (.ci/run does)`);
  // Without NODE_TEST_CONTEXT a nested `node --test` reports as text, not to this runner.
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  return spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...inherited, ...env }, encoding: 'utf8', timeout: 600_000 });
}

function train(out: string, backend: string, extra: string[], env: Record<string, string> = {}) {
  const r = node([join(ROOT, 'src', 'cli.ts'), 'train', '--out', out, '--backend', backend, '--no-eval', '--sample-every', '0', '--log-every', '1', '--models-dir', join(tmp, 'models'), ...extra], env);
  assert.equal(r.status, 0, r.stderr);
  return r;
}

type Metrics = Record<string, number>[];
const metrics = (out: string): Metrics => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

function assertClose(a: Metrics, b: Metrics, what: string): void {
  assert.deepEqual(a.map((r) => r.step), b.map((r) => r.step), what);
  for (const [i, r] of a.entries()) {
    for (const k of ['w', 'criticLoss', 'generatorLoss', 'penalty', 'classLoss']) {
      if (r[k] === undefined && b[i][k] === undefined) continue;
      const diff = Math.abs(r[k] - b[i][k]);
      assert.ok(diff <= ATOL + RTOL * Math.abs(b[i][k]), `${what}: step ${r.step} ${k}: ${r[k]} vs ${b[i][k]}`);
    }
  }
}

test('the penalty gradient of the MLP and DCGAN critics matches finite differences on WebGPU', () => {
  const r = node(['--test', '--test-name-pattern', '^webgpu', join(ROOT, 'test', 'train', 'penalty-gradient.test.ts')], { ...SWIFTSHADER, WGANX_WEBGPU_TEST: '1' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /# pass 3\b/);
});

test('a conditional DCGAN trains on WebGPU with the cpu backend\'s losses, and exports', () => {
  const args = ['--dataset', 'mnist', '--conditional', '--arch', 'dcgan', '--hidden', '8', '--batch', '8', '--latent', '16', '--steps', '3', '--n-critic', '2', '--ac-weight', '1'];
  const gpu = train(join(tmp, 'gpu'), 'webgpu', [...args, '--name', 'gpu'], SWIFTSHADER);
  assert.match(gpu.stderr, /backend: webgpu \(requested with --backend \(.*SwiftShader.*, a software renderer\)\)/);
  assert.match(gpu.stderr, /the trained weights move to the cpu backend/);
  train(join(tmp, 'cpu'), 'cpu', [...args, '--no-export']);
  assertClose(metrics(join(tmp, 'gpu')), metrics(join(tmp, 'cpu')), 'webgpu vs cpu');
  assert.ok(existsSync(join(tmp, 'models', 'gpu', 'generator.onnx')), 'the export passed its parity check');
});

test('checkpoints move between WebGPU and wasm: either half resumes on the other backend', () => {
  const args = ['--dataset', 'ring8', '--hidden', '16', '--batch', '32', '--latent', '2', '--n-critic', '2', '--checkpoint-every', '2', '--no-export'];
  train(join(tmp, 'whole'), 'wasm', [...args, '--steps', '4']);
  const whole = metrics(join(tmp, 'whole'));
  for (const [first, second] of [['webgpu', 'wasm'], ['wasm', 'webgpu']]) {
    const out = join(tmp, `${first}-then-${second}`);
    train(out, first, [...args, '--steps', '2'], first === 'webgpu' ? SWIFTSHADER : {});
    const resumed = train(out, second, [...args, '--steps', '4', '--resume'], second === 'webgpu' ? SWIFTSHADER : {});
    assert.match(resumed.stderr, /resuming from .* \(step 2\)/);
    assertClose(metrics(out), whole, `${first} then ${second}`);
  }
});

test('auto never picks a software WebGPU adapter: it says why and trains on wasm', () => {
  const r = node([join(ROOT, 'src', 'cli.ts'), 'train', '--dataset', 'ring8', '--steps', '1', '--hidden', '8', '--batch', '8', '--out', join(tmp, 'auto'), '--no-export', '--no-eval', '--sample-every', '0'], SWIFTSHADER);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /backend: wasm \(no native backend installed .*; webgpu: the only WebGPU adapter is a software renderer \(.*\), slower than the wasm backend; --backend webgpu forces it \(for tests\); wasm has every kernel/);
});
