/**
 * `wganx eval --model models/<name>`: score a generator from its ONNX file.
 *
 * The manifest's `training.dataset` decides the protocol: `ring8` / `grid25` → toy mode metrics
 * (toy.ts), `mnist` → evaluator accuracy and Fréchet distance (mnist.ts), an image folder (or
 * `--data <folder>`) → the folder's classifier: accuracy, Fréchet distance, precision / recall and
 * density / coverage (folder.ts, folder-classifier.ts), and a sample sheet per class. Latents come from the core
 * sampler (sample i of --seed), so a score can be reproduced exactly. With `--refine <method>`
 * (src/runtime/refine) the same samples are measured twice, raw and refined by the critic, and the
 * report puts the refined figures and the generator's samples/s next to the raw ones. Prints a
 * table (or JSON with --json), writes a figure, and with --update-manifest merges the headline
 * (raw) figures into `manifest.training.metrics` (written to a temporary file, then renamed).
 *
 * @example
 *   const report = await evaluateModel({ modelDir: 'models/ring', seed: 0 });
 *   report.toy?.modesCovered
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { imageShape, parseManifest, type Manifest } from '../core/manifest.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { MANIFEST_FILE, readManifestFile } from '../runtime/model-folder.js';
import { openGenerator, type Generator } from '../runtime/node.js';
import { describeRefine, NO_REFINE, type RefineRequest, type ResolvedRefine } from '../runtime/refine/index.js';
import { gridImage } from '../core/image.js';
import { DEFAULT_EVALUATOR_DIR, OnnxDigitClassifier } from './evaluator.js';
import type { EvaluatorBackend } from './evaluator-train.js';
import { folderClassifier } from './folder-classifier.js';
import { checkFolderSamples, FOLDER_EVAL_SAMPLES, folderMetrics, heldOutSplit, openModelFolder, type FolderMetrics } from './folder.js';
import { digitGridPng, toyScatterPng } from './figures.js';
import { MNIST_EVAL_SAMPLES, mnistMetrics, type DigitSource, type MnistMetrics } from './mnist.js';
import { MODE_DATASETS, TOY_EVAL_SAMPLES, toyMetrics, toyMixture, type ToyDataset, type ToyMetrics } from './toy.js';

/** What eval measures: the toys, MNIST, or an image folder (any other dataset in a manifest). */
export const EVAL_DATASETS = [...MODE_DATASETS, 'mnist', 'folder'] as const;
export type EvalDataset = (typeof EVAL_DATASETS)[number];
/** Most samples one evaluation draws (keeps memory bounded: 1 M digits ≈ 3 GB). */
export const MAX_EVAL_SAMPLES = 1_000_000;
/** Digits in the sample figure: 10 columns (= classes for a conditional generator) × 10 rows. */
const FIGURE_DIGITS = 100;

export interface EvalOptions {
  modelDir: string;
  /** Default: 2,500 for toys (the toy protocol), 2,000 for MNIST (the held-out split's size). */
  samples?: number | null;
  seed?: number;
  evaluatorDir?: string;
  /** Folder for the figure; null → no figure. Default runs/eval/<name>. */
  figuresDir?: string | null;
  threads?: number;
  /** Image-folder models: the folder (default: the one the manifest names). */
  dataDir?: string;
  /** Image-folder models: how the folder's classifier is trained (once; then cached). */
  classifier?: { epochs?: number; backend?: EvaluatorBackend };
  /** Status lines (classifier training, cache): default stderr. */
  log?: (line: string) => void;
  /** Also measure the samples refined by the critic (default none: the raw samples only). */
  refine?: RefineRequest;
}

/** The figures of one pass over the samples (raw, or refined). */
export interface EvalPass {
  toy: ToyMetrics | null;
  mnist: (MnistMetrics & { evaluator: { dir: string; heldoutAccuracy: number } }) | null;
  folder: (FolderMetrics & { data: string }) | null;
  /** Samples per second of the generator, refinement included (generation alone: no metric, no figure). */
  samplesPerSecond: number;
}

