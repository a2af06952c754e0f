/**
 * Worker-thread entry: draws each batch's latents for one ONNX Runtime worker (./latent-batch.ts,
 * with the core's `seededSamples`), so that the next batch's latents are ready when the session
 * finishes its current run. ORT's `run()` blocks its thread; drawing a DCGAN batch's seeded
 * normals there costs a good part of a GPU batch's time (bench/RESULTS.md, GPU stand-in), so on a
 * GPU the two stages overlap instead of taking turns.
 *
 * Protocol: one `init` with the port to the session's worker, then `sample` messages; each one's
 * latents (or the reason they could not be drawn) go to that port under the batch's id.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { buildLatents } from './latent-batch.js';
import type { LatentRequest, LatentResponse } from './protocol.js';

if (!parentPort) throw new Error('latent-worker.ts must run in a worker thread');

let out: MessagePort | null = null;
let model: Extract<LatentRequest, { type: 'init' }>['model'] | null = null;

parentPort.on('message', (msg: LatentRequest) => {
  if (msg.type === 'init') {
    out = msg.port;
    model = msg.model;
    return;
  }
  if (!out || !model) throw new Error('latent worker: sample before init');
  let reply: LatentResponse;
  try {
    reply = { id: msg.id, z: buildLatents(msg.rows, msg.segments, model) };
  } catch (err) {
    reply = { id: msg.id, error: err instanceof Error ? err.message : String(err) };
  }
  out.postMessage(reply, 'z' in reply ? [reply.z.buffer as ArrayBuffer] : []);
});
