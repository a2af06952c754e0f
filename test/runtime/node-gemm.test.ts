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

test('two threads give the same products, bit for bit, as one, small (run on one thread) and large', () => {
  const one = openNodeGemm({ threads: 1 });
  const two = openNodeGemm({ threads: 2 });
  assert.ok(typeof one !== 'string' && typeof two !== 'string');
  for (const [m, k, n] of [[256, 300, 130], [64, 100, 33]]) {
    const a = rng.normal(m * k);
    const b = rng.normal(n * k);
    const bias = rng.normal(n);
    const got = two.run(a, b, bias, m, k, n, true, true);
    assert.deepEqual(got, one.run(a, b, bias, m, k, n, true, true));
    const want = reference(a, b, bias, m, k, n, true, true);
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) assert.fail(`${[m, k, n]} [${i}]: ${got[i]} vs ${want[i]}`);
    }
  }
});

/** conv2d in float64, tfjs layouts (x NHWC, w [KH, KW, Ci, Co]), explicit pads, no bias. */
function convReference(x: Float32Array, [b, h, w, ci]: number[], f: Float32Array, [kh, kw, , co]: number[], s: number, [pt, pl, pb, pr]: number[]): { y: Float64Array; oh: number; ow: number } {
  const oh = Math.floor((h + pt + pb - kh) / s) + 1;
  const ow = Math.floor((w + pl + pr - kw) / s) + 1;
  const y = new Float64Array(b * oh * ow * co);
  for (let n = 0; n < b; n++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let o = 0; o < co; o++) {
    let sum = 0;
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const iy = oy * s + ky - pt;
      const ix = ox * s + kx - pl;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      for (let c = 0; c < ci; c++) sum += x[((n * h + iy) * w + ix) * ci + c] * f[((ky * kw + kx) * ci + c) * co + o];
    }
    y[((n * oh + oy) * ow + ox) * co + o] = sum;
  }
  return { y, oh, ow };
}

test('convTranspose is the adjoint of a convolution in NHWC: <conv(x), dy> = <x, convTranspose(dy)>', () => {
  const gemm = openNodeGemm({ threads: 2 });
  assert.ok(typeof gemm !== 'string', String(gemm));
  for (const [b, h, ci, co, k, s, pads] of [[2, 14, 3, 5, 4, 2, [1, 1, 1, 1]], [1, 9, 2, 4, 3, 1, [0, 0, 0, 0]], [3, 8, 4, 2, 5, 3, [2, 1, 2, 2]]] as const) {
    const x = rng.normal(b * h * h * ci);
    const f = rng.normal(k * k * ci * co);
    const { y, oh, ow } = convReference(x, [b, h, h, ci], f, [k, k, ci, co], s, [...pads]);
    const dy = rng.normal(b * oh * ow * co);
    const dx = gemm.convTranspose(dy, [b, oh, ow, co], f, [k, k, ci, co], { strides: [s, s], pads, outSize: [h, h] });
    assert.equal(dx.length, x.length);
    let left = 0;
    let right = 0;
    for (let i = 0; i < dy.length; i++) left += y[i] * dy[i];
    for (let i = 0; i < x.length; i++) right += x[i] * dx[i];
    assert.ok(Math.abs(left - right) <= 1e-4 * (1 + Math.abs(left)), `adjoint ${[b, h, ci, co, k, s]}: ${left} vs ${right}`);
  }
  // A size the transposed convolution cannot reach is refused, not computed wrong.
  assert.throws(() => gemm.convTranspose(rng.normal(7 * 7 * 2), [1, 7, 7, 2], rng.normal(16 * 2), [4, 4, 1, 2], { strides: [2, 2], pads: [1, 1, 1, 1], outSize: [20, 20] }), /ConvTranspose cannot reach \[20, 20\] from \[7, 7\]/);
});

