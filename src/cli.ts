#!/usr/bin/env node
/**
 * The one `wganx` command. Each subcommand's flags come from its flag table (declared once, as
 * data, beside the options type it fills: src/core/flags.ts); this file turns the tables into
 * commander options, reads the values back and calls the modules. It holds no logic of its own.
 * Errors print as one line on stderr with exit code 1 (2 for usage errors).
 */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { InvalidArgumentError, WganxError } from './core/errors.js';
import { allowedText, parseFlagText, type FlagInput, type FlagSpec, type FlagTable } from './core/flags.js';
import { AUGMENT_FLAGS } from './augment/flags.js';
import { EVAL_AUGMENT_FLAGS, EVAL_FLAGS } from './eval/flags.js';
import { EXPORT_FLAGS } from './export/flags.js';
import { refineFromFlags } from './runtime/refine/flags.js';
import { refineRequest } from './runtime/refine/index.js';
import { SERVE_FLAGS } from './serve/options.js';
import { quoteCommand, TRAIN_FLAGS } from './train/config.js';
import { VERSION } from './version.js';

/** commander's attribute for a flag: `--max-batch` → `maxBatch`. */
function attribute(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The commander options of one table entry (two for a string flag that can be negated). */
function options(spec: FlagSpec): Option[] {
  const name = spec.flag.slice(2);
  if (spec.type === 'boolean') {
    // A flag that is on by default is given as --no-<flag>; commander then defaults it to true.
    return [spec.default ? new Option(`--no-${name}`, spec.negatedHelp ?? `not: ${spec.help}`) : new Option(spec.flag, spec.help).default(false)];
  }
  const option = new Option(`${spec.flag} ${spec.arg ?? '<value>'}`, spec.help);
  if (spec.type === 'choice') option.choices(spec.choices);
  else {
    option.argParser((raw: string) => {
      try {
        return parseFlagText(spec, raw);
      } catch {
        throw new CommanderArgumentError(`"${raw}" is not ${allowedText(spec)}`);
      }
    });
  }
  if (spec.default !== undefined && spec.default !== null) option.default(spec.default);
  if (spec.env) option.env(spec.env);
  if (spec.required) option.makeOptionMandatory();
  const out = [option];
  if (spec.type === 'string' && spec.negatable) out.push(new Option(`--no-${name}`, spec.negatedHelp ?? `not: ${spec.help}`));
  return out;
}

function addFlags(command: Command, table: FlagTable): Command {
  for (const spec of Object.values(table)) for (const o of options(spec)) command.addOption(o);
  return command;
}

/**
 * The values commander parsed, keyed as the table keys them. With `givenOnly`, the defaults are
 * left out: the command fills them in from the same table, and can tell a flag given from one that
 * was not (train refuses flags its run would not read).
 */
function readFlags<T extends FlagTable>(command: Command, table: T, givenOnly = false): FlagInput<T> {
  const parsed = command.opts();
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const name = attribute(spec.flag);
    const value = parsed[name];
    if (value !== undefined && !(givenOnly && command.getOptionValueSource(name) === 'default')) out[key] = value;
  }
  return out as FlagInput<T>;
}

