/**
 * docs/cli.md: every flag of every wganx command, generated from the flag tables (the one place
 * flags are declared), so the reference cannot drift from the code. test/project/readme.test.ts
 * fails when the file differs from what this prints.
 *
 *   node --import tsx scripts/cli-docs.ts > docs/cli.md      (npm run docs:cli)
 */
import type { FlagSpec, FlagTable } from '../src/core/flags.js';
import { allowedText } from '../src/core/flags.js';
import { AUGMENT_FLAGS } from '../src/augment/flags.js';
import { EVAL_AUGMENT_FLAGS, EVAL_FLAGS } from '../src/eval/flags.js';
import { EXPORT_FLAGS } from '../src/export/flags.js';
import { SERVE_FLAGS } from '../src/serve/options.js';
import { TRAIN_FLAGS } from '../src/train/config.js';

export const COMMAND_TABLES: readonly [string, FlagTable][] = [
  ['train', TRAIN_FLAGS], ['serve', SERVE_FLAGS], ['eval', EVAL_FLAGS], ['eval augment', EVAL_AUGMENT_FLAGS], ['export', EXPORT_FLAGS], ['augment', AUGMENT_FLAGS],
];

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function row(spec: FlagSpec): string {
  if (spec.type === 'boolean') {
    return spec.default
      ? `| \`--no-${spec.flag.slice(2)}\` | on (this flag turns it off) | ${cell(spec.negatedHelp ?? `not: ${spec.help}`)} |`
      : `| \`${spec.flag}\` | off | ${cell(spec.help)} |`;
  }
  const flag = `\`${spec.flag} ${spec.arg ?? '<value>'}\``;
  const fallback = spec.required ? 'required' : '—';
  const empty = Array.isArray(spec.default) && spec.default.length === 0;
  const given = spec.default === undefined || spec.default === null ? fallback : empty ? 'none' : `\`${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)}\``;
  const env = spec.env ? ` (env \`${spec.env}\`)` : '';
  const negated = spec.type === 'string' && spec.negatable ? `; \`--no-${spec.flag.slice(2)}\`: ${spec.negatedHelp ?? 'none'}` : '';
  const allowed = spec.type === 'int' || spec.type === 'number' || spec.type === 'choice' ? ` (${cell(allowedText(spec))})` : '';
  return `| ${flag} | ${given}${env} | ${cell(spec.help)}${negated}${allowed} |`;
}

export function cliMarkdown(): string {
  const out = [
    '# Command-line reference',
    '',
    'Every flag of every `wganx` command, generated from the flag tables by `npm run docs:cli`',
    '(`scripts/cli-docs.ts`); the README shows each command with examples. Bad values end with one line',
    'naming the flag, the value and what is allowed (exit 1; usage errors exit 2).',
    '',
  ];
  for (const [command, table] of COMMAND_TABLES) {
    out.push(`## \`wganx ${command}\``, '', '| flag | default | meaning (allowed) |', '| --- | --- | --- |');
    for (const spec of Object.values(table)) out.push(row(spec));
    out.push('');
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(cliMarkdown());
