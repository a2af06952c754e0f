/**
 * Worker-thread entry: encodes what would hold the event loop for tens of milliseconds in large
 * responses — one image per sample (upscaling, PNG framing, sharp's per-image set-up, base64), grids
 * of many samples, and the JSON text of large float arrays (KServe JSON outputs). See ./encode-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { encodeEach, encodeGrid, numberArrayJson } from './encode.js';
import type { EncodeRequest, EncodeResponse } from './encode-pool.js';
import { ownMemory } from '../io/worker-thread.js';

if (!parentPort) throw new Error('encode-worker.ts must run in a worker thread');
const port = parentPort;

port.on('message', async (msg: EncodeRequest) => {
  let reply: EncodeResponse;
  try {
    if (msg.type === 'images') {
      const images = await encodeEach(msg.data, msg.rowShape, msg.count, msg.range, msg.opts);
      reply = { id: msg.id, images: images.map((b) => b.toString('base64')) };
    } else if (msg.type === 'grid') {
      reply = { id: msg.id, bytes: ownMemory(await encodeGrid(msg.data, msg.rowShape, msg.count, msg.range, msg.opts)) };
    } else {
      reply = { id: msg.id, bytes: numberArrayJson(msg.data) };
    }
  } catch (err) {
    reply = { id: msg.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply, 'bytes' in reply ? [reply.bytes.buffer as ArrayBuffer] : []);
});