export interface EvalReport extends EvalPass {
  model: string;
  modelDir: string;
  dataset: EvalDataset;
  samples: number;
  seed: number;
  figures: string[];
  /** The same samples refined by the critic (--refine), or null. */
  refined: (EvalPass & { refine: ResolvedRefine }) | null;
}

/** A pass's samples: the runtime's seeded `sample`, refined as asked, with the time it took. */
class PassSource {
  seconds = 0;
  count = 0;
  constructor(
    private readonly generator: Generator,
    private readonly seed: number,
    readonly refine: ResolvedRefine,
  ) {}

  /** Outputs of samples start…start+count−1 (classes given, else the default rule's). */
  async generate(start: number, count: number, labels: Int32Array | null = null): Promise<Float32Array> {
    const t0 = performance.now();
    const out = await generate(this.generator, this.seed, start, count, labels, this.refine);
    this.seconds += (performance.now() - t0) / 1000;
    this.count += count;
    return out;
  }

  get samplesPerSecond(): number {
    return this.count / Math.max(this.seconds, 1e-9);
  }

  /** A figure's file name: `samples.png` raw, `samples-<method>.png` refined. */
  figure(stem = 'samples', tail = ''): string {
    return `${stem}${this.refine.method === 'none' ? '' : `-${this.refine.method}`}${tail}.png`;
  }
}

/** The data set a manifest says its generator was trained on (`folder` for an image folder, or with `--data`). */
export function evalDataset(manifest: Manifest, dataDir?: string): EvalDataset {
  if (dataDir !== undefined) {
    if (manifest.kind !== 'image') throw new InvalidArgumentError('--data', dataDir, `nothing for the point model ${manifest.name} (a folder of images measures an image generator)`);
    return 'folder';
  }
  const dataset = manifest.training?.dataset ?? null;
  if (dataset === null) throw new InvalidArgumentError('manifest.training', null, `training provenance naming the dataset (${MODE_DATASETS.join(', ')}, mnist or an image folder), or --data <folder>`);
  if ((EVAL_DATASETS as readonly string[]).includes(dataset) && dataset !== 'folder') return dataset as EvalDataset;
  if (manifest.kind === 'image') return 'folder';
  throw new InvalidArgumentError('manifest.training.dataset', dataset, `one of ${MODE_DATASETS.join(', ')}, mnist or an image folder (the data sets with quality metrics)`);
}

/** Classes per sheet row, and rows per class sheet. */
const SHEET_COLUMNS = 10;
const CLASS_SHEET = { columns: 8, rows: 4 } as const;
/** Images on an unconditional model's sheet (the first ones generated). */
const UNCONDITIONAL_SHEET = 100;

/** PNG of `count` images `[count, ...shape]` in [-1, 1], `columns` a row, upscaled ×`scale`. */
async function sheetPng(images: Float32Array, shape: readonly number[], count: number, columns: number, scale: number): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  const img = gridImage(images, shape, count, [-1, 1], { columns, scale });
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 } }).png().toBuffer();
}

/** The first `n` generated images of each class: `[classes·n, ...]` row by row (missing ones stay mid grey). */
function perClassRows(images: Float32Array, labels: Int32Array, classes: number, pixels: number, n: number): Float32Array {
  const out = new Float32Array(classes * n * pixels);
  const filled = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (filled[c] >= n) continue;
    out.set(images.subarray(i * pixels, (i + 1) * pixels), (c * n + filled[c]++) * pixels);
  }
  return out;
}

