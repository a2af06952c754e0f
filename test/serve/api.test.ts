/** The HTTP API driven in-process with supertest on createApp (real worker sessions, tiny exported models). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import type { Express } from 'express';
import { createApp, type AppLocals } from '../../src/serve/http/app.js';
import { Engine } from '../../src/serve/engine/engine.js';
import { silentLogger } from '../../src/serve/options.js';
import { uniformAt } from '../../src/core/latent.js';
import { toUint8, upscale } from '../../src/core/image.js';
import { fixtureModels, PET_LABELS, testOptions } from './fixtures.js';
import { assertClose, binaryInfer, f32bytes, parseNpy, reference } from './helpers.js';

let fx: Awaited<ReturnType<typeof fixtureModels>>;
let engine: Engine;
let app: Express;

before(async () => {
  fx = await fixtureModels();
  // A queue delay long enough that concurrent requests below share batches.
  engine = await Engine.start(testOptions(fx.models, { maxQueueDelayMs: 20, maxSamples: 256 }), { logger: process.env.WGANX_TEST_LOG ? undefined : silentLogger });
  app = createApp(engine);
});

after(async () => {
  await engine.close();
  fx.cleanup();
});

const post = (path: string, body: object) => request(app).post(path).send(body);
/** supertest body parser that keeps binary bodies (npy, images, KServe binary) as Buffers. */
const binaryParser = (res: any, cb: (err: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

test('GET /v1/models lists every model with state, device and manifest', async () => {
  const res = await request(app).get('/v1/models').expect(200);
  assert.deepEqual(res.body.models.map((m: { name: string }) => m.name), ['digits', 'pets', 'ring']);
  assert.equal(res.body.device.device, 'cpu');
  assert.deepEqual(res.body.device.refused, []);
  assert.ok(res.body.models.every((m: { ready: boolean; device: string }) => m.ready && m.device === 'cpu'));
  const pets = (await request(app).get('/v1/models/pets').expect(200)).body;
  assert.deepEqual(pets.conditional.labels, PET_LABELS);
  assert.deepEqual(pets.outputShape, [8, 8, 3]);
  assert.equal(pets.manifest.name, 'pets');
});

test('json samples of a point model equal a bare onnxruntime session on the seeded latents', async () => {
  const res = await post('/v1/models/ring/samples', { n: 5, seed: 42, start: 3, format: 'json' }).expect(200);
  assert.equal(res.headers['x-wganx-seed'], '42');
  assert.deepEqual(res.body.shape, [5, 2]);
  assert.deepEqual(res.body.samples.map((s: { index: number }) => s.index), [3, 4, 5, 6, 7]);
  const want = await reference(join(fx.models, 'ring'), 42, 3, 5);
  assertClose(res.body.samples.flatMap((s: { point: number[] }) => s.point), want, 1e-6);
});

test('a response depends only on (seed, index, label), whatever requests share its batch', async () => {
  const whole = parseNpy((await post('/v1/models/digits/samples', { n: 40, seed: 7, format: 'npy' }).buffer(true).parse(binaryParser).expect(200)).body);
  assert.deepEqual(whole.shape, [40, 8, 8, 1]);
  // Slices of the same seed mixed with other seeds, 51 rows in all; with --max-batch 51 and a
  // 60 s queue delay they can only leave together, in one batch.
  const merged = await Engine.start(testOptions(fx.models, { maxBatch: 51, maxQueueDelayMs: 60_000 }), { logger: silentLogger });
  try {
    const app2 = createApp(merged);
    const slices = [[0, 3], [3, 17], [20, 1], [21, 19]] as const;
    const parts = await Promise.all([
      ...slices.map(([start, n]) => request(app2).post('/v1/models/digits/samples').send({ n, seed: 7, start, format: 'npy' }).buffer(true).parse(binaryParser)),
      request(app2).post('/v1/models/digits/samples').send({ n: 9, seed: 8, format: 'npy' }),
      request(app2).post('/v1/models/digits/samples').send({ n: 2, seed: 1, format: 'npy' }),
    ]);
    const metric = await (app2.locals as AppLocals).metrics.batchSize.get();
    const batches = metric.values.find((v) => v.metricName === 'wganx_batch_size_count' && v.labels.model === 'digits')!.value;
    assert.equal(batches, 1, 'the six requests ran as one batch');
    const row = 64;
    slices.forEach(([start, n], i) => {
      assert.equal(parts[i].status, 200);
      assertClose(parseNpy(parts[i].body).data, whole.data.subarray(start * row, (start + n) * row), 1e-6, `slice ${start}+${n}`);
    });
  } finally {
    await merged.close();
  }
});

test('png grid: tiles with 2-pixel padding, upscaled; webp and jpeg too', async () => {
  const res = await post('/v1/models/digits/samples', { n: 16, seed: 1, scale: 2 }).buffer(true).parse(binaryParser).expect('content-type', 'image/png').expect(200);
  const meta = await sharp(res.body).metadata();
  assert.equal(meta.width, (4 * 8 + 3 * 2) * 2);
  assert.equal(meta.height, (4 * 8 + 3 * 2) * 2);
  const rgb = await post('/v1/models/pets/samples', { n: 3, seed: 1, columns: 3, format: 'webp' }).buffer(true).parse(binaryParser).expect('content-type', 'image/webp').expect(200);
  const m2 = await sharp(rgb.body).metadata();
  assert.deepEqual([m2.format, m2.width, m2.height], ['webp', 3 * 8 + 2 * 2, 8]);
  const jpg = await post('/v1/models/ring/samples', { n: 64, seed: 1, format: 'jpeg' }).buffer(true).parse(binaryParser).expect('content-type', 'image/jpeg').expect(200);
  const plot = await sharp(jpg.body).metadata();
  assert.deepEqual([plot.width, plot.height], [256 + 56, 256 + 42], 'point models draw a 256-pixel scatter plot with room for the axes');
  // No n: 16 samples of an image model, 1,000 points of a point model (a plot shows the distribution).
  const digits = await post('/v1/models/digits/samples', { seed: 1, format: 'json' }).expect(200);
  assert.equal(digits.body.samples.length, 16);
  const points = await post('/v1/models/ring/samples', { seed: 1, format: 'json' }).expect(200);
  assert.equal(points.body.samples.length, Math.min(1000, 256));
});

test('list layout: one base64 image per sample with its seed, index and label', async () => {
  const res = await post('/v1/models/pets/samples', { n: 4, seed: 5, layout: 'list', format: 'webp', labels: ['dog', 0, 'eel', 1] }).expect(200);
  assert.equal(res.body.encoding, 'webp');
  assert.deepEqual(res.body.samples.map((s: { label: number }) => s.label), [1, 0, 2, 1]);
  assert.deepEqual(res.body.samples.map((s: { labelName: string }) => s.labelName), ['dog', 'cat', 'eel', 'dog']);
  for (const s of res.body.samples) {
    const meta = await sharp(Buffer.from(s.image, 'base64')).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 8, 8]);
  }
});

