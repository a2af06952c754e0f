/** The README is the user's manual: small, with the two set-up commands and every flag of every command. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FlagTable } from '../../src/core/flags.js';
import { AUGMENT_FLAGS } from '../../src/augment/flags.js';
import { EVAL_AUGMENT_FLAGS, EVAL_FLAGS } from '../../src/eval/flags.js';
import { EXPORT_FLAGS } from '../../src/export/flags.js';
import { SERVE_FLAGS } from '../../src/serve/options.js';
import { TRAIN_FLAGS } from '../../src/train/config.js';

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

test('the README stays under 25 KB and gives the two set-up commands', () => {
  assert.ok(Buffer.byteLength(README) < 25 * 1024, `${Buffer.byteLength(README)} bytes`);
  assert.match(README, /npm ci && npm start/);
  assert.match(README, /npm test/);
});

test('the README documents every flag of every command', () => {
  const tables: [string, FlagTable][] = [['train', TRAIN_FLAGS], ['serve', SERVE_FLAGS], ['eval', EVAL_FLAGS], ['export', EXPORT_FLAGS], ['augment', AUGMENT_FLAGS], ['eval augment', EVAL_AUGMENT_FLAGS]];
  for (const [command, table] of tables) {
    const from = README.indexOf(`### \`wganx ${command}\``);
    assert.ok(from >= 0, `a section for wganx ${command}`);
    const rest = README.slice(from + 1);
    const section = rest.slice(0, rest.search(/\n##? |\n### /) + 1 || undefined);
    for (const spec of Object.values(table)) {
      const shown = spec.type === 'boolean' && spec.default ? `--no-${spec.flag.slice(2)}` : spec.flag;
      assert.ok(section.includes(`\`${shown}`) || section.includes(` ${shown}`), `wganx ${command} ${shown}`);
    }
  }
});