/** The transposed convolution (conv2d's input gradient) in float64: dx[b, iy, ix, c] = Σ dy[b, oy, ox, o]·w[ky, kx, c, o]. */
function convTransposeReference(dy: Float32Array, [b, oh, ow, co]: number[], f: Float32Array, [kh, kw, ci]: number[], s: number, [pt, pl]: number[], [h, w]: number[]): Float64Array {
  const dx = new Float64Array(b * h * w * ci);
  for (let n = 0; n < b; n++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
    const iy = oy * s + ky - pt;
    const ix = ox * s + kx - pl;
    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
    for (let c = 0; c < ci; c++) {
      let sum = 0;
      for (let o = 0; o < co; o++) sum += dy[((n * oh + oy) * ow + ox) * co + o] * f[((ky * kw + kx) * ci + c) * co + o];
      dx[((n * h + iy) * w + ix) * ci + c] += sum;
    }
  }
  return dx;
}

function assertNear(got: Float32Array, want: Float64Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) assert.fail(`${what} [${i}]: ${got[i]} vs ${want[i]}`);
  }
}

/**
 * Shapes through MLAS's NCHWc kernels: channels in blocks (32, 20: padded, 64), as NCHW (3, 2, 4),
 * outputs padded (5, 3, 36); whole blocks (3 → 32, 32 → 64) have their filters reordered in the graph.
 */
const DIRECT_CASES = [
  [2, 14, 3, 5, 4, 2, [1, 1, 1, 1]],
  [2, 12, 3, 32, 4, 2, [1, 1, 1, 1]],
  [1, 9, 2, 4, 3, 1, [0, 0, 0, 0]],
  [3, 8, 4, 2, 5, 3, [2, 1, 2, 2]],
  [2, 16, 32, 64, 4, 2, [1, 1, 1, 1]],
  [2, 8, 64, 3, 4, 2, [1, 1, 1, 1]],
  [2, 7, 20, 36, 3, 1, [1, 1, 1, 1]],
] as const;

test('conv2d (MLAS NCHWc kernels) equals a float64 convolution with and without bias, for each activation; a shape they cannot read gives null', () => {
  const gemm = openNodeGemm({ threads: 2 });
  assert.ok(typeof gemm !== 'string', String(gemm));
  let ran = 0;
  for (const [b, h, ci, co, k, s, pads] of DIRECT_CASES) {
    const x = rng.normal(b * h * h * ci);
    const f = rng.normal(k * k * ci * co);
    const bias = rng.normal(co);
    const { y } = convReference(x, [b, h, h, ci], f, [k, k, ci, co], s, [...pads]);
    for (const activation of [undefined, 'relu', 'leakyrelu'] as const) {
      const withBias = activation !== undefined;
      const got = gemm.conv2d!(x, [b, h, h, ci], f, [k, k, ci, co], withBias ? bias : null, { strides: [s, s], pads, activation, alpha: 0.3 });
      if (!got) continue; // a processor without NCHWc kernels (checked below on x64)
      ran++;
      const want = y.map((v, i) => {
        const z = v + (withBias ? bias[i % co] : 0);
        return activation === 'relu' ? Math.max(0, z) : activation === 'leakyrelu' && z < 0 ? 0.3 * z : z;
      });
      assertNear(got, want, `conv2d ${[b, h, ci, co, k, s]} ${activation ?? 'linear'}`);
    }
  }
  // x64's MLAS has the kernels (AVX2 or AVX-512): every case ran there.
  if (process.arch === 'x64') assert.equal(ran, DIRECT_CASES.length * 3);
  // 18 channels: not a block, not a multiple of 4 (ReorderInput's rule): left to products.
  assert.equal(gemm.conv2d!(rng.normal(2 * 8 * 8 * 18), [2, 8, 8, 18], rng.normal(9 * 18 * 4), [3, 3, 18, 4], null, { strides: [1, 1], pads: [1, 1, 1, 1] }), null);
});