test('json samples of an image model: one PNG per sample holding exactly the 8-bit pixels', async () => {
  const npy = parseNpy((await post('/v1/models/pets/samples', { n: 3, seed: 2, format: 'npy', class: 1 }).buffer(true).parse(binaryParser).expect(200)).body);
  const res = await post('/v1/models/pets/samples', { n: 3, seed: 2, format: 'json', class: 1, scale: 2 }).expect(200);
  assert.equal(res.body.encoding, 'png');
  const want = toUint8(npy.data, [-1, 1]);
  for (const [k, s] of res.body.samples.entries()) {
    const { data, info } = await sharp(Buffer.from(s.image, 'base64')).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [16, 16, 3]);
    const up = upscale({ data: want.subarray(k * 192, (k + 1) * 192), width: 8, height: 8, channels: 3, columns: 1, rows: 1 }, 2);
    assert.deepEqual(Buffer.from(data), Buffer.from(up.data));
  }
});

/** An .npz body as numpy reads it: member names, dtypes, shapes and values. */
function loadNpz(body: Buffer): Record<string, { dtype: string; shape: number[]; values: number[] }> {
  const script = 'import io, json, sys, numpy as np\nz = np.load(io.BytesIO(sys.stdin.buffer.read()))\nprint(json.dumps({k: {"dtype": str(z[k].dtype), "shape": list(z[k].shape), "values": z[k].ravel().tolist()} for k in z.files}))';
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input: body, encoding: 'utf8' }));
}

