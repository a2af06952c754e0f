/**
 * The synchronous products on onnxruntime-node (src/runtime/node-gemm.ts) that `wganx train`
 * hands wasm's matrix products to: every operand layout, the bias row, against a float64 loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openNodeGemm } from '../../src/runtime/node-gemm.js';
import { CounterRng } from '../../src/core/random.js';

const rng = new CounterRng(20261130, 3);

/** c = op(a)·op(b) (+ bias) in float64. */
function reference(a: Float32Array, b: Float32Array, bias: Float32Array | null, m: number, k: number, n: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let p = 0; p < k; p++) s += a[ta ? p * m + i : i * k + p] * b[tb ? j * k + p : p * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

test('openNodeGemm opens once per thread count and computes op(a)·op(b) + bias for every layout', () => {
  const gemm = openNodeGemm({ threads: 1 });
  assert.notEqual(typeof gemm, 'string', String(gemm));
  if (typeof gemm === 'string') return;
  assert.equal(openNodeGemm({ threads: 1 }), gemm);
  assert.match(gemm.describe, /^onnxruntime-node \d+\.\d+\.\d+ \(MLAS\), 1 thread$/);
  for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [64, 512, 33]]) {
    const a = rng.normal(m * k);
    const b = rng.normal(k * n);
    const bias = rng.normal(n);
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        for (const withBias of [false, true]) {
          const got = gemm.run(a, b, withBias ? bias : null, m, k, n, ta, tb);
          const want = reference(a, b, withBias ? bias : null, m, k, n, ta, tb);
          assert.equal(got.length, m * n);
          for (let i = 0; i < want.length; i++) {
            if (!(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) assert.fail(`${[m, k, n]} transA ${ta} transB ${tb} bias ${withBias} [${i}]: ${got[i]} vs ${want[i]}`);
          }
        }
      }
    }
  }
});

test('two threads give the same products, bit for bit, as one', () => {
  const one = openNodeGemm({ threads: 1 });
  const two = openNodeGemm({ threads: 2 });
  assert.ok(typeof one !== 'string' && typeof two !== 'string');
  const [m, k, n] = [256, 300, 130];
  const a = rng.normal(m * k);
  const b = rng.normal(k * n);
  assert.deepEqual(two.run(a, b, null, m, k, n, false, true), one.run(a, b, null, m, k, n, false, true));
});