/** Measure an image-folder model against `dataDir` (see folder.ts) on each pass's samples and write their sheets. */
async function evaluateFolder(generator: Generator, opts: EvalOptions, passes: PassSource[], figuresDir: string | null, figures: string[]): Promise<{ samples: number; folder: (FolderMetrics & { data: string })[] }> {
  const { manifest } = generator;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const samples = opts.samples ?? FOLDER_EVAL_SAMPLES;
  checkFolderSamples(samples);
  const { data, folder } = await openModelFolder(manifest, opts.dataDir, log);
  heldOutSplit(folder); // refused before the classifier is trained
  const shape = imageShape(manifest);
  const classifier = await folderClassifier(folder, { settings: { epochs: opts.classifier?.epochs }, backend: opts.classifier?.backend, threads: opts.threads, log });
  try {
    const results: (FolderMetrics & { data: string })[] = [];
    for (const pass of passes) {
      const { images, labels, ...metrics } = await folderMetrics(
        { numClasses: manifest.conditional?.numClasses ?? null, generate: async (start, count, l) => toUnitRange(await pass.generate(start, count, l), manifest.output.range) },
        classifier,
        folder,
        { samples },
      );
      results.push({ ...metrics, data });
      if (figuresDir === null) continue;
      const pixels = shape[0] * shape[1] * shape[2];
      const scale = Math.max(1, Math.round(64 / shape[0]));
      if (labels) {
        const classes = metrics.classes.length;
        const path = join(figuresDir, pass.figure());
        await writeFileAtomic(path, await sheetPng(perClassRows(images, labels, classes, pixels, SHEET_COLUMNS), shape, classes * SHEET_COLUMNS, SHEET_COLUMNS, scale));
        figures.push(path);
        const n = CLASS_SHEET.columns * CLASS_SHEET.rows;
        const rows = perClassRows(images, labels, classes, pixels, n);
        for (const [c, name] of metrics.classes.entries()) {
          const one = rows.subarray(c * n * pixels, (c + 1) * n * pixels);
          const p = join(figuresDir, pass.figure('samples', `-${name.replace(/[^\w.-]+/g, '_')}`));
          await writeFileAtomic(p, await sheetPng(one, shape, n, CLASS_SHEET.columns, scale));
          figures.push(p);
        }
      } else {
        const path = join(figuresDir, pass.figure());
        const count = Math.min(samples, UNCONDITIONAL_SHEET);
        await writeFileAtomic(path, await sheetPng(images.subarray(0, count * pixels), shape, count, SHEET_COLUMNS, scale));
        figures.push(path);
      }
    }
    return { samples, folder: results };
  } finally {
    await classifier.close();
  }
}

function checkSamples(n: number): void {
  if (!Number.isSafeInteger(n) || n < 2 || n > MAX_EVAL_SAMPLES) throw new InvalidArgumentError('--samples', n, `an integer in [2, ${MAX_EVAL_SAMPLES}]`);
}

/** Map values from `range` linearly onto [-1, 1] in place (no-op for [-1, 1]). */
export function toUnitRange(values: Float32Array, range: readonly [number, number]): Float32Array {
  const [lo, hi] = range;
  if (lo === -1 && hi === 1) return values;
  const scale = 2 / (hi - lo);
  for (let i = 0; i < values.length; i++) values[i] = (values[i] - lo) * scale - 1;
  return values;
}

/**
 * Outputs of samples start…start+count−1 of `seed` (a conditional model's with the classes given,
 * else the default rule's), through the runtime's `sample`: the seeded path all of wganx shares.
 */
async function generate(generator: Generator, seed: number, start: number, count: number, labels: Int32Array | null, refine: ResolvedRefine): Promise<Float32Array> {
  const req = { seed, start, n: count, labels: labels ?? undefined };
  return (await generator.sample(refine.method === 'none' ? req : { ...req, refine: { method: refine.method, ...refine.params } })).data;
}