test('format npz: numpy loads images (float32 NHWC, as npy), labels and indices (int64); a point model\'s holds points and no labels', async () => {
  const npz = await post('/v1/models/pets/samples', { n: 5, seed: 3, start: 2, format: 'npz' }).buffer(true).parse(binaryParser).expect(200).expect('content-type', 'application/zip');
  assert.match(npz.headers['content-disposition'], /attachment; filename="pets-3-2\.npz"/);
  const npy = parseNpy((await post('/v1/models/pets/samples', { n: 5, seed: 3, start: 2, format: 'npy' }).buffer(true).parse(binaryParser).expect(200)).body);
  const json = (await post('/v1/models/pets/samples', { n: 5, seed: 3, start: 2, format: 'json' }).expect(200)).body as { samples: { index: number; label: number }[] };
  const z = loadNpz(npz.body);
  assert.deepEqual(Object.keys(z).sort(), ['images', 'indices', 'labels']);
  assert.deepEqual([z.images.dtype, z.images.shape], ['float32', [5, 8, 8, 3]]);
  assert.deepEqual(z.images.values, Array.from(npy.data), 'the same values as format npy');
  assert.deepEqual([z.labels.dtype, z.labels.shape, z.labels.values], ['int64', [5], json.samples.map((s) => s.label)]);
  assert.deepEqual([z.indices.dtype, z.indices.values], ['int64', [2, 3, 4, 5, 6]]);
  // A class for every sample is what the labels say.
  const one = loadNpz((await post('/v1/models/pets/samples', { n: 3, seed: 3, format: 'npz', class: 'dog' }).buffer(true).parse(binaryParser).expect(200)).body);
  assert.deepEqual(one.labels.values, [1, 1, 1]);
  const ring = loadNpz((await post('/v1/models/ring/samples', { n: 4, seed: 1, format: 'npz' }).buffer(true).parse(binaryParser).expect(200)).body);
  assert.deepEqual(Object.keys(ring).sort(), ['indices', 'points']);
  assert.deepEqual([ring.points.dtype, ring.points.shape], ['float32', [4, 2]]);
});

test('conditional models: class for all, default labels from (seed, index), label changes the output', async () => {
  const a = (await post('/v1/models/pets/samples', { n: 6, seed: 3, format: 'json', class: 'cat' }).expect(200)).body;
  assert.ok(a.samples.every((s: { label: number }) => s.label === 0));
  const d = (await post('/v1/models/pets/samples', { n: 6, seed: 3, format: 'json' }).expect(200)).body;
  assert.deepEqual(d.samples.map((s: { label: number }) => s.label), Array.from({ length: 6 }, (_, i) => Math.floor(uniformAt(3, i) * 3)));
  const c0 = parseNpy((await post('/v1/models/pets/samples', { n: 2, seed: 3, format: 'npy', class: 0 }).buffer(true).parse(binaryParser)).body).data;
  const c2 = parseNpy((await post('/v1/models/pets/samples', { n: 2, seed: 3, format: 'npy', class: 2 }).buffer(true).parse(binaryParser)).body).data;
  assert.notDeepEqual(Array.from(c0), Array.from(c2));
  const want = await reference(join(fx.models, 'pets'), 3, 0, 2, [2, 2]);
  assertClose(c2, want, 1e-6);
});

