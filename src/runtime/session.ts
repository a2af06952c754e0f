/**
 * The seam between wganx and an ONNX Runtime: one loaded graph that runs named tensors.
 * `./node.ts` implements it with onnxruntime-node, `./web.ts` with onnxruntime-web, and tests may
 * implement it with a fake. Nothing here imports a runtime, so it runs in Node and in browsers.
 *
 * @example
 *   const out = await session.run({ z: { dtype: 'float32', data: z, dims: [4, 100] } }, ['image']);
 *   out.image.dims // [4, 28, 28, 1]
 */

export type TensorDtype = 'float32' | 'int32' | 'int64';

/** A tensor as plain data: what crosses the seam in both directions. */
export interface TensorValue {
  dtype: TensorDtype;
  data: Float32Array | Int32Array | BigInt64Array;
  dims: readonly number[];
}

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Run the graph. Outputs are the runtime's own arrays (possibly views on a larger buffer): copy
   * them before transferring them to another thread.
   */
  run(feeds: Readonly<Record<string, TensorValue>>, outputs?: readonly string[]): Promise<Record<string, TensorValue>>;
  release(): Promise<void>;
}

/** How a session is created, on any platform. */
export interface SessionOptions {
  /** Execution providers in priority order (e.g. `['webgpu', 'cpu']`). */
  providers: readonly string[];
  /** Intra-op threads; 0 = the runtime's choice (one per core). */
  threads?: number;
  /** Let idle intra-op threads spin (fast hand-off, but steals cores from other threads). Default true. */
  spinning?: boolean;
}

/** A message for a runtime error: ORT prefixes native errors with the source location and the failed check. */
export function runtimeMessage(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).trim().split('\n')[0];
  return text.replace(/\/onnxruntime_src\/\S+ .*? was false\. /, '');
}
