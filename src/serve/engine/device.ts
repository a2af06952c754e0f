/**
 * The server's device choice for `--device auto|cuda|webgpu|cpu`: the runtime's Node device table
 * and resolution rule (src/runtime/devices.ts: `auto` tries cuda, webgpu, then cpu and keeps every
 * refusal's reason), with each probe run in a worker thread of its own, as the sessions will be.
 *
 * @example
 *   const choice = await resolveServeDevice('auto');
 *   choice.device   // 'cpu'
 *   choice.refused  // [{ device: 'cuda', reason: 'provider library … not installed' }, …]
 */
import { resolveNodeDevice } from '../../runtime/node.js';
import type { DeviceChoice, DeviceProbe, NodeDevice } from '../../runtime/devices.js';
import { startWorker } from '../../io/worker-thread.js';
import type { WorkerRequest, WorkerResponse } from './protocol.js';

/** Runs src/runtime/node.ts's probe for `device` on a fresh session thread; null when usable. */
export async function probeInWorker(device: NodeDevice): Promise<string | null> {
  if (device === 'cpu') return null;
  const worker = startWorker(new URL('./ort-worker.js', import.meta.url));
  try {
    return await new Promise<string | null>((resolve) => {
      worker.on('message', (msg: WorkerResponse) => {
        if (msg.type === 'probed') resolve(msg.reason);
      });
      worker.once('error', (err) => resolve(`the ${device} probe crashed its thread: ${err.message}`));
      worker.once('exit', (code) => resolve(`the ${device} probe's thread exited (code ${code})`));
      const msg: WorkerRequest = { type: 'probe', device };
      worker.postMessage(msg);
    });
  } finally {
    await worker.terminate();
  }
}

/** Pick the device for every session of this server. */
export function resolveServeDevice(requested: string, probe: DeviceProbe<NodeDevice> = probeInWorker): Promise<DeviceChoice<NodeDevice>> {
  return resolveNodeDevice(requested, probe);
}
