/** Flags declared once, as data: types, defaults, range checks and the CLI built from the same table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { flagDefaults, parseFlagText, resolveFlags, type FlagTable, type FlagValues } from '../../src/core/flags.js';
import { EVAL_FLAGS } from '../../src/eval/flags.js';
import { EXPORT_FLAGS } from '../../src/export/flags.js';
import { resolveServeOptions, SERVE_FLAGS, type ServeOptions } from '../../src/serve/options.js';
import { TRAIN_FLAGS } from '../../src/train/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const TABLE = {
  maxBatch: { type: 'int', flag: '--max-batch', help: 'largest batch', default: 64, min: 1, max: 65536 },
  rate: { type: 'number', flag: '--rate', help: 'a rate', min: 0, max: 1, exclusiveMin: true },
  device: { type: 'choice', flag: '--device', help: 'where', default: 'auto', choices: ['auto', 'cpu'] },
  key: { type: 'string', flag: '--key', help: 'a key', default: null, nonEmpty: true },
  strict: { type: 'boolean', flag: '--strict', help: 'be strict', default: true },
  origins: { type: 'list', flag: '--origins', help: 'origins', default: [] },
} as const satisfies FlagTable;

test('types and defaults come from the table', () => {
  const o: FlagValues<typeof TABLE> = resolveFlags(TABLE, {});
  // Compile-time: each option has the declared type (these assignments would not typecheck otherwise).
  const batch: number = o.maxBatch;
  const device: 'auto' | 'cpu' = o.device;
  const key: string | null = o.key;
  const rate: number | undefined = o.rate;
  assert.deepEqual({ batch, device, key, rate, strict: o.strict, origins: o.origins }, { batch: 64, device: 'auto', key: null, rate: undefined, strict: true, origins: [] });
  assert.deepEqual(flagDefaults(TABLE), { maxBatch: 64, device: 'auto', key: null, strict: true, origins: [] });
  const serve: ServeOptions = resolveServeOptions({ maxBatch: 8 });
  assert.deepEqual([serve.maxBatch, serve.port, serve.device, serve.apiKey, serve.strictReadiness], [8, 8080, 'auto', null, true]);
});

test('a bad value names the flag, the value and the allowed range; unknown options are refused', () => {
  const fails = (given: object, field: string, allowed: RegExp) =>
    assert.throws(() => resolveFlags(TABLE, given), (e: unknown) => e instanceof InvalidArgumentError && e.field === field && allowed.test(e.allowed));
  fails({ maxBatch: 0 }, '--max-batch', /an integer in \[1, 65536\]/);
  fails({ maxBatch: 1.5 }, '--max-batch', /integer/);
  fails({ rate: 0 }, '--rate', /a number in \(0, 1\]/);
  fails({ device: 'gpu' }, '--device', /one of auto, cpu/);
  fails({ key: '' }, '--key', /non-empty/);
  fails({ nope: 1 }, 'nope', /one of the options maxBatch, rate/);
  assert.throws(() => resolveServeOptions({ port: 70000 }), /--port: 70000 is not allowed; expected an integer in \[0, 65535\]/);
  assert.equal(parseFlagText(TABLE.maxBatch, ' 12 '), 12);
  assert.deepEqual(parseFlagText(TABLE.origins, 'a, b,,c'), ['a', 'b', 'c']);
  assert.throws(() => parseFlagText(TABLE.maxBatch, '12abc'), /--max-batch: "12abc" is not allowed/);
});

test('every table entry is a flag of its command, with its help text', () => {
  const cases: [string, FlagTable][] = [['serve', SERVE_FLAGS], ['train', TRAIN_FLAGS], ['eval', EVAL_FLAGS], ['export', EXPORT_FLAGS]];
  for (const [command, table] of cases) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), command, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const spec of Object.values(table)) {
      const shown = spec.type === 'boolean' && spec.default ? `--no-${spec.flag.slice(2)}` : spec.flag;
      assert.match(help, new RegExp(`${shown}\\b`), `${command} ${shown}`);
      const text = spec.type === 'boolean' && spec.default ? (spec.negatedHelp ?? spec.help) : spec.help;
      assert.ok(help.includes(text.replace(/\s+/g, ' ').slice(0, 30)), `${command} ${shown}: help text`);
    }
  }
});
