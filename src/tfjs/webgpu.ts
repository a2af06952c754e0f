/**
 * TensorFlow.js's WebGPU backend in Node: `navigator.gpu` comes from Dawn's Node bindings (the
 * `webgpu` package, prebuilt `dawn.node`), which run on Vulkan on Linux (the driver's ICD, e.g.
 * NVIDIA's `nvidia_icd.json`). No libtensorflow, no CUDA toolkit: what serving on WebGPU needs.
 *
 * `auto` takes WebGPU only on a hardware adapter: a software one (SwiftShader, lavapipe) is slower
 * than the wasm backend and is for tests, chosen only with an explicit `--backend webgpu`.
 *
 * @example
 *   const r = await startWebgpu({ allowSoftware: false });
 *   if (!r.ok) console.log(`webgpu refused: ${r.reason}`);
 */
import { NO_VULKAN_LOADER, softwareVulkan, vulkanLoaderPresent } from '../io/vulkan.js';

export type WebgpuStart = { ok: true; adapter: string; software: boolean } | { ok: false; reason: string };

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

interface GpuLike {
  requestAdapter(opts?: { powerPreference?: string }): Promise<{ info?: AdapterInfoLike; isFallbackAdapter?: boolean } | null>;
}

let started: Promise<WebgpuStart> | null = null;

const softwareRefusal = (name: string) => `the only WebGPU adapter is a software renderer (${name}), slower than the wasm backend; --backend webgpu forces it (for tests)`;

function describe(info: AdapterInfoLike): string {
  return [info.vendor, info.architecture, info.device, info.description].filter((x) => x && x.length > 0).join(' ') || 'unnamed adapter';
}

async function start(allowSoftware: boolean): Promise<WebgpuStart> {
  if (!vulkanLoaderPresent()) return { ok: false, reason: NO_VULKAN_LOADER };
  let gpu: GpuLike;
  try {
    const dawn = (await import('webgpu')) as unknown as { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
    // The WebGPU constants (GPUBufferUsage, GPUMapMode, …) tfjs-backend-webgpu reads as globals.
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
    gpu = dawn.create([]);
  } catch (err) {
    return { ok: false, reason: `the webgpu package (Dawn for Node) did not load: ${(err as Error).message.split('\n')[0]}` };
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return { ok: false, reason: "Dawn found no WebGPU adapter (no Vulkan driver for a GPU: install the driver's Vulkan ICD, e.g. NVIDIA's nvidia_icd.json)" };
  const info: AdapterInfoLike = adapter.info ?? {};
  const name = describe(info);
  const software = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || softwareVulkan() || /swiftshader|llvmpipe|lavapipe|software/i.test(name);
  if (software && !allowSoftware) {
    return { ok: false, reason: softwareRefusal(name) };
  }
  // tfjs-backend-webgpu asks navigator.gpu for its adapter. Node 21+ has a navigator object without gpu.
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  return { ok: true, adapter: name, software };
}

/** Make `navigator.gpu` and tfjs's `webgpu` backend available, once per process. */
export function startWebgpu(opts: { allowSoftware: boolean }): Promise<WebgpuStart> {
  started ??= start(opts.allowSoftware);
  return started.then(async (r) => {
    // A first, cautious start (auto) may have refused a software adapter that an explicit request accepts.
    if (!r.ok && opts.allowSoftware && /software renderer/.test(r.reason)) {
      started = start(true);
      return started;
    }
    // …and a start that accepted one must not hand it to a cautious caller later in the process.
    if (r.ok && r.software && !opts.allowSoftware) return { ok: false, reason: softwareRefusal(r.adapter) };
    return r;
  });
}