test('validation: 400 bodies name the field, the value and what is allowed', async () => {
  const cases: [string, object, string, unknown][] = [
    ['/v1/models/ring/samples', { n: 0 }, 'body.n', 0],
    ['/v1/models/ring/samples', { n: 257 }, 'body.n', 257],
    ['/v1/models/ring/samples', { n: 'many' }, 'body.n', 'many'],
    ['/v1/models/ring/samples', { n: 2, format: 'bmp' }, 'body.format', 'bmp'],
    ['/v1/models/ring/samples', { n: 2, seed: -1 }, 'body.seed', -1],
    ['/v1/models/ring/samples', { n: 2, bogus: true }, 'body.bogus', true],
    ['/v1/models/ring/samples', { n: 2, class: 1 }, 'body.class', 1],
    ['/v1/models/pets/samples', { n: 2, labels: ['cat', 'wolf'] }, 'body.labels.1', 'wolf'],
    ['/v1/models/pets/samples', { n: 2, class: 3 }, 'body.class', 3],
    ['/v1/models/pets/samples', { n: 3, labels: [0] }, 'body.labels', [0]],
    ['/v1/models/digits/interpolate', { seedA: 1 }, 'body.seedB', null],
    ['/v1/models/digits/interpolate', { seedA: 1, seedB: 2, steps: 1 }, 'body.steps', 1],
    ['/v1/models/ring/interpolate', { seedA: 1, seedB: 2, format: 'gif' }, 'body.format', 'gif'],
  ];
  for (const [path, body, field, value] of cases) {
    const res = await post(path, body).expect(400);
    assert.equal(res.body.field, field, JSON.stringify(body));
    assert.deepEqual(res.body.value, value, JSON.stringify(body));
    assert.equal(typeof res.body.allowed, 'string');
    assert.ok(res.body.error.startsWith(field));
  }
  const pets = await post('/v1/models/pets/samples', { n: 1, class: 'wolf' }).expect(400);
  assert.match(pets.body.allowed, /"cat", "dog", "eel"/);
  const q = await request(app).get('/v1/models/ring/samples.png?n=abc').expect(400);
  assert.equal(q.body.field, 'query.n');
  const broken = await request(app).post('/v1/models/ring/samples').set('content-type', 'application/json').send('{"n": 2,').expect(400);
  assert.deepEqual([broken.body.field, broken.body.value, broken.body.allowed], ['body', '{"n": 2,', 'a JSON object']);
  assert.match(broken.body.error, /^body is not valid JSON \(.+\); expected a JSON object$/);
  // Valid JSON that is not an object: named as what it is, not as "not valid JSON"; an array too.
  for (const [text, value] of [['null', 'null'], ['"hello"', '"hello"']]) {
    const r = await request(app).post('/v1/models/ring/samples').set('content-type', 'application/json').send(text).expect(400);
    assert.deepEqual([r.body.field, r.body.value, r.body.error], ['body', value, `body: ${value} is not allowed; expected a JSON object`]);
  }
  const long = await request(app).post('/v1/models/ring/samples').set('content-type', 'application/json').send(JSON.stringify('x'.repeat(300))).expect(400);
  assert.match(long.body.error, /^body: "x+\.\.\. is not allowed; expected a JSON object$/, 'the JSON text as sent, cut, not quoted again');
  const array = await post('/v1/models/ring/samples', [1, 2]).expect(400);
  assert.deepEqual([array.body.field, array.body.allowed], ['body', 'a JSON object']);
  const missing = await post('/v1/models/digits/interpolate', { seedA: 1 }).expect(400);
  assert.match(missing.body.error, /^body\.seedB is missing; expected an integer/);
  // A missing field whose schema has no wording of its own: zod's words are not passed on.
  const tensor = await request(app).post('/v2/models/ring/infer').send({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [0, 0] }], outputs: [{}] }).expect(400);
  assert.doesNotMatch(tensor.body.error, /Invalid input/);
  assert.match(tensor.body.error, /is missing; expected a string \(required\)/);
  // A tensor of the wrong size: its number of values, not an invented value.
  const size = await request(app).post('/v2/models/ring/infer').send({ inputs: [{ name: 'z', shape: [1, 2], datatype: 'FP32', data: [0, 0, 0, 0, 0] }] }).expect(400);
  assert.equal(size.body.error, 'request.inputs.0.data (its number of values): 5 is not allowed; expected 2, the product of shape');
  const unknown = await request(app).get('/v1/models/ring/samples.png?n=2&bogus=1').expect(400);
  assert.match(unknown.body.allowed, /known fields: n, seed, start, class, scale, columns, refine, refine\.<param>$/);
  await request(app).post('/v1/models/ring/samples').set('content-type', 'text/plain').send('n=2').expect(415);
});

