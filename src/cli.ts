#!/usr/bin/env node
/**
 * The one `wganx` command. It declares flags, turns them into typed option objects and calls the
 * modules; it holds no logic of its own. Errors print as one line on stderr with exit code 1
 * (2 for usage errors).
 */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { WganxError } from './core/errors.js';
import { VERSION } from './version.js';
import {
  ALGORITHMS, ARCHITECTURES, BACKEND_CHOICES, CHANNEL_CHOICES, CRITIC_ACTIVATIONS, CRITIC_CONDITIONING, CRITIC_NORMS, DEFAULTS,
  GENERATOR_CONDITIONING, GENERATOR_NORMS, LR_SCHEDULES, TOY_DATASETS, quoteCommand,
} from './train/config.js';

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
    .addOption(new Option('--max-queue-delay-ms <ms>', 'how long a queued request may wait for others to fill its batch while a session is idle (busy sessions batch whatever queued meanwhile)').argParser(intFlag(0, 60_000)).default(0))
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
    .addOption(new Option('--seed <s>', 'latent seed: sample i uses the latent of (seed, i); with --train-evaluator, the training seed').argParser(intFlag(0)).default(0))
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

  // ── train ─────────────────────────────────────────────────────────────────────────────────
  program
    .command('train')
    .description('Train a WGAN / WGAN-GP / GAN generator with TensorFlow.js, checkpoint it, and export it to models/<name>/')
    .requiredOption('--dataset <name>', `training data: ${TOY_DATASETS.join(', ')}, mnist, or a folder of PNG/JPEG images`)
    .addOption(new Option('--algo <algo>', 'wgan-gp (gradient penalty), wgan (weight clipping) or gan (non-saturating cross-entropy baseline)').choices(ALGORITHMS).default(DEFAULTS.algo))
    .addOption(new Option('--arch <arch>', 'generator and critic architecture').choices(ARCHITECTURES).default(DEFAULTS.arch))
    .option('--conditional', 'class-conditional generator and critic (mnist, or an image folder with one sub-folder per class)', false)
    .addOption(new Option('--steps <n>', 'generator updates').argParser(intFlag(1, 1e9)).default(DEFAULTS.steps))
    .addOption(new Option('--batch <n>', 'examples per batch').argParser(intFlag(2, 65536)).default(DEFAULTS.batch))
    .addOption(new Option('--n-critic <n>', 'critic updates per generator update (default 5; 1 for gan)').argParser(intFlag(1, 1000)))
    .option('--warmup-critic', '100 critic updates for each of the first 25 generator updates and every 500th (WGAN reference code)', false)
    .addOption(new Option('--lambda <x>', 'gradient-penalty weight λ (wgan-gp)').argParser(floatFlag(0, 1e6)).default(DEFAULTS.lambda))
    .addOption(new Option('--clip <c>', 'weight-clipping bound c (wgan)').argParser(floatFlag(Number.MIN_VALUE, 1e6)).default(DEFAULTS.clip))
    .addOption(new Option('--lr <x>', 'learning rate of both nets (default: 1e-4 wgan-gp, 5e-5 wgan, 2e-4 gan)').argParser(floatFlag(Number.MIN_VALUE, 10)))
    .addOption(new Option('--beta1 <x>', "Adam β1 (default: 0 wgan-gp, 0.5 gan; unused by wgan's RMSProp)").argParser(floatFlag(0, 0.999999)))
    .addOption(new Option('--beta2 <x>', 'Adam β2 (default: 0.9 wgan-gp, 0.999 gan); RMSProp α for wgan (default 0.99)').argParser(floatFlag(0, 0.999999)))
    .addOption(new Option('--latent <n>', 'latent dimension').argParser(intFlag(1, 4096)).default(DEFAULTS.latent))
    .addOption(new Option('--seed <s>', 'seed of every random stream (weights, data, latents, penalty)').argParser(intFlag(0)).default(DEFAULTS.seed))
    .requiredOption('--out <dir>', 'run folder for checkpoints, metrics.jsonl, samples and plots, e.g. runs/<name>')
    .option('--resume', 'continue from the newest checkpoint in --out (same flags; --steps may grow)', false)
    .addOption(new Option('--backend <name>', 'tfjs backend: auto = tfjs-node-gpu, tfjs-node if installed, else the fastest of wasm/cpu with every kernel the run needs').choices(BACKEND_CHOICES).default(DEFAULTS.backend))
    .addOption(new Option('--sample-every <k>', 'write a sample sheet every k steps (0: never)').argParser(intFlag(0, 1e9)).default(DEFAULTS.sampleEvery))
    .addOption(new Option('--checkpoint-every <k>', 'write a checkpoint every k steps (0: only at the end)').argParser(intFlag(0, 1e9)).default(DEFAULTS.checkpointEvery))
    .addOption(new Option('--log-every <k>', 'append to metrics.jsonl every k steps').argParser(intFlag(1, 1e9)).default(DEFAULTS.logEvery))
    .addOption(new Option('--hidden <n>', 'MLP hidden width (default 256 points, 512 images) or DCGAN base channels (default 64)').argParser(intFlag(1, 8192)))
    .addOption(new Option('--layers <n>', 'MLP hidden layers (default 3)').argParser(intFlag(1, 16)))
    .addOption(new Option('--critic-activation <fn>', 'critic hidden activation').choices(CRITIC_ACTIVATIONS).default(DEFAULTS.criticActivation))
    .addOption(new Option('--critic-norm <norm>', 'critic normalisation (never batch norm: the penalty is per example)').choices(CRITIC_NORMS).default(DEFAULTS.criticNorm))
    .addOption(new Option('--g-norm <norm>', 'MLP generator: batch norm between each hidden Dense and its ReLU').choices(GENERATOR_NORMS).default(DEFAULTS.gNorm))
    .addOption(new Option('--ac-weight <x>', 'conditional: auxiliary classifier head in the critic (AC-GAN), weight of its cross-entropy on real data (0: none)').argParser(floatFlag(0, 1e3)).default(DEFAULTS.acWeight))
    .addOption(new Option('--ac-weight-g <x>', 'conditional: weight of that classifier\'s cross-entropy on generated data, for the asked class, in the generator loss (default: --ac-weight)').argParser(floatFlag(0, 1e3)))
    .addOption(new Option('--g-cond <how>', 'conditional generator: label embedding multiplied into z, or concatenated with z').choices(GENERATOR_CONDITIONING).default(DEFAULTS.gCond))
    .addOption(new Option('--d-cond <how>', 'conditional critic: projection ⟨embed(y), φ(x)⟩, or label concatenated with the input').choices(CRITIC_CONDITIONING).default(DEFAULTS.dCond))
    .addOption(new Option('--data-scale <s>', 'points: multiply the data by s inside training (the exported model outputs data coordinates)').argParser(floatFlag(Number.MIN_VALUE, 1e6)).default(1))
    .addOption(new Option('--lr-schedule <s>', 'constant, or linear decay to 0 at the last step').choices(LR_SCHEDULES).default(DEFAULTS.lrSchedule))
    .addOption(new Option('--image-size <px>', 'image folders: resize to px × px').argParser(intFlag(8, 256)).default(DEFAULTS.imageSize))
    .addOption(new Option('--channels <c>', 'image folders: 1 (grey), 3 (RGB) or auto').choices(CHANNEL_CHOICES).default('auto'))
    .option('--name <name>', 'model name for the export (default: the last segment of --out)')
    .addOption(new Option('--models-dir <dir>', 'export the generator into <dir>/<name>/').default(DEFAULTS.modelsDir))
    .option('--no-export', 'do not export to ONNX at the end')
    .option('--no-eval', 'do not measure quality (toys, conditional mnist) after the export')
    .action(async (opts) => {
      const { trainCommand } = await import('./train/command.js');
      await trainCommand({
        dataset: opts.dataset,
        algo: opts.algo,
        arch: opts.arch,
        conditional: opts.conditional,
        steps: opts.steps,
        batch: opts.batch,
        nCritic: opts.nCritic,
        warmupCritic: opts.warmupCritic,
        lambda: opts.lambda,
        clip: opts.clip,
        lr: opts.lr,
        beta1: opts.beta1,
        beta2: opts.beta2,
        latent: opts.latent,
        seed: opts.seed,
        out: opts.out,
        resume: opts.resume,
        backend: opts.backend,
        sampleEvery: opts.sampleEvery,
        checkpointEvery: opts.checkpointEvery,
        logEvery: opts.logEvery,
        hidden: opts.hidden,
        layers: opts.layers,
        criticActivation: opts.criticActivation,
        criticNorm: opts.criticNorm,
        gNorm: opts.gNorm,
        acWeight: opts.acWeight,
        acWeightG: opts.acWeightG,
        gCond: opts.gCond,
        dCond: opts.dCond,
        dataScale: opts.dataScale,
        lrSchedule: opts.lrSchedule,
        imageSize: opts.imageSize,
        channels: opts.channels === 'auto' ? 'auto' : (Number(opts.channels) as 1 | 3),
        name: opts.name,
        modelsDir: opts.export ? opts.modelsDir : null,
        eval: opts.eval,
        command: quoteCommand(['wganx', ...process.argv.slice(2)]),
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
