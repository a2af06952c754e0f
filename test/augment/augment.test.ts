/**
 * `wganx augment`: the layouts training code reads, determinism (any batch size, shards whose
 * union is the whole set), the very samples the server serves, resuming after SIGKILL, refusals
 * of bad input, and drawing from a --remote server with retries.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { defaultLabel } from '../../src/core/labels.js';
import { augment, type AugmentOptions } from '../../src/augment/run.js';
import { openRemote } from '../../src/augment/remote.js';
import type { ChunkJob } from '../../src/augment/write-chunk.js';
import { WriterPool } from '../../src/augment/writers.js';
import { startServer } from '../../src/serve/http/server.js';
import { silentLogger } from '../../src/serve/options.js';
import { files } from './helpers.js';
import { fixtureModels, testOptions } from '../serve/fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];
const quiet = { log: () => {}, progress: false } as const;

let fx: Awaited<ReturnType<typeof fixtureModels>>;
let tmp: string;
before(async () => {
  fx = await fixtureModels();
  tmp = mkdtempSync(join(tmpdir(), 'wganx-augment-'));
});
after(() => {
  fx.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const dir = (name: string) => join(tmp, name);
const run = (opts: Partial<AugmentOptions> & { out: string }) => augment({ model: join(fx.models, 'pets'), device: 'cpu', threads: 1, ...opts }, quiet);


const dataFiles = (root: string) => new Map([...files(root)].filter(([f]) => !/^(manifest|summary)[.]/.test(f)));
const manifestLines = (root: string, name = 'manifest.jsonl') => readFileSync(join(root, name), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('--per-class writes one folder per class (ImageFolder layout) with K images each, a manifest line per image and a summary', async () => {
  const out = dir('per-class');
  const r = await run({ perClass: 7, out, seed: 5, chunk: 4 });
  assert.deepEqual([r.total, r.samples, r.written, r.complete], [21, 21, 21, true]);
  assert.deepEqual(readdirSync(out).sort(), ['cat', 'dog', 'eel', 'manifest.jsonl', 'summary.json']);
  for (const [c, name] of ['cat', 'dog', 'eel'].entries()) {
    const names = readdirSync(join(out, name)).sort();
    // Sample k of class c is latent index k·3 + c of the seed.
    assert.deepEqual(names, Array.from({ length: 7 }, (_, k) => `5-${k * 3 + c}.png`).sort());
  }
  const lines = manifestLines(out);
  assert.equal(lines.length, 21);
  for (const l of lines) {
    assert.equal(l.model, 'pets');
    assert.equal(l.seed, 5);
    assert.equal(l.file, `${l.labelName}/5-${l.index}.png`);
    assert.equal(l.label, l.index % 3);
    assert.equal(l.sha256, sha(readFileSync(join(out, l.file))));
    const meta = await sharp(join(out, l.file)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 8, 8]);
  }
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.status, 'complete');
  assert.deepEqual(summary.identity.classes, [0, 1, 2]);
  assert.ok(summary.samplesPerSecond > 0);
  // --classes picks a subset; a larger K extends a smaller one.
  const some = dir('some-classes');
  await run({ perClass: 9, out: some, seed: 5, classes: ['eel', '0'] });
  assert.deepEqual(readdirSync(some).filter((f) => !f.includes('.')).sort(), ['cat', 'eel']);
  for (let k = 0; k < 7; k++) assert.ok(readFileSync(join(some, 'eel', `5-${k * 3 + 2}.png`)).equals(readFileSync(join(out, 'eel', `5-${k * 3 + 2}.png`))));
});

test('the same arguments give byte-identical files at any batch size; the k shards are disjoint and together the whole set', async () => {
  const whole = dir('whole');
  await run({ count: 50, out: whole, seed: 3, chunk: 8, batch: 64 });
  const small = dir('batch-3');
  await run({ count: 50, out: small, seed: 3, chunk: 8, batch: 3 });
  assert.deepEqual(dataFiles(small), dataFiles(whole));
  assert.deepEqual(manifestLines(small), manifestLines(whole));
  const sharded = dir('sharded');
  const seen = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const r = await run({ count: 50, out: sharded, seed: 3, chunk: 8, shard: `${i}/3` });
    const part = manifestLines(sharded, `manifest.${i}-of-3.jsonl`);
    assert.equal(part.length, r.samples);
    for (const l of part) {
      assert.ok(!seen.has(l.file), `${l.file} in two shards`);
      seen.add(l.file);
    }
  }
  assert.deepEqual(dataFiles(sharded), dataFiles(whole));
  const union = [0, 1, 2].flatMap((i) => manifestLines(sharded, `manifest.${i}-of-3.jsonl`)).sort((a, b) => a.index - b.index);
  assert.deepEqual(union, manifestLines(whole));
});

test('--count gives sample j the server\'s latent and default class: the same PNG bytes as the server\'s per-sample images', async () => {
  const out = dir('count');
  await run({ count: 12, out, seed: 9 });
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1' }), { logger: silentLogger });
  try {
    const res = await fetch(`${srv.url}/v1/models/pets/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 12, seed: 9, format: 'png', layout: 'list' }) });
    const body = (await res.json()) as { samples: { index: number; label: number; labelName: string; image: string }[] };
    for (const s of body.samples) {
      assert.equal(s.label, defaultLabel(9, s.index, 3));
      assert.ok(readFileSync(join(out, s.labelName, `9-${s.index}.png`)).equals(Buffer.from(s.image, 'base64')), `sample ${s.index}`);
    }
  } finally {
    await srv.shutdown();
  }
});

test('npz, tar (WebDataset) and csv files load with numpy, tarfile and csv, and hold what the manifest says', async () => {
  const npz = dir('npz');
  await run({ perClass: 5, out: npz, chunk: 10, scale: 2, format: 'npz' });
  const csv = dir('csv');
  await augment({ model: join(fx.models, 'ring'), count: 25, out: csv, format: 'csv', chunk: 10, device: 'cpu' }, quiet);
  const pointsNpz = dir('points-npz');
  await augment({ model: join(fx.models, 'ring'), count: 25, out: pointsNpz, format: 'npz', chunk: 10, device: 'cpu' }, quiet);
  const tarOut = dir('tar2');
  await augment({ model: join(fx.models, 'pets'), perClass: 5, out: tarOut, format: 'tar', chunk: 10, device: 'cpu' }, quiet);
  const script = `
import json, sys, tarfile, csv, numpy as np
npz, tar, csvdir, pnpz = sys.argv[1:5]
d = np.load(npz + '/part-000000.npz'); e = np.load(npz + '/part-000001.npz')
out = {'npz': [d['images'].shape, str(d['images'].dtype), d['labels'].tolist() + e['labels'].tolist(), str(d['labels'].dtype), d['indices'].tolist()]}
t = tarfile.open(tar + '/shard-000000.tar'); names = t.getnames()
out['tar'] = [len(names), names[:4], t.extractfile(names[1]).read().decode()]
rows = list(csv.reader(open(csvdir + '/part-000000.csv')))
out['csv'] = [rows[0], len(rows) - 1]
p = np.load(pnpz + '/part-000002.npz'); out['points'] = [p['points'].shape, str(p['points'].dtype), p['indices'].tolist()]
print(json.dumps(out))`;
  const r = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, npz, tarOut, csv, pointsNpz], { encoding: 'utf8' }));
  assert.deepEqual(r.npz[0], [10, 16, 16, 3]); // scale 2: 8×8 → 16×16, RGB
  assert.equal(r.npz[1], 'uint8');
  assert.deepEqual(r.npz[2], [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
  assert.equal(r.npz[3], 'int64');
  assert.deepEqual(r.npz[4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(r.tar, [20, ['0-0.png', '0-0.cls', '0-1.png', '0-1.cls'], '0']);
  assert.deepEqual(r.csv, [['x', 'y', 'seed', 'index'], 10]);
  assert.deepEqual(r.points, [[5, 2], 'float32', [20, 21, 22, 23, 24]]);
  const lines = manifestLines(tarOut);
  assert.deepEqual(lines[1], { file: 'shard-000000.tar', member: '0-1.png', index: 1, label: 1, labelName: 'dog', seed: 0, model: 'pets', sha256: lines[1].sha256 });
});

test('a run stopped by its signal says so in summary.json (status stopped, the samples on disk); the same command finishes it', async () => {
  const out = dir('stopped');
  let reads = 0;
  const signal = {
    get aborted() {
      return ++reads > 2; // two chunks are planned, then the run stops
    },
  };
  const r = await augment({ model: join(fx.models, 'pets'), device: 'cpu', threads: 1, perClass: 8, chunk: 3, seed: 2, out }, { ...quiet, signal });
  assert.equal(r.complete, false);
  const stopped = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(stopped.status, 'stopped');
  assert.equal(stopped.written, manifestLines(out).length);
  assert.ok(stopped.written > 0 && stopped.written < 24, `${stopped.written}`);
  const done = await run({ perClass: 8, chunk: 3, seed: 2, out });
  assert.equal(done.complete, true);
  const complete = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(complete.status, 'complete');
  assert.equal(complete.samples, 24);
  assert.equal('written' in complete, false);
});

test('a run killed with SIGKILL at any moment resumes to exactly the files of an uninterrupted run, no line missing or doubled', async () => {
  const straight = dir('straight');
  const args = ['augment', '--model', join(fx.models, 'digits'), '--count', '20000', '--chunk', '100', '--batch', '50', '--device', 'cpu', '--threads', '1'];
  const ok = spawnSync(process.execPath, [...CLI, ...args, '--out', straight], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  const killed = dir('killed');
  const manifestBytes = () => (existsSync(join(killed, 'manifest.jsonl')) ? readFileSync(join(killed, 'manifest.jsonl')).length : 0);
  for (const listed of [30_000, 600_000]) {
    const child = spawn(process.execPath, [...CLI, ...args, '--out', killed], { cwd: ROOT, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    // Kill once that many bytes of lines are listed, wherever the writer and the generator are.
    const t0 = Date.now();
    while (manifestBytes() < listed && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited;
  }
  const partial = readFileSync(join(killed, 'manifest.jsonl'), 'utf8').split('\n').length;
  assert.ok(partial < 20000, `killed before the end (${partial} lines)`);
  writeFileSync(join(killed, 'manifest.jsonl'), `${readFileSync(join(killed, 'manifest.jsonl'), 'utf8')}{"file":"torn`); // a torn last write
  const resumed = spawnSync(process.execPath, [...CLI, ...args, '--out', killed], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming after \d+ whole/);
  assert.deepEqual(dataFiles(killed), dataFiles(straight));
  assert.deepEqual(manifestLines(killed), manifestLines(straight));
  const again = spawnSync(process.execPath, [...CLI, ...args, '--out', killed], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(again.status, 0);
  assert.match(again.stderr, /nothing to do: .* already holds the complete data set \(20000 samples\)/);
});

test('a chunk file cut off mid-write (tar) is gone after the rerun; a dead writer thread fails its jobs at once', async () => {
  const out = dir('tar-torn');
  await run({ out, count: 300, chunk: 100, format: 'tar', seed: 4 });
  const whole = dataFiles(out);
  const wholeLines = manifestLines(out);
  const last = [...whole.keys()].filter((f) => f.endsWith('.tar')).sort().pop()!;
  // What a kill during the last chunk's write leaves: its lines missing, its file only as the temporary.
  const lines = readFileSync(join(out, 'manifest.jsonl'), 'utf8').trim().split('\n');
  writeFileSync(join(out, 'manifest.jsonl'), `${lines.slice(0, 200).join('\n')}\n`);
  rmSync(join(out, last));
  writeFileSync(join(out, `${last}.tmp`), 'cut off');
  await run({ out, count: 300, chunk: 100, format: 'tar', seed: 4 });
  assert.deepEqual(dataFiles(out), whole); // the same files, and no temporary left
  assert.deepEqual(manifestLines(out), wholeLines);

  // Another shard writing its summary (atomically, under a hidden name) does not make the folder foreign.
  const shared = dir('shared-start');
  mkdirSync(shared);
  writeFileSync(join(shared, '.summary.2-of-2.json.tmp-1-ab'), '{');
  assert.equal((await run({ out: shared, count: 20, chunk: 10, format: 'npz', shard: '1/2' })).complete, true);

  const pool = new WriterPool(1);
  await pool.close();
  const job: ChunkJob = { id: 0, out, format: 'npz', files: ['x.npz'], keys: ['x'], data: new Float32Array(4), rowShape: [2, 2, 1], range: [-1, 1], scale: 1, labels: [null], indices: [0], seed: 0 };
  await assert.rejects(pool.write(job), /writer thread exited/);
});

test('bad input gets one line naming the flag and a non-zero exit, and leaves nothing half-written', async () => {
  const cli = (...a: string[]) => spawnSync(process.execPath, [...CLI, 'augment', ...a], { cwd: ROOT, encoding: 'utf8' });
  const one = (r: ReturnType<typeof cli>, status: number, pattern: RegExp) => {
    assert.equal(r.status, status, r.stderr);
    const lines = r.stderr.trim().split('\n');
    // A usage error (exit 2) adds commander's "(add --help for usage)" hint.
    assert.deepEqual(lines.slice(1), status === 2 ? ['(add --help for usage)'] : [], r.stderr);
    assert.match(lines[0], pattern);
  };
  const pets = join(fx.models, 'pets');
  one(cli('--model', join(tmp, 'nope'), '--count', '5', '--out', dir('x1')), 1, /--model: ".*nope" is not allowed; expected a model folder holding manifest.json/);
  one(cli('--model', pets, '--per-class', '0', '--out', dir('x2')), 2, /--per-class <k>' argument '0' is invalid\. "0" is not an integer in \[1, /);
  one(cli('--model', pets, '--count', '5', '--shard', '3/3', '--out', dir('x3')), 1, /--shard: "3\/3" is not allowed; expected i\/k with 0 ≤ i < k/);
  one(cli('--model', pets, '--per-class', '2', '--classes', 'cat,wolf', '--out', dir('x4')), 1, /--classes: "wolf" is not allowed; expected a class index from 0 to 2 or one of the names "cat", "dog", "eel"/);
  one(cli('--model', pets, '--per-class', '2', '--classes', ',', '--out', dir('x4b')), 1, /--classes: "" is not allowed; expected at least one class name or index, comma-separated \(leave the flag out for every class\)/);
  assert.ok(!existsSync(dir('x4b')), 'a refused --classes writes nothing');
  one(cli('--model', pets, '--count', '2', '--api-key', 'k3y', '--out', dir('x4c')), 1, /--api-key: "…" is not allowed; expected nothing without --remote/);
  // A folder that cannot be made is named at once (Node 20's recursive mkdir loops forever under /proc).
  if (existsSync('/proc/self')) one(cli('--model', pets, '--count', '2', '--format', 'npz', '--out', '/proc/wganx-nope/x'), 1, /--out: "\/proc\/wganx-nope\/x" is not allowed; expected a folder that can be created \(ENOENT at \/proc\/wganx-nope\)/);
  one(cli('--model', join(fx.models, 'ring'), '--per-class', '2', '--out', dir('x5')), 1, /--per-class: 2 is not allowed; expected nothing: model "ring" is not conditional/);
  one(cli('--model', join(fx.models, 'ring'), '--count', '2', '--out', dir('x6')), 1, /--format: "png" is not allowed; expected one of npz, csv for a point model/);
  // Neither or both of --per-class and --count: a usage error (exit 2), saying which.
  one(cli('--model', pets, '--count', '2', '--per-class', '2', '--out', dir('x7')), 2, /^error: give exactly one of '--per-class <k>' \(samples per class, conditional models\) and '--count <n>' \(samples in all\); both were given$/);
  one(cli('--model', pets, '--out', dir('x8')), 2, /^error: give exactly one of '--per-class <k>' .* and '--count <n>' .*; neither was given$/);
  assert.ok(!existsSync(dir('x8')), 'a usage error writes nothing');
  mkdirSync(dir('foreign'));
  writeFileSync(join(dir('foreign'), 'notes.txt'), 'mine');
  one(cli('--model', pets, '--count', '2', '--out', dir('foreign')), 1, /--out: ".*foreign" is not allowed; expected a new or empty folder, or one written by wganx augment/);
  // A full disk: a run that stopped after two whole chunks (manifest cut to 6 lines, later files
  // gone), whose third chunk's first image is a link to /dev/full (writes fail with ENOSPC).
  const full = dir('full');
  const args = ['--model', pets, '--per-class', '4', '--chunk', '3', '--out', full, '--device', 'cpu'];
  assert.equal(cli(...args).status, 0);
  const whole = manifestLines(full);
  writeFileSync(join(full, 'manifest.jsonl'), whole.slice(0, 6).map((l) => `${JSON.stringify(l)}\n`).join(''));
  for (const l of whole.slice(6)) rmSync(join(full, l.file));
  symlinkSync('/dev/full', join(full, 'cat', '0-6.png'));
  const r = cli(...args);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr.trim().split('\n').pop()!, /^wganx: --out: the disk is full \(ENOSPC\) writing cat\/0-6\.png; 6 of 12 samples are whole and listed in manifest\.jsonl; free some space and run the same command again to finish$/);
  // Nothing of the failed chunk is left; the whole chunks before it are listed.
  assert.equal(existsSync(join(full, 'cat', '0-6.png')), false);
  assert.equal(manifestLines(full).length, 6);
  for (const l of manifestLines(full)) assert.equal(sha(readFileSync(join(full, l.file))), l.sha256);
  // Room again: the same command finishes the set.
  const done = cli(...args);
  assert.equal(done.status, 0, done.stderr);
  assert.deepEqual(manifestLines(full), whole);
  await assert.rejects(run({ count: 2, out: dir('per-class') }), (e: unknown) => e instanceof InvalidArgumentError && e.field === '--per-class' && /7, the value .* was written with \(summary\.json\)/.test(e.allowed));
});

test('--remote draws from a wganx server (the same files as locally) and retries refusals that a wait can cure', async () => {
  const srv = await startServer(testOptions(fx.models, { port: 0, host: '127.0.0.1' }), { logger: silentLogger });
  try {
    const local = dir('local-pets');
    await run({ perClass: 6, out: local, seed: 2, chunk: 5 });
    const remote = dir('remote-pets');
    // By name (the manifest comes from the server) and from the local folder alike.
    await augment({ model: 'pets', remote: srv.url, perClass: 6, out: remote, seed: 2, chunk: 5, batch: 4 }, quiet);
    assert.deepEqual(dataFiles(remote), dataFiles(local));
    assert.deepEqual(manifestLines(remote), manifestLines(local));
    // A server that answers 503 (Retry-After: 0) twice, then passes requests on.
    let refused = 0;
    const flaky: typeof fetch = (input, init) => (String(input).endsWith('/infer') && refused++ < 2 ? Promise.resolve(new Response('{"error":"busy"}', { status: 503, headers: { 'retry-after': '0' } })) : fetch(input, init));
    const lines: string[] = [];
    const src = await openRemote({ url: srv.url, model: join(fx.models, 'pets'), fetch: flaky, backoffMs: 1, log: (l) => lines.push(l) });
    const out = await src.run(new Float32Array(8), new Int32Array([0, 1]));
    assert.equal(out.data.length, 2 * 8 * 8 * 3);
    assert.equal(refused, 3);
    assert.equal(lines.length, 2);
    assert.match(lines[0], /HTTP 503: \{"error":"busy"\}; retrying in 0\.0 s \(attempt 2 of 8\)/);
    const dead = await openRemote({ url: srv.url, model: 'pets', fetch: flaky, attempts: 2, backoffMs: 1 });
    refused = 0;
    await assert.rejects(dead.run(new Float32Array(4), new Int32Array([0])), /did not answer after 2 attempts: HTTP 503/);
    await assert.rejects(openRemote({ url: 'ftp://x', model: 'pets' }), /--remote: "ftp:\/\/x" is not allowed; expected an http\(s\) URL/);
    await assert.rejects(openRemote({ url: srv.url, model: 'nope' }), /--model: "nope" is not allowed; expected a model folder, or one of the models http:\/\/127\.0\.0\.1:\d+ serves: digits, pets, ring \(.* does not serve a model "nope"\)/);
  } finally {
    await srv.shutdown();
  }
});
