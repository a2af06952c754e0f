#!/usr/bin/env node
/**
 * The one `wganx` command. It declares flags, turns them into typed option objects and calls the
 * modules; it holds no logic of its own. Errors print as one line on stderr with exit code 1
 * (2 for usage errors).
 */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { WganxError } from './core/errors.js';
import { VERSION } from './version.js';

/** Flag parsers: reject bad values at the edge with the flag's name and the allowed range. */
function intFlag(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const v = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new CommanderArgumentError(`"${raw}" is not an integer in [${min}, ${max}]`);
    }
    return v;
  };
}

function floatFlag(min: number, max = Number.POSITIVE_INFINITY) {
  return (raw: string): number => {
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
      throw new CommanderArgumentError(`"${raw}" is not a number in [${min}, ${max}]`);
    }
    return v;
  };
}

function buildProgram(): Command {
  const program = new Command('wganx')
    .description('Train Wasserstein GAN generators, export them to ONNX and serve samples with ONNX Runtime.')
    .version(VERSION)
    .showHelpAfterError();

  // ── export ────────────────────────────────────────────────────────────────────────────────
  program
    .command('export')
    .description('Convert a tfjs LayersModel (model.json + weights) to ONNX, verify parity, write models/<name>/')
    .requiredOption('--model <dir>', 'folder holding the tfjs model.json (or the model.json path)')
    .requiredOption('--out <dir>', 'output folder, e.g. models/<name>; its last segment names the model')
    .addOption(new Option('--opset <n>', 'ONNX opset version').argParser(intFlag(13, 17)).default(17))
    .option('--fp16', 'also write generator.fp16.onnx with float16 weights', false)
    .option('--triton <dir>', 'also write a Triton Inference Server model repository entry under <dir>')
    .addOption(new Option('--kind <kind>', 'what the model outputs').choices(['auto', 'image', 'points']).default('auto'))
    .option('--labels <names>', 'comma-separated class names for a conditional model')
    .addOption(new Option('--tolerance <x>', 'largest allowed |tfjs − onnxruntime| in the parity check').argParser(floatFlag(0, 1)).default(1e-4))
    .action(async (opts) => {
      const { exportCommand } = await import('./export/command.js');
      await exportCommand({
        modelPath: opts.model,
        outDir: opts.out,
        opset: opts.opset,
        fp16: opts.fp16,
        tritonDir: opts.triton,
        kind: opts.kind,
        labels: opts.labels ? String(opts.labels).split(',').map((s: string) => s.trim()) : undefined,
        tolerance: opts.tolerance,
      });
    });

  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander already printed help/version or the usage error.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : (e.exitCode ?? 2);
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
