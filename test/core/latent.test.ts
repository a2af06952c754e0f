import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sampleLatents, philox4x32, uniformAt, interpolateLatents, InvalidArgumentError, noiseNormals, MAX_NOISE_SLOT } from '../../src/core/index.js';

test('philox4x32-10 matches the Random123 known-answer vectors', () => {
  const out = new Uint32Array(4);
  // Known-answer tests from Random123's kat_vectors (philox4x32_10).
  philox4x32([0, 0, 0, 0], 0, 0, out);
  assert.deepEqual([...out], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 0xffffffff, 0xffffffff, out);
  assert.deepEqual([...out], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], 0xa4093822, 0x299f31d0, out);
  assert.deepEqual([...out], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
});

test('latents are bit-identical to the published ones (served samples and data sets stay reproducible)', () => {
  // SHA-256 of the float32 bytes, recorded from the first implementation: any change to the
  // sampler that moves a single bit would change every sample that wganx has ever served.
  const golden: [Parameters<typeof sampleLatents>[0], string][] = [
    [{ seed: 7, start: 3, count: 5, dim: 9 }, 'ca0620ccbbe8c821e571d099b2225a5b74ae46dfa3dd2540d5596d576e0abd72'],
    [{ seed: 2 ** 40 + 123, start: 2 ** 33 + 5, count: 3, dim: 100 }, 'db3a8799f29ad3135de3ece6b5bc3091a5dbe6a4f2d69a6e27ba32fd3f1684f6'],
    [{ seed: 1, start: 0, count: 64, dim: 100, distribution: 'uniform' }, '13022fe68c929aab65680dcdf77e1d053ca16e82e7d756f039970f2140ac03d6'],
    // Recorded from the same first implementation: every tail length of the last block of 4 (2, 3; 1 is dim 9 above).
    [{ seed: 3, start: 11, count: 7, dim: 2 }, 'afb237c2bea8d17017693d983272298e9da9f9e254d7c5a60a4147eec78a0b63'],
    [{ seed: 2 ** 52 + 1, start: 0, count: 5, dim: 3 }, '887be22bd18c798f626544561ea0cbd75e9125b79e91be383ac7172b46036fc9'],
    [{ seed: 5, start: 9, count: 4, dim: 7, distribution: 'uniform' }, 'e0bd5283fd9f00b7b99721c7fde00cd03c723da290eae4c9558459267d03917b'],
    [{ seed: 0, start: 0, count: 64, dim: 64 }, '1112e957366710d7c2446995c960b33def3d512b0cbd096934efa5415a84d80a'],
  ];
  for (const [req, hash] of golden) {
    const z = sampleLatents(req);
    assert.equal(createHash('sha256').update(Buffer.from(z.buffer, z.byteOffset, z.byteLength)).digest('hex'), hash, JSON.stringify(req));
  }
});

test('sample i of seed s does not depend on the batch it is drawn in', () => {
  const all = sampleLatents({ seed: 42, start: 0, count: 10, dim: 7 });
  for (let i = 0; i < 10; i++) {
    const one = sampleLatents({ seed: 42, start: i, count: 1, dim: 7 });
    assert.deepEqual([...one], [...all.subarray(i * 7, i * 7 + 7)]);
  }
  const shifted = sampleLatents({ seed: 42, start: 3, count: 4, dim: 7 });
  assert.deepEqual([...shifted], [...all.subarray(21, 49)]);
});

test('different seeds and indices give different vectors; large seeds and indices work', () => {
  const a = sampleLatents({ seed: 1, start: 0, count: 1, dim: 8 });
  const b = sampleLatents({ seed: 2, start: 0, count: 1, dim: 8 });
  const c = sampleLatents({ seed: 1, start: 1, count: 1, dim: 8 });
  assert.notDeepEqual([...a], [...b]);
  assert.notDeepEqual([...a], [...c]);
  const big = sampleLatents({ seed: 2 ** 40 + 3, start: 2 ** 35, count: 2, dim: 3 });
  assert.ok(big.every(Number.isFinite));
});

test('normal latents have mean ≈ 0 and variance ≈ 1; uniform ones lie in [-1, 1)', () => {
  const z = sampleLatents({ seed: 9, start: 0, count: 4000, dim: 25 });
  const n = z.length;
  const mean = z.reduce((s, v) => s + v, 0) / n;
  const variance = z.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.03, `variance ${variance}`);
  const u = sampleLatents({ seed: 9, start: 0, count: 1000, dim: 10, distribution: 'uniform' });
  assert.ok(u.every((v) => v >= -1 && v < 1));
  const um = u.reduce((s, v) => s + v, 0) / u.length;
  assert.ok(Math.abs(um) < 0.05);
});

