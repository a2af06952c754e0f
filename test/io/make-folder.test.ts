/** src/io/make-folder.ts: `mkdir -p` that reports what stops it instead of looping (Node 20's recursive mkdir under /proc). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeFolder, makeFolderSync } from '../../src/io/make-folder.js';

test('makeFolder and makeFolderSync create every missing level, accept an existing folder, and refuse a file in the way', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wganx-mkdir-'));
  try {
    await makeFolder(join(dir, 'a', 'b', 'c'));
    assert.ok(statSync(join(dir, 'a', 'b', 'c')).isDirectory());
    await makeFolder(join(dir, 'a', 'b'));
    makeFolderSync(join(dir, 'x', 'y'));
    makeFolderSync(join(dir, 'x', 'y'));
    assert.ok(statSync(join(dir, 'x', 'y')).isDirectory());
    writeFileSync(join(dir, 'file'), 'not a folder');
    await assert.rejects(makeFolder(join(dir, 'file', 'sub')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR' && e.path === join(dir, 'file'));
    assert.throws(() => makeFolderSync(join(dir, 'file')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
    await Promise.all([makeFolder(join(dir, 'race', 'r')), makeFolder(join(dir, 'race', 'r'))]);
    assert.ok(existsSync(join(dir, 'race', 'r')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder the file system cannot create under /proc fails at once (the recursive mkdir of Node 20 loops forever there)', { skip: !existsSync('/proc/self') && 'no /proc on this system' }, async () => {
  await assert.rejects(makeFolder('/proc/wganx-cannot-exist/x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.path === '/proc/wganx-cannot-exist');
  assert.throws(() => makeFolderSync('/proc/wganx-cannot-exist'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});
