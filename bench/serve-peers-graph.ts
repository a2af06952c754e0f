/**
 * The graph side of `bench:serve -- --peers` (./serve-peers.ts): a generator's FLOPs counted from
 * its ONNX graph, the matrix product that measures the machine's peak, and a run of the bare session
 * that it times. Nothing here knows the architecture: whatever graph the exporter emits is counted
 * from its nodes' shapes.
 *
 * @example
 *   const f = await graphFlops(bytes);   // { perSample: 3913728, byOp: { Gemm: { nodes: 1, flops: 501760 }, ConvTranspose: … } }
 */
import { decodeModel, encodeModel, GraphBuilder, DataType } from '../src/export/onnx-builder.js';
import { createSession } from '../src/runtime/node.js';
import type { Session, TensorValue } from '../src/runtime/session.js';

/** The ops whose products are counted (multiply-adds × 2); everything else counts as free. */
export const COUNTED_OPS = ['Gemm', 'MatMul', 'Conv', 'ConvTranspose'] as const;

export interface GraphFlops {
  /** FLOPs of one more row: the count at 2 rows minus the count at 1 (work that does not grow with the batch drops out). */
  perSample: number;
  byOp: Record<string, { nodes: number; flops: number }>;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Multiply-adds × 2 of one node from its input and output shapes (`transA`: Gemm's attribute). */
export function nodeFlops(op: string, inputs: readonly (readonly number[])[], output: readonly number[], transA = false): number {
  switch (op) {
    case 'Conv': // W [Co, Ci/g, kh, kw]: each output element is Ci/g·kh·kw products
      return 2 * prod(output) * prod(inputs[1].slice(1));
    case 'ConvTranspose': // W [Ci, Co/g, kh, kw]: each input element feeds Co/g·kh·kw products
      return 2 * prod(inputs[0]) * prod(inputs[1].slice(1));
    case 'Gemm': // each output element is a dot product of length K: A is [M, K] ([K, M] with transA)
      return 2 * prod(output) * inputs[0][transA ? 0 : 1];
    case 'MatMul': // A [..., M, K]
      return 2 * prod(output) * inputs[0][inputs[0].length - 1];
    default:
      return 0;
  }
}

/** Zero feeds for every graph input, each symbolic dimension set to `rows`. */
function zeroFeeds(graph: ReturnType<typeof decodeModel>['graph'] & object, initializers: Set<string>, rows: number): Record<string, TensorValue> {
  const feeds: Record<string, TensorValue> = {};
  for (const input of graph.input ?? []) {
    if (initializers.has(input.name!)) continue;
    const t = input.type?.tensorType;
    const dims = (t?.shape?.dim ?? []).map((d) => (d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : rows));
    const n = prod(dims);
    if (t?.elemType === DataType.FLOAT) feeds[input.name!] = { dtype: 'float32', data: new Float32Array(n), dims };
    else if (t?.elemType === DataType.INT64) feeds[input.name!] = { dtype: 'int64', data: new BigInt64Array(n), dims };
    else if (t?.elemType === DataType.INT32) feeds[input.name!] = { dtype: 'int32', data: new Int32Array(n), dims };
    else throw new Error(`graph input "${input.name}" has ONNX element type ${t?.elemType}; the FLOP counter feeds float32, int64 or int32`);
  }
  return feeds;
}

/**
 * The FLOPs of the generator in `bytes` (an ONNX file): every node's output is made a graph output,
 * the graph runs on zeros at 1 and at 2 rows, and each Gemm/MatMul/Conv/ConvTranspose is counted
 * from the shapes that came out (initializers' from the file).
 */
export async function graphFlops(bytes: Uint8Array): Promise<GraphFlops> {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const initDims = new Map((graph.initializer ?? []).map((t) => [t.name!, (t.dims ?? []).map(Number)]));
  const outputs = new Set((graph.output ?? []).map((o) => o.name!));
  for (const node of graph.node ?? []) {
    for (const o of node.output ?? []) {
      if (!o || outputs.has(o)) continue;
      graph.output!.push({ name: o }); // no type: onnxruntime infers it
      outputs.add(o);
    }
  }
  const session = await createSession(encodeModel(model), { providers: ['cpu'], threads: 1 });
  const counts: Record<string, { nodes: number; flops: number }>[] = [];
  try {
    for (const rows of [1, 2]) {
      const feeds = zeroFeeds(graph, new Set(initDims.keys()), rows);
      const values = await session.run(feeds);
      const dims = (name: string): readonly number[] => {
        const d = values[name]?.dims ?? feeds[name]?.dims ?? initDims.get(name);
        if (!d) throw new Error(`the FLOP counter found no shape for "${name}"`);
        return d;
      };
      const byOp: Record<string, { nodes: number; flops: number }> = {};
      for (const node of graph.node ?? []) {
        if (!(COUNTED_OPS as readonly string[]).includes(node.opType!)) continue;
        const ins = (node.input ?? []).filter((n) => n).map(dims);
        const transA = node.attribute?.some((a) => a.name === 'transA' && Number(a.i) === 1) ?? false;
        const e = (byOp[node.opType!] ??= { nodes: 0, flops: 0 });
        e.nodes++;
        e.flops += nodeFlops(node.opType!, ins, dims(node.output![0]), transA);
      }
      counts.push(byOp);
    }
  } finally {
    await session.release();
  }
  const [one, two] = counts;
  const byOp = Object.fromEntries(Object.entries(one).map(([op, e]) => [op, { nodes: e.nodes, flops: two[op].flops - e.flops }]));
  return { perSample: Object.values(byOp).reduce((a, e) => a + e.flops, 0), byOp };
}

/** `FLOPs 3.91 M (Gemm ×1 0.50 M, ConvTranspose ×2 3.41 M)` */
export function describeFlops(f: GraphFlops): string {
  const m = (x: number) => `${(x / 1e6).toFixed(2)} M`;
  return `${m(f.perSample)} FLOP/sample (${Object.entries(f.byOp).map(([op, e]) => `${op} ×${e.nodes} ${m(e.flops)}`).join(', ')})`;
}

/** A session that multiplies two float32 matrices, a [m, k] · b [k, n] (the peak's measure). */
export async function matmulSession(threads: number): Promise<Session> {
  const g = new GraphBuilder('matmul');
  g.input({ name: 'a', elemType: DataType.FLOAT, shape: ['m', 'k'] });
  g.input({ name: 'b', elemType: DataType.FLOAT, shape: ['k', 'n'] });
  g.nodeTo('MatMul', ['a', 'b'], {}, [g.reserve('y')]);
  g.output({ name: 'y', elemType: DataType.FLOAT, shape: ['m', 'n'] });
  return createSession(encodeModel(g.toModel({ opset: 17, producerVersion: 'bench' })), { providers: ['cpu'], threads, spinning: false });
}

/** GFLOP/s of an n×n·n×n product on `session` over about `ms` (one untimed call first, at least 2 timed). */
export async function matmulPeak(session: Session, n: number, ms: number): Promise<number> {
  const a = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const feeds: Record<string, TensorValue> = { a: { dtype: 'float32', data: a, dims: [n, n] }, b: { dtype: 'float32', data: a, dims: [n, n] } };
  await session.run(feeds);
  let calls = 0;
  const t0 = performance.now();
  while (calls < 2 || performance.now() - t0 < ms) {
    await session.run(feeds);
    calls++;
  }
  return (2 * n ** 3 * calls) / ((performance.now() - t0) / 1000) / 1e9;
}
