/** Large encodings on the worker thread give exactly what the main thread would. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleLatents } from '../../src/core/latent.js';
import { encodeEach, encodeGrid, numberArrayJson } from '../../src/encode/encode.js';
import { EncodeThreadLost, encodeEachBase64, encodeGridImage, numbersJson, smallImageStats, stopEncodeThreads } from '../../src/encode/encode-pool.js';

/** Values in about [-1, 1], some outside (clamped by the image encoders), a NaN. */
function values(count: number): Float32Array {
  const v = sampleLatents({ seed: 3, start: 0, count, dim: 1 }).map((x) => x * 0.6);
  v[7] = Number.NaN;
  return v;
}

test('per-sample images: worker-thread jobs (large) and main-thread ones (small) equal encodeEach, png, webp and jpeg', async () => {
  const shape = [12, 10, 3];
  const tile = 12 * 10 * 3;
  for (const [count, scale] of [[2, 1], [300, 1], [40, 4]]) {
    const data = values(count * tile);
    const before = data.slice();
    for (const format of ['png', 'webp', 'jpeg'] as const) {
      const expected = (await encodeEach(data, shape, count, [-1, 1], { format, scale })).map((b) => b.toString('base64'));
      const got = await encodeEachBase64(data, shape, count, [-1, 1], { format, scale });
      assert.deepEqual(got, expected, `${count} samples, scale ${scale}, ${format}`);
    }
    assert.deepEqual(data, before, 'the caller’s array is left as it was');
  }
});

test('small image jobs of one event-loop turn go to a thread together, one job per kind of image, each answered with its own images', async () => {
  const shape = [6, 5, 1];
  const tile = 6 * 5;
  // Five requests finishing together, as a batch delivers them: four PNG jobs at scale 1 (one with 3 samples), one at scale 2.
  const jobs = [[1, 1], [3, 1], [1, 2], [1, 1], [1, 1]].map(([count, scale], k) => ({ data: values((k + 2) * 100).subarray(k * 50, k * 50 + count * tile), count, scale }));
  const before = { ...smallImageStats };
  const got = await Promise.all(jobs.map((j) => encodeEachBase64(j.data, shape, j.count, [-1, 1], { format: 'png', scale: j.scale })));
  assert.deepEqual({ coalesced: smallImageStats.coalesced - before.coalesced, threadJobs: smallImageStats.threadJobs - before.threadJobs, inline: smallImageStats.inline - before.inline }, { coalesced: 5, threadJobs: 2, inline: 0 });
  for (const [k, j] of jobs.entries()) {
    const expected = (await encodeEach(j.data, shape, j.count, [-1, 1], { format: 'png', scale: j.scale })).map((b) => b.toString('base64'));
    assert.deepEqual(got[k], expected, `job ${k}`);
  }
  // WebP and JPEG jobs of one turn go together as well, one job per format.
  const sharpJobs = (['webp', 'jpeg', 'webp'] as const).map((format, k) => ({ data: jobs[k].data, count: jobs[k].count, format }));
  const viaThread = await Promise.all(sharpJobs.map((j) => encodeEachBase64(j.data, shape, j.count, [-1, 1], { format: j.format, scale: 1 })));
  assert.equal(smallImageStats.threadJobs - before.threadJobs, 4);
  for (const [k, j] of sharpJobs.entries()) {
    assert.deepEqual(viaThread[k], (await encodeEach(j.data, shape, j.count, [-1, 1], { format: j.format, scale: 1 })).map((b) => b.toString('base64')), `${j.format} job ${k}`);
  }
  // A job alone in its turn is encoded on the main thread.
  const one = await encodeEachBase64(jobs[0].data, shape, 1, [-1, 1], { format: 'png', scale: 1 });
  assert.deepEqual(one, got[0]);
  assert.equal(smallImageStats.inline - before.inline, 1);
  assert.equal(smallImageStats.threadJobs - before.threadJobs, 4);
  // While large jobs occupy the threads (there are at most two), small ones are not queued behind them.
  const large = [numbersJson(values(400_000)), numbersJson(values(400_001))];
  const meanwhile = await Promise.all(jobs.slice(0, 3).map((j) => encodeEachBase64(j.data, shape, j.count, [-1, 1], { format: 'png', scale: j.scale })));
  assert.deepEqual(meanwhile, got.slice(0, 3));
  assert.equal(smallImageStats.inline - before.inline, 4, 'encoded on the main thread');
  assert.equal(smallImageStats.threadJobs - before.threadJobs, 4);
  assert.deepEqual((await Promise.all(large)).map((b) => b.length > 1_000_000), [true, true]);
});

test('JSON number arrays: worker-thread jobs (large) and main-thread ones (small) equal JSON.stringify', async () => {
  for (const n of [5, 70_000, 400_000]) {
    const data = values(n);
    const got = await numbersJson(data);
    assert.equal(got.toString('latin1'), JSON.stringify(Array.from(data)), `${n} values`);
    assert.ok(numberArrayJson(data).equals(got));
    assert.equal(data.length, n, 'the caller’s array is not detached');
  }
  // Jobs side by side are answered each with its own result.
  const many = await Promise.all([100_000, 90_000, 80_000, 70_000].map(async (n) => [n, JSON.parse((await numbersJson(values(n))).toString('latin1')).length]));
  assert.deepEqual(many, [[100_000, 100_000], [90_000, 90_000], [80_000, 80_000], [70_000, 70_000]]);
});

test('grids: worker-thread jobs (many samples) and main-thread ones (few) equal encodeGrid', async () => {
  const shape = [12, 10, 3];
  for (const [count, scale, columns] of [[3, 2, undefined], [700, 1, undefined], [700, 3, 20]] as const) {
    const data = values(count * 12 * 10 * 3);
    for (const format of ['png', 'webp', 'jpeg'] as const) {
      const expected = await encodeGrid(data, shape, count, [-1, 1], { format, scale, columns });
      const got = await encodeGridImage(data, shape, count, [-1, 1], { format, scale, columns });
      assert.ok(got.equals(expected), `${count} samples, scale ${scale}, ${format}`);
    }
  }
});

test('a job on a thread that stops fails with the reason, as EncodeThreadLost (the server answers 503); the next job starts a fresh thread', async () => {
  const big = values(300_000);
  const running = numbersJson(big);
  await stopEncodeThreads();
  await assert.rejects(running, (err: unknown) => err instanceof EncodeThreadLost && /^the encoding thread stopped \(exited with code 1\); retry$/.test(err.message));
  assert.equal((await numbersJson(big)).toString('latin1'), JSON.stringify(Array.from(big)));
  await stopEncodeThreads();
});