test('images too large to encode are refused with 400 naming scale (or n, steps) before any model runs', async () => {
  const before = (await request(app).get('/v1/models/digits').expect(200)).body;
  // 256 digits (8×8) in one column: 2,558 px tall, so WebP fits up to scale 6 (15,348 px); 16 used to give a 500.
  const webp = await post('/v1/models/digits/samples', { n: 256, columns: 1, format: 'webp', scale: 16 }).expect(400);
  assert.equal(webp.body.field, 'body.scale');
  assert.equal(webp.body.value, 16);
  assert.match(webp.body.allowed, /^at most 6 for this request \(scale 16 gives an image of 128×40928 px; webp images have at most 16383 px a side\)$/);
  await post('/v1/models/digits/samples', { n: 256, columns: 1, format: 'webp', scale: 6 }).expect(200).expect('content-type', 'image/webp');
  const q = await request(app).get('/v1/models/digits/samples.png?n=4&scale=2').expect(200);
  assert.equal(q.headers['content-type'], 'image/png');
  const gif = await post('/v1/models/digits/interpolate', { seedA: 1, seedB: 2, steps: 64, format: 'gif', scale: 16 }).expect(200);
  assert.equal(gif.headers['content-type'], 'image/gif');
  const after = (await request(app).get('/v1/models/digits').expect(200)).body;
  assert.equal(after.counters.requests - before.counters.requests, 3, 'the refused request never reached the model');
  assert.equal(after.counters.samples - before.counters.samples, 256 + 4 + 64);
});

test('model names come only from the registry: unknown → 404 listing models, non-names → 400', async () => {
  const res = await post('/v1/models/nope/samples', { n: 1 }).expect(404);
  assert.deepEqual(res.body.allowed, ['digits', 'pets', 'ring']);
  for (const name of ['..%2F..%2Fetc', '%2E%2E', 'Ring', 'a%00b']) {
    const r = await post(`/v1/models/${name}/samples`, { n: 1 });
    assert.ok(r.status === 400 || r.status === 404, `${name}: ${r.status}`);
  }
  await request(app).get('/v1/models/../../../etc/passwd').expect(404);
});

test('GET samples.png is deterministic with a strong ETag and answers If-None-Match with 304', async () => {
  const a = await request(app).get('/v1/models/digits/samples.png?n=4&seed=9&scale=3').buffer(true).parse(binaryParser).expect(200).expect('content-type', 'image/png');
  const etag = a.headers.etag;
  assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
  const b = await request(app).get('/v1/models/digits/samples.png?n=4&seed=9&scale=3').buffer(true).parse(binaryParser).expect(200);
  assert.equal(b.headers.etag, etag);
  assert.deepEqual(b.body, a.body);
  await request(app).get('/v1/models/digits/samples.png?n=4&seed=9&scale=3').set('If-None-Match', etag).expect(304);
  const c = await request(app).get('/v1/models/digits/samples.png?n=4&seed=10&scale=3').expect(200);
  assert.notEqual(c.headers.etag, etag);
  const p = await request(app).get('/v1/models/pets/samples.png?n=2&class=dog').expect(200);
  assert.notEqual(p.headers.etag, (await request(app).get('/v1/models/pets/samples.png?n=2&class=cat')).headers.etag);
});

test('interpolate: PNG strip, animated GIF and WebP, JSON frames that start at sample 0 of seedA', async () => {
  const strip = await post('/v1/models/digits/interpolate', { seedA: 1, seedB: 2, steps: 5 }).buffer(true).parse(binaryParser).expect(200).expect('content-type', 'image/png');
  const sm = await sharp(strip.body).metadata();
  assert.deepEqual([sm.width, sm.height], [5 * 8 + 4 * 2, 8]);
  for (const format of ['gif', 'webp'] as const) {
    const anim = await post('/v1/models/digits/interpolate', { seedA: 1, seedB: 2, steps: 6, format, scale: 2, delayMs: 50 }).buffer(true).parse(binaryParser).expect(200).expect('content-type', `image/${format}`);
    const am = await sharp(anim.body, { animated: true }).metadata();
    assert.deepEqual([am.format, am.pages, am.width, am.pageHeight], [format, 6, 16, 16]);
  }
  const json = (await post('/v1/models/ring/interpolate', { seedA: 11, seedB: 12, steps: 3, format: 'json' }).expect(200)).body;
  assert.deepEqual(json.frames.map((f: { t: number }) => f.t), [0, 0.5, 1]);
  const a = (await post('/v1/models/ring/samples', { n: 1, seed: 11, format: 'json' })).body.samples[0].point;
  const b = (await post('/v1/models/ring/samples', { n: 1, seed: 12, format: 'json' })).body.samples[0].point;
  assertClose(json.frames[0].point, a, 1e-6);
  assertClose(json.frames[2].point, b, 1e-6);
});

