/**
 * `wganx/web`: generators in the browser, on onnxruntime-web (WebGPU or WASM), giving the same
 * samples as the server: the runtime seam of src/runtime (latents from the core's sampler, classes
 * from the core's label rule) plus pictures for a canvas.
 *
 * @example
 *   import { openGenerator } from 'wganx/web';
 *   const g = await openGenerator('/models/mnist-cgan/', { device: 'auto' });
 *   g.device, g.refused                     // 'webgpu' | 'wasm', and why faster devices were refused
 *   const out = await g.sample({ seed: 7, n: 16 });
 *   ctx.putImageData(g.toImageData(out, { scale: 4 }), 0, 0);
 *   g.refineMethods                         // ['none', 'rank', 'dot', 'ddls'] for a model that ships its critic
 *   const better = await g.sample({ seed: 7, n: 16, refine: { method: 'rank', k: 8 } });
 *   await g.dispose();
 *
 * A model that ships its critic (critic.onnx, refine.onnx) refines samples here as on the server
 * (`refine`: src/runtime/refine): its files are fetched when a method first needs them, checked
 * against the manifest's sha256, and opened on the generator's device.
 *
 * onnxruntime-web fetches its `.wasm`/`.mjs` files from beside the bundled script by default
 * (same origin); pass `wasmPaths` when they live elsewhere.
 */
import { gridImage, toRgba, type RasterImage } from '../core/image.js';
import { scatterPlot, scatterSide } from '../core/plot.js';
import { Generator, type GeneratorOutput, type SampleOutput } from '../runtime/generator.js';
import { openWebSession, type WebOpenOptions } from '../runtime/web.js';
import type { WebDevice } from '../runtime/devices.js';

export { fetchModel, probeWebDevice, runtimeVersion, wasmStarted, wasmThreads, WEB_DEVICES, type WebDevice, type WebOpenOptions } from '../runtime/web.js';
export type { SampleOutput, SampleRequest, GeneratorOutput } from '../runtime/generator.js';
export { REFINE_METHODS, REFINE_METHOD_NAMES, type RefineMethodName, type RefineRequest } from '../runtime/refine/index.js';
export type { Manifest } from '../core/manifest.js';
export { classIndex, resolveLabels } from '../core/labels.js';

export interface PictureOptions {
  /** Grid columns (default ⌈√n⌉), as the server's `columns`. */
  columns?: number;
  /** Integer upscaling (images: nearest neighbour; points: a 256·scale-pixel plot), as the server's `scale`. */
  scale?: number;
}


/** A generator in the browser: {@link Generator} plus pictures of its outputs. */
export class WebGenerator extends Generator<WebDevice> {
  /** The picture of `out` the server's `samples.png` shows for the same request, as RGB(A) pixels. */
  picture(out: GeneratorOutput & { labels?: Int32Array | null }, opts: PictureOptions = {}): RasterImage {
    const [rows, ...rowShape] = out.dims;
    const m = this.manifest;
    if (m.kind === 'image') return gridImage(out.data, rowShape, rows, m.output.range, opts);
    return scatterPlot(out.data, rowShape.reduce((a, b) => a * b, 1), rows, { range: m.output.range, labels: out.labels ?? null, modes: m.output.modes, side: scatterSide(opts.scale ?? 1) });
  }

  /** {@link picture} as an `ImageData` for `ctx.putImageData`. */
  toImageData(out: SampleOutput | (GeneratorOutput & { labels?: Int32Array | null }), opts: PictureOptions = {}): ImageData {
    const img = this.picture(out, opts);
    return new ImageData(toRgba(img) as Uint8ClampedArray<ArrayBuffer>, img.width, img.height);
  }
}

/** Open the model folder at `url` (`manifest.json` + its ONNX file) on `device` (`auto`: WebGPU, else WASM). */
export async function openGenerator(url: string, opts: WebOpenOptions = {}): Promise<WebGenerator> {
  const { manifest, session, choice, open } = await openWebSession(url, opts);
  try {
    return new WebGenerator(manifest, session, choice, open);
  } catch (err) {
    await session.release();
    throw err;
  }
}
