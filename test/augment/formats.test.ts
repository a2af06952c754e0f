/**
 * The augmentation format table (src/augment/formats/index.ts): every row has its pieces (help,
 * extension, kinds, layout, a writer file), the flag and the plan read it, each row's writer puts
 * every sample where the plan's manifest line says, and a name outside the table is refused by
 * the writer thread instead of falling through to another format.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import { parseManifest, type Manifest } from '../../src/core/manifest.js';
import { AUGMENT_FLAGS } from '../../src/augment/flags.js';
import { AUGMENT_FORMATS, FORMATS, formatSpec, formatsFor, type AugmentFormat } from '../../src/augment/formats/index.js';
import { Plan } from '../../src/augment/plan.js';
import { writeChunk, type ChunkJob } from '../../src/augment/write-chunk.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const manifestOf = (name: string): Manifest => parseManifest(JSON.parse(readFileSync(join(ROOT, 'models', name, 'manifest.json'), 'utf8')));
/** A conditional image model (28×28×1) and a 2-D point model, as shipped. */
const MODELS = { image: manifestOf('mnist-cgan'), points: manifestOf('ring') } as const;
const ROW_SHAPE: Readonly<Record<'image' | 'points', readonly number[]>> = { image: [28, 28, 1], points: [2] };

const tmp = mkdtempSync(join(tmpdir(), 'wganx-formats-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The names of a tar file's members (ustar headers: the name in the first 100 bytes). */
function tarMembers(bytes: Buffer): string[] {
  const names: string[] = [];
  for (let at = 0; at + 512 <= bytes.length; ) {
    const name = bytes.subarray(at, at + 100).toString('utf8').replace(/\0.*$/s, '');
    if (name === '') break;
    names.push(name);
    const size = parseInt(bytes.subarray(at + 124, at + 136).toString('utf8').replace(/\0.*$/s, '').trim(), 8);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

test('every format row has its pieces, and --format offers exactly the table', async () => {
  assert.deepEqual(AUGMENT_FORMATS, Object.keys(FORMATS));
  assert.deepEqual(AUGMENT_FLAGS.format.choices, AUGMENT_FORMATS);
  for (const name of AUGMENT_FORMATS) {
    const row = formatSpec(name);
    assert.match(row.help, /\S/, `${name}: help`);
    assert.ok(AUGMENT_FLAGS.format.help.includes(`${name}: ${row.help}`), `${name}: in --format's help`);
    assert.match(row.ext, /^[a-z0-9]+$/, `${name}: ext`);
    assert.ok(row.kinds.length > 0 && row.kinds.every((k) => k === 'image' || k === 'points'), `${name}: kinds ${row.kinds}`);
    if (row.chunk !== null) assert.match(row.chunk.stem, /^[a-z0-9-]+$/, `${name}: chunk stem`);
    const writer = await row.load();
    assert.equal(typeof writer?.write, 'function', `${name}: its file exports a writer`);
  }
  assert.throws(() => formatSpec('bmp'), /--format: "bmp" is not allowed; expected one of png, webp, jpeg, npz, tar, csv/);
});

test('the plan allows a format exactly for the kinds of its row, and says which it allows', () => {
  for (const kind of ['image', 'points'] as const) {
    for (const format of AUGMENT_FORMATS) {
      const make = () => new Plan({ count: 4, format, seed: 0, chunk: 2, scale: 1 }, MODELS[kind]);
      if ((FORMATS[format].kinds as readonly string[]).includes(kind)) assert.equal(make().format, FORMATS[format]);
      else assert.throws(make, new RegExp(`--format: "${format}" is not allowed; expected one of ${formatsFor(kind).join(', ')} for an? (image|point) model`));
    }
  }
});

test("each row's writer puts every sample where the plan's manifest line says", async () => {
  for (const format of AUGMENT_FORMATS) {
    for (const kind of FORMATS[format].kinds) {
      const manifest = MODELS[kind];
      const plan = new Plan({ count: 5, format, seed: 3, chunk: 3, scale: 1 }, manifest);
      const out = join(tmp, `${format}-${kind}`);
      mkdirSync(out);
      const rowSize = ROW_SHAPE[kind].reduce((a, b) => a * b, 1);
      for (const chunk of plan.ownedChunks()) {
        const [a, b] = plan.chunkRange(chunk);
        const samples = Array.from({ length: b - a }, (_, k) => plan.sample(a + k));
        const files = samples.map((s) => plan.fileOf(s, chunk));
        for (const f of new Set(files)) mkdirSync(join(out, dirname(f)), { recursive: true });
        const data = Float32Array.from({ length: samples.length * rowSize }, (_, i) => Math.sin(i * 0.37));
        const job: ChunkJob = { id: chunk, out, format, files, keys: samples.map((s) => plan.key(s)), data, rowShape: [...ROW_SHAPE[kind]], range: [...manifest.output.range] as [number, number], scale: 1, labels: samples.map((s) => s.label), indices: samples.map((s) => s.index), seed: 3 };
        const r = await writeChunk(job);
        assert.ok('sha256' in r, `${format}/${kind}: ${JSON.stringify(r)}`);
        assert.equal(r.sha256.length, samples.length);
        samples.forEach((s, row) => {
          const line = plan.lineOf(s, row, chunk);
          const where = `${format}/${kind} sample ${a + row}`;
          assert.ok(existsSync(join(out, line.file)), `${where}: ${line.file}`);
          assert.equal(line.file.endsWith(`.${FORMATS[format].ext}`), true, where);
          const layout = formatSpec(format).chunk;
          if (layout === null) {
            assert.deepEqual([line.member, line.row], [undefined, undefined], where);
            assert.equal(r.sha256[row], sha(readFileSync(join(out, line.file))), where);
          } else if (layout.member !== undefined) {
            assert.ok(tarMembers(readFileSync(join(out, line.file))).includes(line.member!), `${where}: member ${line.member}`);
          } else {
            assert.equal(line.row, row, where);
          }
        });
      }
      // Chunked formats leave no temporary; one file per sample leaves one per sample.
      const written = readdirSync(out, { recursive: true }).map(String).filter((f) => /\.[a-z0-9]+$/.test(f));
      assert.equal(written.some((f) => f.endsWith('.tmp')), false, format);
      if (format === 'npz') assert.ok('indices.npy' in unzipSync(readFileSync(join(out, 'part-000000.npz'))));
    }
  }
});

test('a writer thread refuses a format outside the table instead of writing another one', async () => {
  const out = join(tmp, 'unknown');
  mkdirSync(out);
  const job: ChunkJob = { id: 7, out, format: 'bmp' as AugmentFormat, files: ['part-000000.bmp'], keys: ['0-0'], data: new Float32Array([0.5, -0.5]), rowShape: [2], range: [-1, 1], scale: 1, labels: [null], indices: [0], seed: 0 };
  const r = await writeChunk(job);
  assert.ok('error' in r, `written as something: ${JSON.stringify(r)}`);
  assert.match(r.error.message, /--format: "bmp" is not allowed; expected one of png, webp, jpeg, npz, tar, csv/);
  assert.deepEqual(readdirSync(out), []);
});
