/**
 * The one seeded path (src/core/seeded.ts): its contract, and the same `(seed, start, n, labels)`
 * through every caller — the runtime's `Generator.sample` (browser, eval, library), the server's
 * batch latents (split over batches as the batcher splits them) and its route's classes, and
 * `wganx augment`'s chunks — giving the very bits the core function gives. The check that each
 * caller reaches the function itself, and not a copy of it, is test/project/sampling-paths.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { defaultLabels, interpolateLatents, InvalidArgumentError, parseManifest, sampleLatents, seededSamples, walkSamples, type Manifest } from '../../src/core/index.js';
import { Generator } from '../../src/runtime/generator.js';
import type { Session, TensorValue } from '../../src/runtime/session.js';
import { buildLatents } from '../../src/serve/engine/latent-batch.js';
import { Plan } from '../../src/augment/plan.js';
import { seededOf } from '../../src/augment/run.js';

const cgan = parseManifest(JSON.parse(readFileSync(new URL('../../models/mnist-cgan/manifest.json', import.meta.url), 'utf8')), 'mnist-cgan');
const ring = parseManifest(JSON.parse(readFileSync(new URL('../../models/ring/manifest.json', import.meta.url), 'utf8')), 'ring');

/** A session that records the feeds it is given and answers zeros. */
function recordingSession(m: Manifest): Session & { feeds: Record<string, TensorValue>[] } {
  const feeds: Record<string, TensorValue>[] = [];
  const out = m.outputs[0].name;
  const rowSize = (m.outputs[0].shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
  return {
    feeds,
    inputNames: m.inputs.map((i) => i.name),
    outputNames: [out],
    async run(f) {
      feeds.push({ ...f });
      const rows = f[m.inputs[0].name].dims[0];
      return { [out]: { dtype: 'float32', data: new Float32Array(rows * rowSize), dims: [rows, ...(m.outputs[0].shape.slice(1) as number[])] } };
    },
    async release() {},
  };
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

test('seededSamples: the core sampler\'s latents and the label rule\'s classes, given per sample, one for all or by default', () => {
  const { dim, distribution } = cgan.latent;
  const s = seededSamples(cgan, { seed: 7, start: 3, n: 5 });
  assert.equal(bits(s.z), bits(sampleLatents({ seed: 7, start: 3, count: 5, dim, distribution })));
  assert.deepEqual([...s.labels!], [...defaultLabels(7, 3, 5, 10)]);
  assert.deepEqual([...seededSamples(cgan, { seed: 7, start: 3, n: 2, cls: '4' }).labels!], [4, 4]);
  assert.deepEqual([...seededSamples(cgan, { seed: 7, n: 3, labels: [1, '2', 9] }).labels!], [1, 2, 9]);
  assert.equal(seededSamples(ring, { seed: 7, n: 3 }).labels, null);
  assert.equal(seededSamples(cgan, { seed: 7, n: 3 }).start, 0);
  // Sample i of seed s whatever the request it is drawn in.
  const one = seededSamples(cgan, { seed: 7, start: 5, n: 1 });
  assert.equal(bits(one.z), bits(s.z.subarray(2 * dim, 3 * dim)));
  assert.equal(one.labels![0], s.labels![2]);
  // A walk: sample 0 of each end, the class of sample 0 of seedA unless one is given.
  const walk = walkSamples(cgan, { seedA: 1, seedB: 2, steps: 4 });
  assert.equal(bits(walk.z), bits(interpolateLatents(1, 2, 4, dim, distribution)));
  assert.deepEqual([...walk.labels!], Array(4).fill(seededSamples(cgan, { seed: 1, n: 1 }).labels![0]));
  assert.deepEqual([...walkSamples(cgan, { seedA: 1, seedB: 2, steps: 2, cls: 3 }).labels!], [3, 3]);
});

test('seededSamples refuses a bad request at once, naming <where>.<field>', () => {
  const refuses = (req: Parameters<typeof seededSamples>[1], field: string) =>
    assert.throws(() => seededSamples(cgan, req, 'body'), (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith(field), field);
  refuses({ seed: -1, n: 1 }, 'body.seed');
  refuses({ seed: 1.5, n: 1 }, 'body.seed');
  refuses({ seed: 1, n: 0 }, 'body.n');
  refuses({ seed: 1, start: -1, n: 1 }, 'body.start');
  refuses({ seed: 1, start: Number.MAX_SAFE_INTEGER, n: 2 }, 'body.start');
  refuses({ seed: 1, n: 2, labels: [1] }, 'body.labels');
  refuses({ seed: 1, n: 2, cls: 'bird' }, 'body.class');
  assert.throws(() => seededSamples(ring, { seed: 1, n: 1, cls: 0 }, 'query'), (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith('query.class'));
});

test('one (seed, start, n, labels) through the runtime, the server and augment gives the core function\'s latents and classes', async () => {
  const dim = cgan.latent.dim;
  const seed = 11;
  const start = 6;
  const n = 9;
  const want = seededSamples(cgan, { seed, start, n });

  // The runtime (the browser page, eval and the library call Generator.sample).
  const session = recordingSession(cgan);
  const g = new Generator(cgan, session, { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] });
  const out = await g.sample({ seed, start, n });
  assert.equal(bits(session.feeds[0].z.data as Float32Array), bits(want.z));
  assert.deepEqual(Array.from(session.feeds[0].label.data as BigInt64Array, Number), [...want.labels!]);
  assert.deepEqual([...out.labels!], [...want.labels!]);

  // The server: the route's classes, and the latents of a request split over two batches the way
  // the batcher splits it, with another request's rows in between.
  const route = seededSamples(cgan, { seed, start, n }, 'body');
  assert.deepEqual([...route.labels!], [...want.labels!]);
  const other = new Float32Array(2 * dim).fill(0.5);
  const first = buildLatents(6, [{ kind: 'raw', z: other }, { kind: 'seeded', seed, start, count: 4 }], cgan);
  const second = buildLatents(5, [{ kind: 'seeded', seed, start: start + 4, count: 5 }], cgan);
  assert.equal(bits(first.subarray(2 * dim)) + bits(second), bits(want.z));

  // augment --count: sample j is latent index j with the default class (local and --remote share this).
  const plan = new Plan({ count: start + n, format: 'npz', seed, chunk: 4, scale: 1 }, cgan);
  const samples = Array.from({ length: n }, (_, k) => plan.sample(start + k));
  assert.deepEqual(samples.map((x) => x.label), [...want.labels!]);
  const chunk = seededOf(cgan, samples, seed);
  assert.equal(bits(chunk.z), bits(want.z));
  assert.deepEqual([...chunk.labels!], [...want.labels!]);

  // augment --per-class: indices k·C + c, not consecutive, each with its class.
  const perClass = new Plan({ perClass: 2, classes: ['3', '7'], format: 'npz', seed, chunk: 4, scale: 1 }, cgan);
  const picked = Array.from({ length: 4 }, (_, j) => perClass.sample(j));
  const drawn = seededOf(cgan, picked, seed);
  picked.forEach((x, k) => {
    const one = seededSamples(cgan, { seed, start: x.index, n: 1, cls: x.label! });
    assert.equal(bits(drawn.z.subarray(k * dim, (k + 1) * dim)), bits(one.z));
    assert.equal(drawn.labels![k], x.label);
  });
});