test('interpolate: every animated frame is the PNG path’s frame, for a grey and a colour model at scales 1 and 4', async () => {
  // Regression: grey walks at scale ≥ 2 came out as frames of horizontal stripes.
  const steps = 4;
  /**
   * GIF's palette (libvips quantises and dithers) moves single pixels a lot where a frame's levels
   * shift by one (seen: up to 34 under load) but leaves the frame as a whole close: the mean moves
   * by a level or two. Misread channels (the stripes) move the mean by tens of levels.
   */
  const GIF_MEAN_ERROR = 4;
  const GIF_PIXEL_ERROR = 64;
  for (const [model, cls, c] of [['digits', undefined, 1], ['pets', 'dog', 3]] as const) {
    for (const scale of [1, 4]) {
      const body = { seedA: 3, seedB: 4, steps, scale, class: cls };
      const frames = (await post(`/v1/models/${model}/interpolate`, { ...body, format: 'json' }).expect(200)).body.frames as { image: string }[];
      const pngPixels = await Promise.all(frames.map(async (f) => (await sharp(Buffer.from(f.image, 'base64')).raw().toBuffer({ resolveWithObject: true }))));
      for (const format of ['gif', 'webp'] as const) {
        const what = `${model} ${format} scale ${scale}`;
        const anim = (await post(`/v1/models/${model}/interpolate`, { ...body, format }).buffer(true).parse(binaryParser).expect(200)).body as Buffer;
        const { data, info } = await sharp(anim, { pages: -1 }).raw().toBuffer({ resolveWithObject: true });
        assert.deepEqual([info.pages, info.width, info.pageHeight], [steps, 8 * scale, 8 * scale], what);
        const px = 8 * scale * 8 * scale;
        let worst = 0;
        let sum = 0;
        for (let k = 0; k < steps; k++) {
          const png = pngPixels[k];
          for (let i = 0; i < px; i++) {
            for (let ch = 0; ch < c; ch++) {
              const d = Math.abs(data[(k * px + i) * info.channels + ch] - png.data[i * png.info.channels + ch]);
              worst = Math.max(worst, d);
              sum += d;
            }
          }
        }
        const mean = sum / (steps * px * c);
        // Lossless WebP is exact.
        if (format === 'webp') assert.equal(worst, 0, `${what}: a pixel differs from the PNG's by ${worst}`);
        else assert.ok(mean <= GIF_MEAN_ERROR && worst <= GIF_PIXEL_ERROR, `${what}: pixels differ from the PNG's by ${mean.toFixed(2)} on average, ${worst} at most`);
      }
    }
  }
});

test('KServe v2: server and model metadata, health, JSON inference', async () => {
  assert.deepEqual((await request(app).get('/v2').expect(200)).body.extensions, ['binary_tensor_data']);
  await request(app).get('/v2/health/live').expect(200);
  await request(app).get('/v2/health/ready').expect(200);
  await request(app).get('/v2/models/pets/ready').expect(200);
  const meta = (await request(app).get('/v2/models/pets').expect(200)).body;
  assert.deepEqual(meta.inputs.map((i: { datatype: string; shape: number[] }) => [i.datatype, i.shape]), [['FP32', [-1, 4]], ['INT64', [-1, 1]]]);
  assert.deepEqual(meta.outputs[0].shape, [-1, 8, 8, 3]);
  await request(app).get(`/v2/models/pets/versions/${meta.versions[0]}`).expect(200);
  await request(app).get('/v2/models/pets/versions/999').expect(404);
  const z = [0.5, -1, 0.25, 2, -0.5, 1, 0, 0.75];
  const res = await post('/v2/models/ring/infer', { id: 'r1', inputs: [{ name: meta.inputs[0].name === 'z' ? 'z' : 'z', shape: [4, 2], datatype: 'FP32', data: [[z[0], z[1]], [z[2], z[3]], [z[4], z[5]], [z[6], z[7]]] }] });
  const ringMeta = (await request(app).get('/v2/models/ring')).body;
  const inName = ringMeta.inputs[0].name;
  // An id holding the placeholder the server splices the output's numbers into must come back as sent.
  const id = 'r1 \u0000data\u0000 "x"';
  const ok = await post('/v2/models/ring/infer', { id, inputs: [{ name: inName, shape: [4, 2], datatype: 'FP32', data: z }] }).expect(200);
  assert.equal(ok.body.id, id);
  assert.equal(ok.body.outputs[0].data.length, 8);
  assert.ok(ok.body.outputs[0].data.every((v: unknown) => typeof v === 'number'));
  assert.equal(ok.body.model_name, 'ring');
  assert.deepEqual(ok.body.outputs[0].shape, [4, 2]);
  assert.equal(ok.body.outputs[0].datatype, 'FP32');
  if (inName === 'z') assert.deepEqual(res.body.outputs[0].data, ok.body.outputs[0].data, 'nested and flat data agree');
});

