/**
 * The bookkeeping of `wganx augment` (src/augment/state.ts) under faults, driven through the CLI:
 * one writer per part of a folder, a resume that checks the manifest's lines against the plan and
 * the data files, `--shard` against the folder, stale temporaries, and a full disk while writing
 * the summary or a manifest line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { files } from './helpers.js';
import { fixtureModels } from '../serve/fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli.ts')];

let fx: Awaited<ReturnType<typeof fixtureModels>>;
let tmp: string;
before(async () => {
  fx = await fixtureModels(['digits', 'pets']);
  tmp = mkdtempSync(join(tmpdir(), 'wganx-augment-state-'));
});
after(() => {
  fx.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const dir = (name: string) => join(tmp, name);
const cli = (...a: string[]) => spawnSync(process.execPath, [...CLI, 'augment', ...a], { cwd: ROOT, encoding: 'utf8' });
const lastLine = (text: string) => text.trim().split('\n').pop()!;
const manifestText = (root: string, name = 'manifest.jsonl') => readFileSync(join(root, name), 'utf8');


/** The data files and the manifest (the summary holds times). */
const dataFiles = (root: string) => new Map([...files(root)].filter(([f]) => !/^summary[.]/.test(f)));

/** A live process that is not the test's: the holder of a lock in the tests below. */
function liveProcess() {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  return { pid: child.pid!, stop: () => child.kill('SIGKILL') };
}

