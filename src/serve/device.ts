/**
 * Execution-provider choice for `--device auto|cuda|webgpu|cpu`.
 *
 * `auto` tries CUDA (only when onnxruntime-node's CUDA provider library is installed), then WebGPU
 * (when a session on a tiny probe graph can get an adapter), then CPU, and records why each faster
 * device was refused. An explicit device that is unavailable fails with one error naming the
 * reason. Probes run in a worker thread, like the real sessions.
 *
 * @example
 *   const choice = await resolveDevice('auto');
 *   choice.device   // 'cpu'
 *   choice.refused  // [{ device: 'cuda', reason: 'provider library … not installed' }, …]
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { WganxError } from '../core/errors.js';
import type { Device, DeviceRequest } from './options.js';
import { SessionInstance } from './instance.js';

const require = createRequire(import.meta.url);
const { onnx } = require('onnx-proto') as typeof import('onnx-proto');

/** Execution providers per device, in ORT's priority order (CPU takes nodes others cannot run). */
export const DEVICE_PROVIDERS: Readonly<Record<Device, readonly string[]>> = Object.freeze({
  cuda: ['cuda', 'cpu'],
  webgpu: ['webgpu', 'cpu'],
  cpu: ['cpu'],
});

/** Devices `auto` tries, fastest first. */
const AUTO_ORDER: readonly Device[] = ['cuda', 'webgpu', 'cpu'];

export interface DeviceChoice {
  requested: DeviceRequest;
  device: Device;
  providers: string[];
  /** Faster devices that were tried and refused, with the reason. */
  refused: { device: Device; reason: string }[];
}

export class DeviceUnavailableError extends WganxError {
  override name = 'DeviceUnavailableError';
}

/** Where onnxruntime-node keeps its native libraries for this platform. */
function ortBinaryDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** A graph y = z + z on float32 [batch, 4]: enough for a provider to compile a kernel. */
function probeModel(): Uint8Array {
  const f = onnx.TensorProto.DataType.FLOAT;
  const value = (name: string) => ({
    name,
    type: { tensorType: { elemType: f, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 4 }] } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'wganx-device-probe',
    graph: { name: 'probe', node: [{ opType: 'Add', input: ['z', 'z'], output: ['y'] }], input: [value('z')], output: [value('y')] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Try a device; resolves to null when usable, else the reason. */
export async function probeDevice(device: Device): Promise<string | null> {
  if (device === 'cuda') {
    const lib = path.join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so');
    if (!existsSync(lib)) {
      return `onnxruntime-node's CUDA provider library is not installed (${lib} is missing; reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12)`;
    }
  }
  let inst: SessionInstance | null = null;
  try {
    inst = await SessionInstance.create({
      model: probeModel(),
      providers: [...DEVICE_PROVIDERS[device]].filter((p) => p === device), // no CPU fallback in a probe
      threads: 1,
      spec: { latent: { name: 'z', dim: 4, distribution: 'normal' }, label: null, output: { name: 'y' } },
      label: `the ${device} probe graph`,
    });
    const out = await inst.run({ rows: 1, segments: [{ kind: 'raw', z: new Float32Array([1, 2, 3, 4]) }], labels: null });
    if (out.data[3] !== 8) return `the ${device} provider computed a wrong result on the probe graph (${Array.from(out.data).join(', ')})`;
    return null;
  } catch (err) {
    // ORT prefixes native errors with the source location and the failed check: keep the reason.
    const text = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    return text.replace(/\/onnxruntime_src\/\S+ .*? was false\. /, '');
  } finally {
    await inst?.close();
  }
}

/** SwiftShader (Chromium's CPU Vulkan) passes the probe but runs far slower than the CPU provider. */
const SOFTWARE_WEBGPU = 'the only Vulkan driver is SwiftShader (VK_ICD_FILENAMES), a software renderer slower than the CPU provider; use --device webgpu to force it';

function softwareVulkan(): boolean {
  return /swiftshader/i.test(process.env.VK_ICD_FILENAMES ?? '');
}

/** Pick the device for every session of this server (see module header). */
export async function resolveDevice(requested: DeviceRequest, probe: (d: Device) => Promise<string | null> = probeDevice): Promise<DeviceChoice> {
  if (requested !== 'auto') {
    const reason = requested === 'cpu' ? null : await probe(requested);
    if (reason !== null) throw new DeviceUnavailableError(`--device ${requested} is unavailable: ${reason}`);
    return { requested, device: requested, providers: [...DEVICE_PROVIDERS[requested]], refused: [] };
  }
  const refused: DeviceChoice['refused'] = [];
  for (const device of AUTO_ORDER) {
    const reason = device === 'cpu' ? null : device === 'webgpu' && softwareVulkan() ? SOFTWARE_WEBGPU : await probe(device);
    if (reason === null) return { requested, device, providers: [...DEVICE_PROVIDERS[device]], refused };
    refused.push({ device, reason });
  }
  throw new DeviceUnavailableError(`no device is usable: ${refused.map((r) => `${r.device}: ${r.reason}`).join('; ')}`);
}