test('uniformAt gives the recorded values and lies in (0, 1); interpolation hits both ends', () => {
  // Recorded from the implementation of 2026-12: the same on every platform (classes and
  // refinement choices drawn from these stay reproducible).
  assert.deepEqual([uniformAt(5, 17), uniformAt(5, 18), uniformAt(3, 0), uniformAt(2 ** 40 + 3, 2 ** 35, 7)], [0.3130823561223224, 0.8665867937961593, 0.49463740817736834, 0.054579824791289866]);
  for (let i = 0; i < 100; i++) {
    const u = uniformAt(3, i);
    assert.ok(u > 0 && u < 1);
  }
  const path = interpolateLatents(1, 2, 5, 4);
  assert.deepEqual([...path.subarray(0, 4)], [...sampleLatents({ seed: 1, start: 0, count: 1, dim: 4 })]);
  assert.deepEqual([...path.subarray(16, 20)], [...sampleLatents({ seed: 2, start: 0, count: 1, dim: 4 })]);
});

test('bad arguments name the field and the allowed range', () => {
  assert.throws(() => sampleLatents({ seed: -1, start: 0, count: 1, dim: 2 }), (e: unknown) => e instanceof InvalidArgumentError && /seed: -1/.test(e.message));
  assert.throws(() => sampleLatents({ seed: 1.5, start: 0, count: 1, dim: 2 }), /seed: 1.5 is not allowed; expected an integer/);
  assert.throws(() => sampleLatents({ seed: 1, start: 0, count: 1, dim: 0 }), /dim: 0/);
  assert.throws(() => sampleLatents({ seed: 1, start: 0, count: 1, dim: 2, distribution: 'cauchy' as never }), /distribution: "cauchy"/);
});

test('refinement noise: a pure function of (stream, seed, index, slot), pinned, and never the latents', () => {
  // Recorded from the first implementation: rank's candidates and DDLS's noise depend on these bits.
  const buf = new Float32Array(7 * 4);
  let at = 0;
  for (const stream of ['rank', 'langevin'] as const) for (const slot of [0, MAX_NOISE_SLOT]) { noiseNormals(stream, 2 ** 40 + 3, 2 ** 33 + 1, slot, 7, buf, at); at += 7; }
  assert.equal(createHash('sha256').update(Buffer.from(buf.buffer)).digest('hex'), 'cab39511c80fd1a705d7b2266ec7b91b2c6556d040d5325db99c5a95b36d8a46');
  const one = (stream: 'rank' | 'langevin', seed: number, index: number, slot: number, dim = 5) => {
    const out = new Float32Array(dim);
    noiseNormals(stream, seed, index, slot, dim, out);
    return [...out];
  };
  // Streams, slots, indices and seeds are independent of each other and of the latents.
  const z = [...sampleLatents({ seed: 4, start: 9, count: 1, dim: 5 })];
  const variants = [one('rank', 4, 9, 0), one('rank', 4, 9, 1), one('langevin', 4, 9, 0), one('rank', 4, 10, 0), one('rank', 5, 9, 0), z];
  for (let a = 0; a < variants.length; a++) for (let b = a + 1; b < variants.length; b++) assert.notDeepEqual(variants[a], variants[b], `${a} vs ${b}`);
  // A longer row extends a shorter one (blocks of 4), so the dimension only truncates.
  assert.deepEqual(one('rank', 4, 9, 3, 9).slice(0, 5), one('rank', 4, 9, 3, 5));
  // Standard normal.
  const many = new Float32Array(20000);
  for (let i = 0; i < 1000; i++) noiseNormals('langevin', 1, i, 7, 20, many, i * 20);
  const mean = many.reduce((s, v) => s + v, 0) / many.length;
  const variance = many.reduce((s, v) => s + (v - mean) ** 2, 0) / many.length;
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `mean ${mean}, variance ${variance}`);
  assert.throws(() => noiseNormals('rank', 0, 0, MAX_NOISE_SLOT + 1, 2, new Float32Array(2)), /slot: 65536 is not allowed/);
  assert.throws(() => noiseNormals('latent' as never, 0, 0, 0, 2, new Float32Array(2)), /stream: "latent" is not allowed; expected one of rank, langevin/);
  assert.throws(() => noiseNormals('rank', 0, 0, 0, 3, new Float32Array(2)), /at: 0 is not allowed/);
});
