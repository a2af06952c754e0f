/** The README is the user's manual: small, with the two set-up commands; docs/cli.md (generated) has every flag of every command. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cliMarkdown, COMMAND_TABLES } from '../../scripts/cli-docs.js';

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

test('the README stays under 25 KB and gives the two set-up commands', () => {
  assert.ok(Buffer.byteLength(README) < 25 * 1024, `${Buffer.byteLength(README)} bytes`);
  assert.match(README, /npm ci && npm start/);
  assert.match(README, /npm test/);
});

test('docs/cli.md documents every flag of every command, as the flag tables generate it, and the README links each command to it', () => {
  const cli = readFileSync(fileURLToPath(new URL('../../docs/cli.md', import.meta.url)), 'utf8');
  assert.equal(cli, cliMarkdown(), 'docs/cli.md is stale: run npm run docs:cli');
  for (const [command, table] of COMMAND_TABLES) {
    const from = cli.indexOf(`## \`wganx ${command}\``);
    assert.ok(from >= 0, `a section for wganx ${command}`);
    const next = cli.indexOf('\n## ', from + 1);
    const section = cli.slice(from, next < 0 ? undefined : next);
    for (const spec of Object.values(table)) {
      const shown = spec.type === 'boolean' && spec.default ? `--no-${spec.flag.slice(2)}` : spec.flag;
      assert.ok(section.includes(`\`${shown}`), `wganx ${command} ${shown}`);
    }
    const anchor = `docs/cli.md#wganx-${command.replace(' ', '-')}`;
    if (command !== 'eval augment') assert.ok(README.includes(anchor), `the README links ${anchor}`);
  }
});
