/**
 * Devices and the execution providers behind them, one frozen table per platform, and the one
 * rule that resolves a requested device: `auto` tries the table's devices in order (fastest
 * first) and keeps every refusal with its reason; an explicit device that cannot run fails with
 * its reason. (onnxruntime-common's `resolveBackend` works the same way for its backends.)
 *
 * @example
 *   const choice = await resolveDevice(NODE_DEVICES, 'auto', probe);
 *   choice.device   // 'cpu'
 *   choice.refused  // [{ device: 'cuda', reason: '…not installed…' }, { device: 'webgpu', reason: '…' }]
 */
import { InvalidArgumentError, WganxError } from '../core/errors.js';

/** Node (onnxruntime-node): execution providers per device, in ORT's priority order; keys in `auto`'s order. */
export const NODE_DEVICES = Object.freeze({
  cuda: Object.freeze(['cuda', 'cpu']),
  webgpu: Object.freeze(['webgpu', 'cpu']),
  cpu: Object.freeze(['cpu']),
} as const);

/** Browsers (onnxruntime-web): the same for WebGPU and WebAssembly. */
export const WEB_DEVICES = Object.freeze({
  // WebGPU alone: with 'wasm' listed too, onnxruntime-web would quietly build the session on WASM
  // when its WebGPU backend fails to start (a warning in the console, nothing in `refused`).
  // Nodes WebGPU lacks kernels for still run on the CPU inside the session.
  webgpu: Object.freeze(['webgpu']),
  wasm: Object.freeze(['wasm']),
} as const);

export type NodeDevice = keyof typeof NODE_DEVICES;
export type WebDevice = keyof typeof WEB_DEVICES;

/** What `--device` accepts on Node, and `device` in browsers: `auto`, then each table's devices. */
export const NODE_DEVICE_REQUESTS = Object.freeze(['auto', ...(Object.keys(NODE_DEVICES) as NodeDevice[])] as const);
export const WEB_DEVICE_REQUESTS = Object.freeze(['auto', ...(Object.keys(WEB_DEVICES) as WebDevice[])] as const);
export type DeviceTable<D extends string> = Readonly<Record<D, readonly string[]>>;

export interface Refusal<D extends string = string> {
  device: D;
  reason: string;
}

export interface DeviceChoice<D extends string = string> {
  requested: D | 'auto';
  device: D;
  /** Execution providers of the session, in priority order. */
  providers: string[];
  /** Faster devices that were tried and refused, with the reason. */
  refused: Refusal<D>[];
}

export class DeviceUnavailableError extends WganxError {
  override name = 'DeviceUnavailableError';
}

/** Resolves to null when `device` can run here, else the reason it cannot. */
export type DeviceProbe<D extends string> = (device: D) => Promise<string | null>;

export interface ResolveOptions<D extends string> {
  /** The flag or field named in errors (default `device`). */
  field?: string;
  /** Refusals that only `auto` makes, before probing (e.g. a software GPU that is slower than the CPU). */
  autoRefusal?: (device: D) => string | null;
}

/** Resolve `requested` against `table`, probing devices with `probe` (see module header). */
export async function resolveDevice<D extends string>(table: DeviceTable<D>, requested: string, probe: DeviceProbe<D>, opts: ResolveOptions<D> = {}): Promise<DeviceChoice<D>> {
  const field = opts.field ?? 'device';
  const devices = Object.keys(table) as D[];
  if (requested !== 'auto' && !devices.includes(requested as D)) {
    throw new InvalidArgumentError(field, requested, `one of ${['auto', ...devices].join(', ')}`);
  }
  const choice = (device: D, refused: Refusal<D>[]): DeviceChoice<D> => ({ requested: requested as D | 'auto', device, providers: [...table[device]], refused });
  if (requested !== 'auto') {
    const reason = await probe(requested as D);
    if (reason !== null) throw new DeviceUnavailableError(`${field.startsWith('-') ? field : `--${field}`} ${requested} is unavailable: ${reason}`);
    return choice(requested as D, []);
  }
  const refused: Refusal<D>[] = [];
  for (const device of devices) {
    const reason = opts.autoRefusal?.(device) ?? (await probe(device));
    if (reason === null) return choice(device, refused);
    refused.push({ device, reason });
  }
  throw new DeviceUnavailableError(`no device is usable: ${refused.map((r) => `${r.device}: ${r.reason}`).join('; ')}`);
}