/** Run the evaluation of `opts.modelDir` (raw, and refined with --refine) and write its figures. */
export async function evaluateModel(opts: EvalOptions): Promise<EvalReport> {
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError('--seed', seed, `an integer in [0, ${Number.MAX_SAFE_INTEGER}]`);
  if (!existsSync(join(opts.modelDir, MANIFEST_FILE))) {
    const why = existsSync(opts.modelDir) ? `it holds no ${MANIFEST_FILE}` : 'there is no such folder';
    throw new InvalidArgumentError('--model', opts.modelDir, `a model folder holding ${MANIFEST_FILE}, e.g. models/<name>, where wganx train exports (${why})`);
  }
  const generator = await openGenerator(opts.modelDir, { device: 'cpu', threads: opts.threads ?? 2 });
  try {
    const { manifest } = generator;
    // Refused before anything is measured (an unknown method, or a model without a critic).
    const refine = generator.checkRefine(opts.refine);
    const dataset = evalDataset(manifest, opts.dataDir);
    const figuresDir = opts.figuresDir === undefined ? join('runs', 'eval', manifest.name) : opts.figuresDir;
    const figures: string[] = [];
    const passes = [new PassSource(generator, seed, NO_REFINE), ...(refine.method === 'none' ? [] : [new PassSource(generator, seed, refine)])];
    const base = { model: manifest.name, modelDir: opts.modelDir, dataset, seed, figures };
    /** The report from each pass's metrics (the first is the raw pass). */
    const report = (samples: number, metrics: Omit<EvalPass, 'samplesPerSecond'>[]): EvalReport => {
      const [raw, refined] = metrics.map((m, i) => ({ ...m, samplesPerSecond: passes[i].samplesPerSecond }));
      return { ...base, samples, ...raw, refined: refined ? { ...refined, refine } : null };
    };
    if (dataset === 'folder') {
      const { samples, folder } = await evaluateFolder(generator, opts, passes, figuresDir, figures);
      return report(samples, folder.map((f) => ({ toy: null, mnist: null, folder: f })));
    }
    if (dataset === 'mnist') {
      const samples = opts.samples ?? MNIST_EVAL_SAMPLES;
      checkSamples(samples);
      const shape = imageShape(manifest);
      if (shape.join() !== '28,28,1') throw new InvalidArgumentError('manifest.outputs[0].shape', manifest.outputs[0].shape, '[batch, 28, 28, 1] (the MNIST evaluator reads 28×28 grey digits)');
      const evaluatorDir = opts.evaluatorDir ?? DEFAULT_EVALUATOR_DIR;
      const classifier = await OnnxDigitClassifier.open(evaluatorDir, { threads: opts.threads });
      try {
        const results: Omit<EvalPass, 'samplesPerSecond'>[] = [];
        for (const pass of passes) {
          const source: DigitSource = {
            numClasses: manifest.conditional?.numClasses ?? null,
            generate: async (start, count, labels) => toUnitRange(await pass.generate(start, count, labels), manifest.output.range),
          };
          const { images, labels: _labels, predicted: _predicted, ...metrics } = await mnistMetrics(source, classifier, { samples });
          if (figuresDir !== null) {
            const n = Math.min(FIGURE_DIGITS, samples);
            const path = join(figuresDir, pass.figure());
            await writeFileAtomic(path, await digitGridPng(images, n, 10));
            figures.push(path);
          }
          results.push({ toy: null, folder: null, mnist: { ...metrics, evaluator: { dir: evaluatorDir, heldoutAccuracy: classifier.spec.metrics.heldoutAccuracy } } });
        }
        return report(samples, results);
      } finally {
        await classifier.close();
      }
    }
    const samples = opts.samples ?? TOY_EVAL_SAMPLES;
    checkSamples(samples);
    const out = manifest.outputs[0].shape;
    if (manifest.kind !== 'points' || out.length !== 2 || out[1] !== 2) throw new InvalidArgumentError('manifest.outputs[0].shape', out, '[batch, 2] points for a toy data set');
    const results: Omit<EvalPass, 'samplesPerSecond'>[] = [];
    for (const pass of passes) {
      const points = await pass.generate(0, samples);
      const toy = toyMetrics(points, dataset as ToyDataset);
      if (figuresDir !== null) {
        const path = join(figuresDir, pass.figure());
        const how = pass.refine.method === 'none' ? '' : ` (${describeRefine(pass.refine)})`;
        const title = `${manifest.name}${how}: ${toy.modesCovered}/${toy.modes} modes, ${toy.highQualityPercent.toFixed(1)}% high quality`;
        await writeFileAtomic(path, await toyScatterPng(points, toyMixture(dataset), title));
        figures.push(path);
      }
      results.push({ toy, mnist: null, folder: null });
    }
    return report(samples, results);
  } finally {
    await generator.dispose();
  }
}