test('convTranspose (by stride phases on the NCHWc kernels where the stride tiles dx, else ConvTranspose) equals a float64 transposed convolution, into a given output too', () => {
  const gemm = openNodeGemm({ threads: 2 });
  assert.ok(typeof gemm !== 'string', String(gemm));
  for (const [b, h, ci, co, k, s, pads] of [...DIRECT_CASES, [2, 8, 18, 5, 3, 2, [1, 1, 0, 0]], [1, 4, 16, 16, 1, 1, [0, 0, 0, 0]]] as const) {
    const oh = Math.floor((h + pads[0] + pads[2] - k) / s) + 1;
    const ow = Math.floor((h + pads[1] + pads[3] - k) / s) + 1;
    const dy = rng.normal(b * oh * ow * co);
    const f = rng.normal(k * k * ci * co);
    const want = convTransposeReference(dy, [b, oh, ow, co], f, [k, k, ci], s, [...pads], [h, h]);
    const g = { strides: [s, s], pads, outSize: [h, h] } as const;
    assertNear(gemm.convTranspose(dy, [b, oh, ow, co], f, [k, k, ci, co], g), want, `convTranspose ${[b, h, ci, co, k, s]}`);
    const out = new Float32Array(want.length);
    assert.equal(gemm.convTranspose(dy, [b, oh, ow, co], f, [k, k, ci, co], g, out), out);
    assertNear(out, want, `convTranspose into out ${[b, h, ci, co, k, s]}`);
  }
});

test('conv2dFilter (NCHWc convolutions of x by dy, in bands of dy rows) equals a float64 filter gradient, into a given output too; a batch the blocks do not divide gives null', () => {
  const gemm = openNodeGemm({ threads: 2 });
  assert.ok(typeof gemm !== 'string', String(gemm));
  let ran = 0;
  // The colour critic's layers and MNIST's first at the kernel's 256-product chains (first layers: bands of one dy row of 16 images), Co not a whole block (20: filters reordered here), odd pads and strides.
  const cases = [[64, 32, 32, 3, 32, 4, 2, [1, 1, 1, 1], 256], [16, 16, 16, 32, 64, 4, 2, [1, 1, 1, 1], 256], [64, 28, 28, 1, 32, 4, 2, [1, 1, 1, 1], 256], [32, 14, 14, 8, 20, 5, 3, [2, 2, 1, 1], 256], [48, 7, 9, 4, 16, 3, 2, [0, 1, 0, 0], 64], [32, 8, 8, 64, 128, 4, 2, [1, 1, 1, 1], 256]] as const;
  for (const [b, h, w, ci, co, k, s, pads, block] of cases) {
    const oh = Math.floor((h + pads[0] + pads[2] - k) / s) + 1;
    const ow = Math.floor((w + pads[1] + pads[3] - k) / s) + 1;
    const x = rng.normal(b * h * w * ci);
    const dy = rng.normal(b * oh * ow * co);
    const want = new Float64Array(k * k * ci * co);
    for (let n = 0; n < b; n++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const iy = oy * s + ky - pads[0];
      const ix = ox * s + kx - pads[1];
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
      for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) want[((ky * k + kx) * ci + c) * co + o] += x[((n * h + iy) * w + ix) * ci + c] * dy[((n * oh + oy) * ow + ox) * co + o];
    }
    const got = gemm.conv2dFilter(x, [b, h, w, ci], dy, [b, oh, ow, co], [k, k], { strides: [s, s], pads }, block);
    if (!got) continue; // a processor without NCHWc kernels (checked below on x64)
    ran++;
    assertNear(got, want, `conv2dFilter ${[b, h, w, ci, co, k, s]}`);
    const out = new Float32Array(want.length);
    assert.equal(gemm.conv2dFilter(x, [b, h, w, ci], dy, [b, oh, ow, co], [k, k], { strides: [s, s], pads }, block, out), out);
    assert.deepEqual(out, got);
  }
  if (process.arch === 'x64') assert.equal(ran, cases.length);
  // 12 images: not whole blocks of 8 or 16.
  assert.equal(gemm.conv2dFilter(rng.normal(12 * 8 * 8 * 4), [12, 8, 8, 4], rng.normal(12 * 4 * 4 * 16), [12, 4, 4, 16], [4, 4], { strides: [2, 2], pads: [1, 1, 1, 1] }, 1024), null);
});
