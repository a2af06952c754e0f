/**
 * A closed-form model for the refinement tests: sessions that compute a generator, a critic and the
 * critic's gradient in float64 per row (so every row is independent of its batch, as ONNX Runtime's
 * are), with a manifest that names them as `wganx train` does (issue 35's contract).
 *
 * G(z, y) = A·z + b_y (A = diag(1.5, 0.5)); D(x, y) = −‖x − c_y‖² + 0.3·x₀·x₁ (an off-diagonal term so
 * the gradient is not a multiple of x − c); ∂D(G(z))/∂z = Aᵀ ∇x D.
 */
import { parseManifest, type Manifest } from '../../src/core/manifest.js';
import { Generator } from '../../src/runtime/generator.js';
import type { Session, TensorValue } from '../../src/runtime/session.js';

const A = [1.5, 0.5];
const OFFSETS = [
  [0, 0],
  [1, -1],
  [-2, 0.5],
];
const CENTRES = [
  [1, 0],
  [0, 1],
  [-1, -1],
];

export function fakeG(z: number[], y: number): number[] {
  return [A[0] * z[0] + OFFSETS[y][0], A[1] * z[1] + OFFSETS[y][1]];
}
export function fakeD(x: number[], y: number): number {
  const c = CENTRES[y];
  return -((x[0] - c[0]) ** 2) - (x[1] - c[1]) ** 2 + 0.3 * x[0] * x[1];
}
/** ∂D(G(z, y), y)/∂z. */
export function fakeGrad(z: number[], y: number): number[] {
  const x = fakeG(z, y);
  const c = CENTRES[y];
  const gx = [-2 * (x[0] - c[0]) + 0.3 * x[1], -2 * (x[1] - c[1]) + 0.3 * x[0]];
  return [A[0] * gx[0], A[1] * gx[1]];
}

export interface Calls {
  generator: number[];
  critic: number[];
  refine: number[];
  opened: string[];
  released: string[];
}

function rowsOf(feeds: Readonly<Record<string, TensorValue>>, name: string, conditional: boolean): { x: number[][]; y: number[] } {
  const t = feeds[name];
  const rows = t.dims[0];
  const x = Array.from({ length: rows }, (_, r) => [Number(t.data[2 * r]), Number(t.data[2 * r + 1])]);
  const y = conditional ? Array.from(feeds.label.data as BigInt64Array, Number) : new Array<number>(rows).fill(0);
  return { x, y };
}

class FakeSession implements Session {
  constructor(
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    private readonly fn: (feeds: Readonly<Record<string, TensorValue>>) => Record<string, TensorValue>,
    private readonly onRelease: () => void = () => {},
  ) {}
  async run(feeds: Readonly<Record<string, TensorValue>>, outputs?: readonly string[]) {
    const all = this.fn(feeds);
    return Object.fromEntries((outputs ?? this.outputNames).map((n) => [n, all[n]]));
  }
  async release() {
    this.onRelease();
  }
}

const f32 = (rows: number[][], dims: number[]): TensorValue => ({ dtype: 'float32', data: Float32Array.from(rows.flat()), dims });

export function fakeManifest(opts: { conditional?: boolean; critic?: boolean; refine?: boolean; distribution?: 'normal' | 'uniform' } = {}): Manifest {
  const conditional = opts.conditional ?? false;
  const label = { name: 'label', dtype: 'int64', shape: ['batch', 1] };
  const spec = (name: string, shape: (string | number)[]) => ({ name, dtype: 'float32', shape });
  const critic = opts.critic === false ? null : {
    file: 'critic.onnx', sha256: null,
    inputs: [spec('x', ['batch', 2]), ...(conditional ? [label] : [])],
    outputs: [spec('score', ['batch', 1])],
    parity: { maxAbsDiff: { 1: 0 }, tolerance: 1e-4, inputsSeed: 0 },
    refine: opts.refine === false ? null : { file: 'refine.onnx', sha256: null, outputs: [spec('samples', ['batch', 2]), spec('score', ['batch']), spec('grad_z', ['batch', 2])], gradientCheck: { maxAbsDiff: 0, tolerance: 1e-4 } },
  };
  return parseManifest({
    schemaVersion: 1, name: conditional ? 'fake-cond' : 'fake', version: '1', kind: 'points',
    latent: { dim: 2, distribution: opts.distribution ?? 'normal' },
    conditional: conditional ? { numClasses: 3, labels: ['a', 'b', 'c'] } : null,
    inputs: [{ ...spec('z', ['batch', 2]), role: 'latent' }, ...(conditional ? [{ ...label, role: 'label' }] : [])],
    outputs: [spec('samples', ['batch', 2])],
    output: { layout: 'NC', range: [-3, 3] },
    export: { tool: 'test', opset: 17, createdAt: '2026-01-01', file: 'generator.onnx', sha256: null, parity: { maxAbsDiff: { 1: 0 }, tolerance: 1e-4, inputsSeed: 0 } },
    critic,
  });
}

/** A Generator on the closed-form sessions, and a log of their runs (rows per run) and opens. */
export function fakeGenerator(opts: Parameters<typeof fakeManifest>[0] = {}): { generator: Generator; calls: Calls; manifest: Manifest } {
  const manifest = fakeManifest(opts);
  const conditional = manifest.conditional !== null;
  const inputs = conditional ? ['z', 'label'] : ['z'];
  const calls: Calls = { generator: [], critic: [], refine: [], opened: [], released: [] };
  const generator = new FakeSession(inputs, ['samples'], (feeds) => {
    const { x: z, y } = rowsOf(feeds, 'z', conditional);
    calls.generator.push(z.length);
    return { samples: f32(z.map((r, i) => fakeG(r, y[i])), [z.length, 2]) };
  });
  const open = async (graph: 'critic' | 'refine'): Promise<Session> => {
    calls.opened.push(graph);
    const release = () => calls.released.push(graph);
    if (graph === 'critic') {
      return new FakeSession(conditional ? ['x', 'label'] : ['x'], ['score'], (feeds) => {
        const { x, y } = rowsOf(feeds, 'x', conditional);
        calls.critic.push(x.length);
        return { score: f32(x.map((r, i) => [fakeD(r, y[i])]), [x.length, 1]) };
      }, release);
    }
    return new FakeSession(inputs, ['samples', 'score', 'grad_z'], (feeds) => {
      const { x: z, y } = rowsOf(feeds, 'z', conditional);
      calls.refine.push(z.length);
      return {
        samples: f32(z.map((r, i) => fakeG(r, y[i])), [z.length, 2]),
        score: f32(z.map((r, i) => [fakeD(fakeG(r, y[i]), y[i])]), [z.length]),
        grad_z: f32(z.map((r, i) => fakeGrad(r, y[i])), [z.length, 2]),
      };
    }, release);
  };
  return { generator: new Generator(manifest, generator, { requested: 'cpu', device: 'cpu', providers: ['cpu'], refused: [] }, opts.critic === false ? null : open), calls, manifest };
}
