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
    // Set before any .command(): subcommands inherit both. Usage errors stay one line plus a hint.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');

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

  // ── serve ─────────────────────────────────────────────────────────────────────────────────
  program
    .command('serve')
    .description('Serve samples from every models/<name>/ over HTTP (wganx API, KServe v2, metrics); drains on SIGTERM')
    .addOption(new Option('--models <dir>', 'folder of model folders (<name>/generator.onnx + manifest.json)').default('models'))
    .addOption(new Option('--host <host>', 'interface to listen on').default('0.0.0.0'))
    .addOption(new Option('--port <n>', 'TCP port (0 = any free port)').argParser(intFlag(0, 65535)).default(8080))
    .addOption(new Option('--device <device>', 'execution provider; auto tries cuda, then webgpu, then cpu').choices(['auto', 'cuda', 'webgpu', 'cpu']).default('auto'))
    .addOption(new Option('--max-batch <n>', 'largest batch (rows) one ONNX Runtime run computes; 1 turns dynamic batching off').argParser(intFlag(1, 65536)).default(64))
    .addOption(new Option('--max-queue-delay-ms <ms>', 'how long a queued request waits for others to share its batch').argParser(intFlag(0, 60_000)).default(2))
    .addOption(new Option('--max-queue <n>', 'queued requests per model before answering 503 with Retry-After').argParser(intFlag(1, 1_000_000)).default(1024))
    .addOption(new Option('--request-timeout-ms <ms>', 'queue + compute time allowed per request before 504').argParser(intFlag(1, 3_600_000)).default(30_000))
    .addOption(new Option('--max-samples <n>', 'largest n per request (and batch of a KServe request)').argParser(intFlag(1, 65536)).default(1024))
    .addOption(new Option('--max-steps <n>', 'largest interpolation steps').argParser(intFlag(2, 1024)).default(64))
    .addOption(new Option('--max-body-bytes <n>', 'request body limit in bytes').argParser(intFlag(1024, 1024 ** 3)).default(4 * 1024 * 1024))
    .addOption(new Option('--instances <n>', 'ONNX Runtime sessions (worker threads) per model').argParser(intFlag(1, 64)).default(1))
    .addOption(new Option('--threads <n>', 'intra-op threads per session (0 = one per core)').argParser(intFlag(0, 256)).default(0))
    .addOption(new Option('--drain-timeout <ms>', 'on SIGTERM, how long in-flight requests may take before connections close').argParser(intFlag(0, 3_600_000)).default(10_000))
    .addOption(new Option('--reload-interval <ms>', 'how often the models folder is checked for added, replaced or removed models (0 = never)').argParser(intFlag(0, 3_600_000)).default(2_000))
    .addOption(new Option('--api-key <key>', 'require this key (Authorization: Bearer or X-API-Key) on all but health and docs').env('WGANX_API_KEY'))
    .addOption(new Option('--cors-origin <origins>', 'comma-separated origins allowed by CORS (or *)').default(''))
    .option('--no-strict-readiness', 'report ready when at least one model is (default: only when all are)')
    .action(async (opts) => {
      const { serveCommand } = await import('./serve/command.js');
      const { resolveServeOptions } = await import('./serve/options.js');
      await serveCommand(
        resolveServeOptions({
          modelsDir: opts.models,
          host: opts.host,
          port: opts.port,
          device: opts.device,
          maxBatch: opts.maxBatch,
          maxQueueDelayMs: opts.maxQueueDelayMs,
          maxQueue: opts.maxQueue,
          requestTimeoutMs: opts.requestTimeoutMs,
          maxSamples: opts.maxSamples,
          maxSteps: opts.maxSteps,
          maxBodyBytes: opts.maxBodyBytes,
          instances: opts.instances,
          threads: opts.threads,
          drainTimeoutMs: opts.drainTimeout,
          reloadIntervalMs: opts.reloadInterval,
          apiKey: opts.apiKey ?? null,
          corsOrigins: String(opts.corsOrigin).split(',').map((s: string) => s.trim()).filter(Boolean),
          strictReadiness: opts.strictReadiness,
        }),
      );
    });

  // ── eval ──────────────────────────────────────────────────────────────────────────────────
  program
    .command('eval')
    .description('Score a generator: toy mode coverage (ring8/grid25) or MNIST evaluator accuracy and Fréchet distance; or train the MNIST evaluator')
    .option('--model <dir>', 'model folder (manifest.json + ONNX), e.g. models/ring')
    .addOption(new Option('--samples <n>', 'samples to generate (default 2500 for toys, 2000 for MNIST)').argParser(intFlag(2, 1_000_000)))
    .addOption(new Option('--seed <s>', 'latent seed: sample i uses the latent of (seed, i)').argParser(intFlag(0)).default(0))
    .option('--json', 'print the full report as JSON instead of a table', false)
    .option('--update-manifest', "merge the headline metrics into the model's manifest.training.metrics", false)
    .option('--figures <dir>', 'folder for the sample figure (default runs/eval/<name>)')
    .option('--no-figures', 'write no figure')
    .addOption(new Option('--evaluator <dir>', 'MNIST evaluator folder (evaluator.onnx + evaluator.json)').default('models/mnist-evaluator'))
    .addOption(new Option('--threads <n>', 'onnxruntime intra-op threads').argParser(intFlag(1, 256)).default(2))
    .option('--train-evaluator', 'train the MNIST evaluator on the training split and write it to --out', false)
    .addOption(new Option('--out <dir>', 'with --train-evaluator: output folder').default('models/mnist-evaluator'))
    .addOption(new Option('--epochs <n>', 'with --train-evaluator: epochs').argParser(intFlag(1, 1000)).default(12))
    .addOption(new Option('--backend <name>', 'with --train-evaluator: tfjs backend').choices(['wasm', 'cpu']).default('wasm'))
    .action(async (opts, cmd: Command) => {
      if (opts.trainEvaluator) {
        if (opts.model) cmd.error('error: --train-evaluator trains the evaluator and takes no --model', { exitCode: 2 });
        const { trainEvaluatorCommand } = await import('./eval/evaluator-export.js');
        await trainEvaluatorCommand({
          outDir: opts.out,
          config: { epochs: opts.epochs, seed: opts.seed, backend: opts.backend },
          command: `wganx ${process.argv.slice(2).join(' ')}`,
          json: opts.json,
        });
        return;
      }
      if (!opts.model) cmd.error("error: required option '--model <dir>' not specified (or use --train-evaluator)", { exitCode: 2 });
      const { evalCommand } = await import('./eval/command.js');
      await evalCommand({
        modelDir: opts.model,
        samples: opts.samples ?? null,
        seed: opts.seed,
        evaluatorDir: opts.evaluator,
        // commander: --no-figures sets figures = false; --figures <dir> a string; neither → true.
        figuresDir: opts.figures === false ? null : typeof opts.figures === 'string' ? opts.figures : undefined,
        threads: opts.threads,
        json: opts.json,
        updateManifest: opts.updateManifest,
      });
    });

  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander already printed help/version or the usage error.
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
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
