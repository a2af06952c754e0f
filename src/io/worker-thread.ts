/**
 * Starts a worker thread from a module given by its built URL (`new URL('../serve/ort-worker.js',
 * import.meta.url)`): the built `.js` file, or the `.ts` source under tsx (tests, benches), whose
 * loader hooks worker threads do not inherit. Also: {@link ownMemory}, for arrays those threads
 * transfer.
 *
 * @example
 *   const worker = startWorker(new URL('../serve/encode-worker.js', import.meta.url));
 *   port.postMessage(reply, [ownMemory(bytes).buffer]);
 */
import { Worker } from 'node:worker_threads';

const FROM_SOURCE = import.meta.url.endsWith('.ts');

export function startWorker(module: URL): Worker {
  if (!FROM_SOURCE) return new Worker(module);
  const url = new URL(module.href.replace(/\.js$/, '.ts'));
  const code = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(code, { eval: true });
}

/**
 * `a` itself when it spans its whole ArrayBuffer, else a copy that does: transferring a view's
 * buffer would move memory that is not the view's (ORT's outputs, sharp's and small Buffers may share one).
 */
export function ownMemory<T extends Uint8Array | Float32Array>(a: T): T {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as T);
}