test('KServe v2 binary tensor data extension: binary in, binary out, equal to JSON', async () => {
  const meta = (await request(app).get('/v2/models/pets')).body;
  const [zIn, labelIn] = meta.inputs.map((i: { name: string }) => i.name);
  const z = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
  const labels = new BigInt64Array([2n, 0n, 1n]);
  const jsonRes = await post('/v2/models/pets/infer', {
    inputs: [
      { name: zIn, shape: [3, 4], datatype: 'FP32', data: Array.from(z) },
      { name: labelIn, shape: [3, 1], datatype: 'INT64', data: [2, 0, 1] },
    ],
  }).expect(200);
  const { body, headerLength } = binaryInfer(
    {
      inputs: [
        { name: zIn, shape: [3, 4], datatype: 'FP32', parameters: { binary_data_size: 48 } },
        { name: labelIn, shape: [3, 1], datatype: 'INT64', parameters: { binary_data_size: 24 } },
      ],
      outputs: [{ name: meta.outputs[0].name, parameters: { binary_data: true } }],
    },
    f32bytes(z),
    Buffer.from(labels.buffer),
  );
  const res = await request(app)
    .post('/v2/models/pets/infer')
    .set('Content-Type', 'application/octet-stream')
    .set('Inference-Header-Content-Length', String(headerLength))
    .send(body)
    .buffer(true)
    .parse(binaryParser)
    .expect(200);
  const hl = Number(res.headers['inference-header-content-length']);
  const header = JSON.parse(res.body.subarray(0, hl).toString());
  assert.equal(header.outputs[0].parameters.binary_data_size, 3 * 8 * 8 * 3 * 4);
  const raw = res.body.subarray(hl);
  const out = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  assertClose(out, jsonRes.body.outputs[0].data, 0, 'binary vs JSON outputs');
});

