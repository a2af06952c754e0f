/**
 * Worker-thread entry: encodes and writes chunks of an augmentation data set (./write-chunk.ts),
 * one at a time, while the main thread generates the next ones.
 */
import { parentPort } from 'node:worker_threads';
import { writeChunk, type ChunkJob } from './write-chunk.js';

if (!parentPort) throw new Error('writer-worker.ts must run in a worker thread');
const port = parentPort;
let chain: Promise<void> = Promise.resolve();
port.on('message', (job: ChunkJob) => {
  chain = chain.then(async () => port.postMessage(await writeChunk(job)));
});