test('two identical runs into one folder: one writes, the other is refused with one line (or, when it comes after, finds nothing to do); the set is whole', async () => {
  const args = ['--model', join(fx.models, 'digits'), '--count', '3000', '--format', 'npz', '--chunk', '100', '--batch', '50', '--device', 'cpu', '--threads', '1'];
  const straight = dir('two-straight');
  assert.equal(cli(...args, '--out', straight).status, 0);
  const out = dir('two');
  const runs = [0, 1].map(() => {
    const child = spawn(process.execPath, [...CLI, 'augment', ...args, '--out', out], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    return new Promise<{ status: number | null; stderr: string }>((r) => child.on('exit', (status) => r({ status, stderr })));
  });
  const results = await Promise.all(runs);
  for (const r of results) {
    if (r.status === 0) continue;
    assert.equal(r.status, 1, r.stderr);
    assert.match(lastLine(r.stderr), /^wganx: --out: ".*two" is not allowed; expected a folder no other run is writing: another wganx augment \(pid \d+ on .+, since .+\) is writing this data set \(\.wganx-augment\.lock\); let it finish, or rerun this command once it has ended to resume$/);
  }
  assert.ok(results.some((r) => r.status === 0), 'one of them writes');
  assert.equal(manifestText(out), manifestText(straight)); // every line once, in order
  assert.deepEqual(new Set(files(out).keys()), new Set(files(straight).keys())); // the lock is gone too
});

test('a lock held by a live process refuses the run, for its part only; a lock left by a dead one is taken over', async () => {
  const pets = join(fx.models, 'pets');
  const out = dir('locked');
  mkdirSync(out);
  const holder = liveProcess();
  try {
    const lock = { host: hostname(), pid: holder.pid, started: null, token: 'abc', since: '2026-12-07T00:00:00.000Z' };
    writeFileSync(join(out, '.wganx-augment.0-of-2.lock'), JSON.stringify(lock));
    const refused = cli('--model', pets, '--count', '20', '--chunk', '5', '--shard', '0/2', '--out', out, '--device', 'cpu');
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(lastLine(refused.stderr), new RegExp(`another wganx augment \\(pid ${holder.pid} on ${hostname()}, since 2026-12-07T00:00:00.000Z\\) is writing shard 0/2 of this data set \\(\\.wganx-augment\\.0-of-2\\.lock\\)`));
    assert.equal(existsSync(join(out, 'summary.0-of-2.json')), false, 'nothing written');
    // The other shard has its own lock.
    assert.equal(cli('--model', pets, '--count', '20', '--chunk', '5', '--shard', '1/2', '--out', out, '--device', 'cpu').status, 0);
  } finally {
    holder.stop();
  }
  // What SIGKILL leaves: the holder is gone, its lock stays.
  await new Promise((r) => setTimeout(r, 100));
  const taken = cli('--model', pets, '--count', '20', '--chunk', '5', '--shard', '0/2', '--out', out, '--device', 'cpu');
  assert.equal(taken.status, 0, taken.stderr);
  assert.equal(existsSync(join(out, '.wganx-augment.0-of-2.lock')), false);
});

test('a resume checks each kept manifest line against the plan and its data file: doubled lines or a missing file are cut and written again, never "nothing to do"', () => {
  const args = ['--model', join(fx.models, 'pets'), '--per-class', '10', '--format', 'npz', '--chunk', '6', '--device', 'cpu'];
  const out = dir('doubled');
  assert.equal(cli(...args, '--out', out).status, 0);
  const whole = dataFiles(out);
  const lines = manifestText(out).trim().split('\n');
  // What two writers used to leave: every chunk's lines twice, the summary complete.
  const doubled = [];
  for (let c = 0; c < lines.length; c += 6) doubled.push(...lines.slice(c, c + 6), ...lines.slice(c, c + 6));
  writeFileSync(join(out, 'manifest.jsonl'), `${doubled.join('\n')}\n`);
  const r = cli(...args, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /nothing to do/);
  assert.match(r.stderr, /augment: manifest\.jsonl: line 7 is not sample 6 \(cat\) of part-000001\.npz; keeping the 6 lines before it and writing the rest again/);
  assert.deepEqual(dataFiles(out), whole);

  // A data file gone from a finished set: its chunk and the later ones are written again.
  rmSync(join(out, 'part-000002.npz'));
  const r2 = cli(...args, '--out', out);
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(r2.stderr, /manifest\.jsonl: part-000002\.npz, listed from line 13, is missing; keeping the 12 lines before it/);
  assert.deepEqual(dataFiles(out), whole);
});

test('--shard is checked against the folder: an unsharded set refuses a shard, a sharded one refuses no --shard and another k', () => {
  const pets = join(fx.models, 'pets');
  const base = ['--model', pets, '--count', '20', '--chunk', '5', '--device', 'cpu'];
  const one = (r: ReturnType<typeof cli>, pattern: RegExp) => {
    assert.equal(r.status, 1, r.stderr);
    assert.match(lastLine(r.stderr), pattern);
  };
  const whole = dir('unsharded');
  assert.equal(cli(...base, '--out', whole).status, 0);
  one(cli(...base, '--shard', '0/2', '--out', whole), /^wganx: --shard: "0\/2" is not allowed; expected no --shard: the folder holds an unsharded data set \(summary\.json\); use another --out for another split$/);
  const parts = dir('sharded');
  assert.equal(cli(...base, '--shard', '1/2', '--out', parts).status, 0);
  one(cli(...base, '--out', parts), /^wganx: --shard: "\(none\)" is not allowed; expected a part i\/2 \(0 ≤ i < 2\): the folder holds shards of 2 parts \(summary\.1-of-2\.json\)/);
  one(cli(...base, '--shard', '0/3', '--out', parts), /^wganx: --shard: "0\/3" is not allowed; expected a part i\/2/);
  assert.deepEqual(readdirSync(parts).sort(), ['cat', 'dog', 'eel', 'manifest.1-of-2.jsonl', 'summary.1-of-2.json']); // the refused runs wrote nothing
  assert.equal(cli(...base, '--shard', '0/2', '--out', parts).status, 0);
});

test('a summary temporary left by a kill during its atomic write is removed by the next run', () => {
  const args = ['--model', join(fx.models, 'pets'), '--count', '12', '--chunk', '4', '--format', 'npz', '--device', 'cpu'];
  const out = dir('stale-tmp');
  assert.equal(cli(...args, '--out', out).status, 0);
  const whole = files(out);
  // A kill after the temporary was written and before the rename: the old summary (running) stays.
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  writeFileSync(join(out, 'summary.json'), JSON.stringify({ ...summary, status: 'running' }));
  writeFileSync(join(out, '.summary.json.tmp-12345-0badc0de'), JSON.stringify(summary));
  writeFileSync(join(out, '.summary.1-of-2.json.tmp-1-ab'), '{'); // another part's: not ours to remove
  const r = cli(...args, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(existsSync(join(out, '.summary.json.tmp-12345-0badc0de')), false);
  assert.equal(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).status, 'complete');
  rmSync(join(out, '.summary.1-of-2.json.tmp-1-ab'));
  assert.deepEqual(new Set(files(out).keys()), new Set(whole.keys()));
});

/** Whether this machine lets the test mount a small tmpfs in its own namespaces (a full disk on demand). */
const CAN_MOUNT = spawnSync('unshare', ['-rm', 'sh', '-c', `d=$(mktemp -d) && mount -t tmpfs -o size=64k none "$d" && umount "$d" && rmdir "$d"`]).status === 0;

test('a full disk while writing summary.json or a manifest line: one line naming --out, no torn line; the rerun with room finishes', { skip: CAN_MOUNT ? false : 'needs `unshare -rm` (user and mount namespaces) to mount a 1 MiB tmpfs and fill it' }, () => {
  const pets = join(fx.models, 'pets');
  // Two sets prepared here, then copied onto a small tmpfs that is filled up to one free page (4 KiB: the lock file's).
  // summary: a whole npz set whose run was killed before summary.json said complete (only the summary is left to write).
  const summaryArgs = ['--model', pets, '--count', '12', '--chunk', '4', '--format', 'npz', '--device', 'cpu'];
  const s0 = dir('full-summary');
  assert.equal(cli(...summaryArgs, '--out', s0).status, 0);
  const summary = JSON.parse(readFileSync(join(s0, 'summary.json'), 'utf8'));
  writeFileSync(join(s0, 'summary.json'), JSON.stringify({ ...summary, status: 'running' }));
  // manifest: png files all whole, the manifest listing the first of two chunks; appending the
  // second chunk's lines needs a second page of the manifest.
  const manifestArgs = ['--model', pets, '--per-class', '12', '--chunk', '18', '--device', 'cpu'];
  const m0 = dir('full-manifest');
  assert.equal(cli(...manifestArgs, '--out', m0).status, 0);
  const whole = manifestText(m0);
  const firstChunk = whole.split('\n').slice(0, 18).join('\n') + '\n';
  assert.ok(Buffer.byteLength(firstChunk) < 4096 && Buffer.byteLength(whole) > 4096, `the second chunk's lines cross a page (${Buffer.byteLength(firstChunk)}, ${Buffer.byteLength(whole)} bytes)`);
  writeFileSync(join(m0, 'manifest.jsonl'), firstChunk);
  const msummary = JSON.parse(readFileSync(join(m0, 'summary.json'), 'utf8'));
  writeFileSync(join(m0, 'summary.json'), JSON.stringify({ ...msummary, status: 'running' }));

  const mnt = dir('mnt');
  const logs = dir('full-logs');
  mkdirSync(mnt);
  mkdirSync(logs);
  const wganx = [process.execPath, ...CLI, 'augment'].map((a) => `'${a}'`).join(' ');
  const q = (a: string[]) => a.map((x) => `'${x}'`).join(' ');
  const script = `
    set -u
    mount -t tmpfs -o size=1m none '${mnt}' || exit 3
    for set in full-summary full-manifest; do cp -a '${tmp}'/$set '${mnt}'/$set; done
    head -c 4096 /dev/zero > '${mnt}/page'; head -c 2000000 /dev/zero > '${mnt}/filler' 2>/dev/null; rm '${mnt}/page'
    ${wganx} ${q(summaryArgs)} --out '${mnt}/full-summary' 2> '${logs}/summary.err'; echo $? > '${logs}/summary.rc'
    ${wganx} ${q(manifestArgs)} --out '${mnt}/full-manifest' 2> '${logs}/manifest.err'; echo $? > '${logs}/manifest.rc'
    cp '${mnt}/full-manifest/manifest.jsonl' '${logs}/manifest-after-full.jsonl'
    ls -a '${mnt}/full-summary' > '${logs}/summary.ls'
    rm '${mnt}/filler'
    ${wganx} ${q(summaryArgs)} --out '${mnt}/full-summary' 2> '${logs}/summary2.err'; echo $? > '${logs}/summary2.rc'
    ${wganx} ${q(manifestArgs)} --out '${mnt}/full-manifest' 2> '${logs}/manifest2.err'; echo $? > '${logs}/manifest2.rc'
    cp '${mnt}/full-manifest/manifest.jsonl' '${logs}/manifest-after-room.jsonl'
    cp '${mnt}/full-summary/summary.json' '${logs}/summary-after-room.json'
    umount '${mnt}'`;
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const log = (name: string) => readFileSync(join(logs, name), 'utf8');

  assert.equal(log('summary.rc').trim(), '1', log('summary.err'));
  assert.equal(lastLine(log('summary.err')), 'wganx: --out: the disk is full (ENOSPC) writing summary.json; 12 of 12 samples are whole and listed in manifest.jsonl; free some space and run the same command again to finish');
  assert.doesNotMatch(log('summary.ls'), /\.tmp-/); // the atomic write's temporary is gone
  assert.equal(log('manifest.rc').trim(), '1', log('manifest.err'));
  assert.equal(lastLine(log('manifest.err')), 'wganx: --out: the disk is full (ENOSPC) writing manifest.jsonl; 18 of 36 samples are whole and listed in manifest.jsonl; free some space and run the same command again to finish');
  assert.equal(log('manifest-after-full.jsonl'), firstChunk); // no torn line

  assert.equal(log('summary2.rc').trim(), '0', log('summary2.err'));
  assert.equal(JSON.parse(log('summary-after-room.json')).status, 'complete');
  assert.equal(log('manifest2.rc').trim(), '0', log('manifest2.err'));
  assert.equal(log('manifest-after-room.jsonl'), whole);
});