function buildProgram(): Command {
  const program = new Command('wganx')
    .description('Train Wasserstein GAN generators, export them to ONNX and serve samples with ONNX Runtime.')
    .version(VERSION)
    // Set before any .command(): subcommands inherit both. Usage errors stay one line plus a hint.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');

  addFlags(program.command('export').description('Convert a tfjs LayersModel (model.json + weights), or a training checkpoint, to ONNX, verify parity, write models/<name>/'), EXPORT_FLAGS).action(
    async (_opts, cmd: Command) => {
      const opts = readFlags(cmd, EXPORT_FLAGS);
      if (opts.checkpoint === undefined || opts.optimize) {
        const { exportCommand } = await import('./export/command.js');
        await exportCommand(opts);
      } else {
        const { exportCheckpointCommand } = await import('./train/checkpoint-export.js');
        await exportCheckpointCommand(opts);
      }
    },
  );

  addFlags(program.command('serve').description('Serve samples from every models/<name>/ over HTTP (wganx API, KServe v2, metrics); drains on SIGTERM'), SERVE_FLAGS).action(
    async (_opts, cmd: Command) => {
      const { serveCommand } = await import('./serve/command.js');
      const { resolveServeOptions } = await import('./serve/options.js');
      await serveCommand(resolveServeOptions(readFlags(cmd, SERVE_FLAGS)));
    },
  );

  addFlags(
    program.command('eval').description("Score a generator: toy mode coverage (ring8/grid25), MNIST evaluator accuracy and Fréchet distance, or an image folder's classifier accuracy, Fréchet distance and precision/recall; or train the MNIST evaluator"),
    EVAL_FLAGS,
  ).action(async (_opts, cmd: Command) => {
    const o = readFlags(cmd, EVAL_FLAGS);
    if (o.trainEvaluator) {
      if (o.model) cmd.error('error: --train-evaluator trains the evaluator and takes no --model', { exitCode: 2 });
      const { trainEvaluatorCommand } = await import('./eval/evaluator-export.js');
      await trainEvaluatorCommand({
        outDir: o.out!,
        config: { epochs: o.epochs, seed: o.seed, backend: o.backend },
        command: `wganx ${process.argv.slice(2).join(' ')}`,
        json: o.json ?? false,
        force: o.force,
      });
      return;
    }
    if (!o.model) cmd.error("error: required option '--model <dir>' not specified (or use --train-evaluator)", { exitCode: 2 });
    const { evalCommand } = await import('./eval/command.js');
    await evalCommand({
      modelDir: o.model!,
      samples: o.samples ?? null,
      seed: o.seed,
      evaluatorDir: o.evaluator,
      dataDir: o.data,
      classifier: { epochs: o.epochs, backend: o.backend },
      // --no-figures: false; --figures <dir>: that folder; neither: the default folder.
      figuresDir: o.figures === false ? null : (o.figures ?? undefined),
      threads: o.threads,
      json: o.json ?? false,
      updateManifest: o.updateManifest ?? false,
      refine: refineRequest(refineFromFlags(o)),
    });
  });

  // `wganx eval augment --model …`: the flags after `augment` are its own, not `eval`'s.
  program.enablePositionalOptions();
  const evalCommand = program.commands.find((c) => c.name() === 'eval')!.enablePositionalOptions();
  addFlags(
    evalCommand.command('augment').description("Does a generator's data set help a classifier? CAS (K generated vs K real images per class) and low-data augmentation, on the held-out split (MNIST or an image folder)"),
    EVAL_AUGMENT_FLAGS,
  ).action(async (_opts, cmd: Command) => {
    const o = readFlags(cmd, EVAL_AUGMENT_FLAGS);
    const { augmentEvalCommand } = await import('./eval/augment-eval.js');
    await augmentEvalCommand({ modelDir: o.model!, dataDir: o.data, seed: o.seed, steps: o.steps, threads: o.threads, backend: o.backend, json: o.json ?? false, updateManifest: o.updateManifest ?? false, refine: refineRequest(refineFromFlags(o)) });
  });

  addFlags(
    program.command('augment').description('Write a labelled, deterministic, resumable data set of samples (image folders, npz, WebDataset tar, csv), locally or from a --remote server'),
    AUGMENT_FLAGS,
  ).action(async (_opts, cmd: Command) => {
    const flags = readFlags(cmd, AUGMENT_FLAGS);
    if ((flags.perClass === undefined) === (flags.count === undefined)) {
      const given = flags.perClass === undefined ? 'neither was given' : 'both were given';
      cmd.error(`error: give exactly one of '--per-class <k>' (samples per class, conditional models) and '--count <n>' (samples in all); ${given}`, { exitCode: 2 });
    }
    // The key given on the command line is for a server; from the environment it may be there for other runs.
    if (flags.remote === undefined && cmd.getOptionValueSource('apiKey') === 'cli') {
      throw new InvalidArgumentError('--api-key', '…', 'nothing without --remote (the key of the server the samples come from; a local run needs none)');
    }
    const { augmentCommand } = await import('./augment/command.js');
    await augmentCommand(flags);
  });

  addFlags(program.command('train').description('Train a WGAN / WGAN-GP / GAN generator with TensorFlow.js, checkpoint it, and export it to models/<name>/'), TRAIN_FLAGS).action(
    async (_opts, cmd: Command) => {
      const { trainCommand } = await import('./train/command.js');
      await trainCommand({ ...readFlags(cmd, TRAIN_FLAGS, true), command: quoteCommand(['wganx', ...process.argv.slice(2)]) });
    },
  );

  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0; // a command may have set one (a run stopped by a signal)
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander already printed help/version or the usage error.
      // `wganx` with no command prints the help as an error (commander's exit code 1): a usage error.
      if (e.code === 'commander.help') return e.exitCode ? 2 : 0;
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : 2;
    }
    if (err instanceof WganxError) {
      process.stderr.write(`wganx: ${err.message}\n`);
    } else {
      process.stderr.write(`wganx: ${err instanceof Error ? (process.env.WGANX_DEBUG ? err.stack : err.message) : String(err)}\n`);
    }
    return 1;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