/** The headline figures that --update-manifest merges into manifest.training.metrics. */
export function manifestMetrics(report: EvalReport): Record<string, unknown> {
  const common = { evalSamples: report.samples, evalSeed: report.seed, evaluatedAt: new Date().toISOString() };
  if (report.toy) {
    const t = report.toy;
    return { modes: t.modes, modesCovered: t.modesCovered, highQualityPercent: round(t.highQualityPercent, 2), reverseKl: t.reverseKl === null ? null : round(t.reverseKl, 4), ...common };
  }
  if (report.folder) {
    const f = report.folder;
    return {
      classifierAccuracy: f.heldoutAccuracy === null ? null : round(f.heldoutAccuracy, 4),
      evaluatorAccuracy: f.accuracy === null ? null : round(f.accuracy, 4),
      frechetDistance: round(f.frechetDistance, 3),
      frechetReference: round(f.frechetReference, 3),
      precision: round(f.prdc.precision, 4),
      recall: round(f.prdc.recall, 4),
      density: round(f.prdc.density, 4),
      coverage: round(f.prdc.coverage, 4),
      classesPredicted: f.classesPredicted,
      ...common,
    };
  }
  const m = report.mnist!;
  return {
    evaluatorAccuracy: m.accuracy === null ? null : round(m.accuracy, 4),
    frechetDistance: round(m.frechetDistance, 3),
    frechetReference: round(m.frechetReference, 3),
    classesPredicted: m.classesPredicted,
    ...common,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Merge `metrics` into `<modelDir>/manifest.json`'s training.metrics, keeping every other field as it is. */
export async function updateManifestMetrics(modelDir: string, metrics: Record<string, unknown>): Promise<void> {
  const path = join(modelDir, MANIFEST_FILE);
  const raw = (await readManifestFile(modelDir)).raw as { training?: { metrics?: Record<string, unknown> } | null };
  if (!raw.training) throw new InvalidArgumentError(`${path}: training`, raw.training ?? null, 'training provenance to hold the metrics');
  raw.training.metrics = { ...(raw.training.metrics ?? {}), ...metrics };
  parseManifest(raw, path); // never write a manifest the readers would refuse
  await writeFileAtomic(path, `${JSON.stringify(raw, null, 2)}\n`);
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The rows of one pass's figures. */
function passRows(r: EvalPass): [string, string][] {
  const rows: [string, string][] = [];
  if (r.toy) {
    const t = r.toy;
    rows.push(['modes covered', `${t.modesCovered} / ${t.modes}`]);
    rows.push(['high-quality samples', `${t.highQualityPercent.toFixed(1)} %  (within 3σ of the nearest mode; the true mixture gives 98.9 %)`]);
    rows.push(['reverse KL', `${t.reverseKl === null ? 'n/a' : t.reverseKl.toFixed(4)} nats over all samples; ${t.reverseKlHighQuality === null ? 'n/a' : t.reverseKlHighQuality.toFixed(4)} over high-quality ones (0 = balanced, log ${t.modes} = ${Math.log(t.modes).toFixed(3)} = one mode)`]);
    if (t.invalid) rows.push(['non-finite samples', String(t.invalid)]);
  } else if (r.mnist) {
    const m = r.mnist;
    if (m.accuracy !== null) {
      rows.push(['evaluator accuracy', `${pct(m.accuracy)}  (classified as the class asked for; the evaluator scores ${pct(m.evaluator.heldoutAccuracy)} on held-out real digits)`]);
      rows.push(['per class', m.perClassAccuracy!.map((a, c) => `${c}: ${(100 * a).toFixed(0)}`).join('  ')]);
    } else {
      rows.push(['evaluator accuracy', 'n/a (unconditional generator)']);
    }
    rows.push(['Fréchet distance', `${m.frechetDistance.toFixed(3)}  (evaluator features, ${m.samples} generated vs ${m.heldoutSamples} held-out digits)`]);
    rows.push(['reference', `${m.frechetReference.toFixed(3)}  (${m.referenceSamples} real training digits vs the same held-out digits)`]);
    rows.push(['classes predicted', `${m.classesPredicted} / ${m.predictedShares.length}; shares ${m.predictedShares.map((s) => (100 * s).toFixed(0)).join('/')} %; reverse KL ${m.reverseKl.toFixed(4)} nats`]);
    if (m.nonFinitePixels) rows.push(['non-finite pixels', String(m.nonFinitePixels)]);
  } else if (r.folder) {
    const f = r.folder;
    if (f.accuracy !== null) {
      rows.push(['classifier accuracy', `${pct(f.accuracy)}  (generated images classified as the class asked for; ${pct(f.heldoutAccuracy ?? 0)} on the ${f.heldoutSamples} real held-out images)`]);
      rows.push(['per class', f.perClassAccuracy!.map((a, c) => `${f.classes[c]}: ${(100 * a).toFixed(0)}`).join('  ')]);
    } else if (f.heldoutAccuracy !== null) {
      rows.push(['classifier accuracy', `n/a (unconditional generator); ${pct(f.heldoutAccuracy)} on real held-out images`]);
    }
    rows.push(['Fréchet distance', `${f.frechetDistance.toFixed(3)}  (classifier features, ${f.samples} generated vs ${f.heldoutSamples} held-out images)`]);
    rows.push(['reference', `${f.frechetReference.toFixed(3)}  (${f.referenceSamples} real training images vs the same held-out images)`]);
    rows.push(['precision / recall', `${f.prdc.precision.toFixed(3)} / ${f.prdc.recall.toFixed(3)}  (k = ${f.prdc.k} neighbours, against the ${f.referenceSamples} training images)`]);
    rows.push(['density / coverage', `${f.prdc.density.toFixed(3)} / ${f.prdc.coverage.toFixed(3)}`]);
    if (f.classes.length > 1) rows.push(['classes predicted', `${f.classesPredicted} / ${f.classes.length}; shares ${f.predictedShares.map((s) => (100 * s).toFixed(0)).join('/')} %`]);
    if (f.nonFinitePixels) rows.push(['non-finite pixels', String(f.nonFinitePixels)]);
  }
  return rows;
}

/** The report as an aligned two-column table: the raw figures, then (--refine) the refined ones and their cost. */
export function formatReport(r: EvalReport): string {
  const rows: [string, string][] = passRows(r);
  const f = r.refined;
  if (f) {
    rows.push(['', '']);
    rows.push(['refined', `${describeRefine(f.refine)}: the same samples refined by the critic`]);
    rows.push(...passRows(f).map(([k, v]): [string, string] => [`  ${k}`, v]));
    const ratio = r.samplesPerSecond / Math.max(f.samplesPerSecond, 1e-9);
    rows.push(['  cost', `${f.samplesPerSecond.toFixed(f.samplesPerSecond < 100 ? 1 : 0)} samples/s vs ${r.samplesPerSecond.toFixed(0)} raw (${ratio.toFixed(1)}× the time; generation only, on this machine)`]);
  }
  for (const fig of r.figures) rows.push(['figure', fig]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const what = r.folder ? `image folder ${r.folder.data}${r.folder.conditional ? ', conditional' : ''}` : `${r.dataset}${r.mnist ? (r.mnist.conditional ? ', conditional' : ', unconditional') : ''}`;
  const head = `${r.model} (${what}): ${r.samples} samples, seed ${r.seed}`;
  return [head, ...rows.map(([k, v]) => (k === '' && v === '' ? '' : `  ${k.padEnd(width)}  ${v}`))].join('\n');
}

export interface EvalCommandOptions extends EvalOptions {
  json: boolean;
  updateManifest: boolean;
}

export async function evalCommand(opts: EvalCommandOptions): Promise<EvalReport> {
  const report = await evaluateModel(opts);
  if (opts.updateManifest) await updateManifestMetrics(opts.modelDir, manifestMetrics(report));
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  return report;
}