test('KServe v2 errors are {"error"} with 4xx, typed exactly application/json (what KServe\'s Python client reads)', async () => {
  const meta = (await request(app).get('/v2/models/ring')).body;
  const inName = meta.inputs[0].name;
  const bad = async (res: request.Response, status = 400) => {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(Object.keys(res.body), ['error']);
    assert.ok(res.body.error.length > 0);
  };
  await bad(await post('/v2/models/ring/infer', { inputs: [{ name: inName, shape: [1, 2], datatype: 'INT8', data: [1, 2] }] }));
  await bad(await post('/v2/models/ring/infer', { inputs: [{ name: inName, shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }));
  await bad(await post('/v2/models/ring/infer', { inputs: [{ name: inName, shape: [2, 2], datatype: 'FP32', data: [1, 2, 3] }] }));
  await bad(await post('/v2/models/ring/infer', { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }));
  await bad(await post('/v2/models/ring/infer', { inputs: [] }));
  await bad(await post('/v2/models/pets/infer', { inputs: [{ name: 'z', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }));
  await bad(await request(app).post('/v2/models/ring/infer').set('Inference-Header-Content-Length', '9999').send(Buffer.from('{}')));
  await bad(await request(app).post('/v2/models/ring/infer').set('Inference-Header-Content-Length', 'abc').send(Buffer.from('{}')));
  const { body, headerLength } = binaryInfer({ inputs: [{ name: inName, shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } }] }, Buffer.alloc(12));
  await bad(await request(app).post('/v2/models/ring/infer').set('Content-Type', 'application/octet-stream').set('Inference-Header-Content-Length', String(headerLength)).send(body));
  await bad(await post('/v2/models/nope/infer', { inputs: [] }), 404);
  await bad(await request(app).get('/v2/models/nope/ready'), 404);
  // Successful /v2 answers are typed the same way.
  for (const path of ['/v2', '/v2/health/live', '/v2/health/ready', '/v2/models/ring', '/v2/models/ring/ready']) {
    assert.equal((await request(app).get(path).expect(200)).headers['content-type'], 'application/json', path);
  }
  const ok = await post('/v2/models/ring/infer', { inputs: [{ name: inName, shape: [1, 2], datatype: 'FP32', data: [0.1, 0.2] }] }).expect(200);
  assert.equal(ok.headers['content-type'], 'application/json');
});

test('/metrics exposes requests by model and outcome, durations, batch sizes and queue length', async () => {
  await post('/v1/models/ring/samples', { n: 3, format: 'json' }).expect(200);
  await post('/v1/models/ring/samples', { n: -3 }).expect(400);
  const text = (await request(app).get('/metrics').expect(200)).text;
  assert.match(text, /wganx_requests_total\{model="ring",endpoint="samples",outcome="ok",code="200"\} \d+/);
  assert.match(text, /wganx_requests_total\{model="ring",endpoint="samples",outcome="client_error",code="400"\} \d+/);
  for (const name of ['wganx_request_duration_seconds_bucket', 'wganx_queue_duration_seconds_bucket', 'wganx_compute_duration_seconds_bucket', 'wganx_batch_size_bucket', 'wganx_queue_length{model="ring"}', 'wganx_model_ready{model="ring"} 1']) {
    assert.ok(text.includes(name), name);
  }
  await post('/v1/models/does-not-exist/samples', { n: 1 }).expect(404);
  assert.ok(!(await request(app).get('/metrics')).text.includes('does-not-exist'), 'unknown names never become labels');
});

/** Every `METHOD /path` the app routes (express 5 layers, nested routers included), paths in OpenAPI's `{param}` form. */
function routesOf(stack: unknown[]): string[] {
  type Layer = { route?: { path: string | string[]; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } };
  return (stack as Layer[]).flatMap((layer) => {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      return paths.flatMap((p) => Object.keys(layer.route!.methods).map((m) => `${m} ${p.replace(/:(\w+)/g, '{$1}')}`));
    }
    return layer.handle?.stack ? routesOf(layer.handle.stack) : [];
  });
}

test('/openapi.json describes every endpoint the app routes; /docs renders', async () => {
  const spec = (await request(app).get('/openapi.json').expect(200)).body;
  assert.equal(spec.openapi, '3.1.0');
  const routed = routesOf((app as unknown as { router: { stack: unknown[] } }).router.stack).filter((r) => r !== 'get /');
  assert.ok(routed.length >= 17, `found ${routed.length} routes`);
  assert.ok(routed.includes('post /v2/models/{name}/versions/{version}/infer'));
  const described = Object.entries(spec.paths as Record<string, object>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
  assert.deepEqual([...routed].sort(), [...described].sort());
  const samples = spec.paths['/v1/models/{name}/samples'].post;
  assert.ok(samples.requestBody.content['application/json'].schema.properties.n);
  // Python users find npz (and what npy holds) in the document.
  const format = samples.requestBody.content['application/json'].schema.properties.format;
  assert.ok(format.enum.includes('npz') && format.enum.includes('npy'), JSON.stringify(format));
  assert.match(format.description, /npy: the float32 output tensor, NHWC .* no labels; npz: a NumPy archive of images \(or points\), labels .* and indices/);
  assert.ok(samples.responses['200'].content['application/zip'], 'npz answers application/zip');
  const html = (await request(app).get('/docs').expect(200).expect('content-type', /html/)).text;
  assert.match(html, /POST \/v1\/models\/\{name\}\/samples/);
  assert.match(html, /<figure class="image"><img alt="digits" src="\/v1\/models\/digits\/samples\.png\?scale=2">/, 'without an API key the page shows live samples');
  // Point plots at 1× (about the size of digit grids at 2×), all top-aligned in one row; a way back to the page at /.
  assert.match(html, /<figure class="points"><img alt="ring" src="\/v1\/models\/ring\/samples\.png\?scale=1">/);
  assert.match(html, /<div class="gallery"><figure/);
  assert.match(html, /\.gallery\{display:flex;flex-wrap:wrap;align-items:flex-start/);
  assert.match(html, /<nav><a href="\/">/);
});
