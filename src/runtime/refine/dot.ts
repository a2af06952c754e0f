/**
 * `dot`: latent-space Discriminator Optimal Transport (Tanaka 2019, which uses exactly a WGAN-GP
 * critic). Each latent `z0` moves by `steps` gradient steps of `stepSize` on
 *
 *     f(z) = ‖z − z0‖ − D(G(z, y), y) / K_eff,
 *
 * i.e. `z ← z − stepSize · ((z − z0)/‖z − z0‖ − ∇z D(G(z))/K_eff)` (the first term's subgradient
 * at z = z0 is 0). `K_eff` is the critic's effective Lipschitz constant in latent space, measured
 * as the paper's code does — the largest slope |D(G(a)) − D(G(b))| / ‖a − b‖ over independent
 * pairs of reference latents (one class each) — once per loaded model. A latent moves where the
 * critic's slope exceeds that typical one (between modes, where the generator stretches) and stays
 * where the critic is flat (on a mode), so samples keep their mode. Deterministic: no noise; each row depends on its
 * own latent and class only. Cost: `steps` forward + backward passes of refine.onnx per sample.
 */
import { WganxError } from '../../core/errors.js';
import { clampToPrior, STEP_PARAMS, type CriticGraphs, type RefineMethod } from './method.js';

/**
 * K_eff as Tanaka's code measures it: the largest |D(G(a)) − D(G(b))| / ‖a − b‖ over independent
 * pairs of latents (the reference pairs, each of one class). Pairs of unrelated latents give the
 * critic's typical slope across the latent space, below its steepest local gradients: DOT moves
 * exactly the latents whose gradient is steeper than that.
 */
export async function effectiveLipschitz(critic: CriticGraphs): Promise<number> {
  const { dim } = critic;
  const { z, labels } = critic.reference();
  const { score } = await critic.gradient(z, labels);
  let k = 0;
  for (let a = 0; a + 1 < score.length; a += 2) {
    let d2 = 0;
    for (let i = 0; i < dim; i++) d2 += (z[a * dim + i] - z[(a + 1) * dim + i]) ** 2;
    if (d2 > 0) k = Math.max(k, Math.abs(score[a] - score[a + 1]) / Math.sqrt(d2));
  }
  if (!(k > 0 && Number.isFinite(k))) throw new WganxError(`dot: the critic's scores of the reference latents give no usable slope (K_eff = ${k}); refine with rank instead`);
  return k;
}

export const dot: RefineMethod = {
  help: 'Discriminator Optimal Transport in latent space (Tanaka 2019): gradient steps on ‖z − z0‖ − D(G(z))/K_eff',
  params: {
    steps: { ...STEP_PARAMS.steps, default: 20 },
    stepSize: { ...STEP_PARAMS.stepSize, default: 0.01 },
  },
  graph: 'refine',
  passes: (p) => p.steps,
  async run(rows, p, critic) {
    const { dim, distribution } = critic;
    const keff = await critic.constant('dot.keff', () => effectiveLipschitz(critic));
    const z0 = rows.z;
    const z = z0.slice();
    const n = z.length / dim;
    for (let t = 0; t < p.steps; t++) {
      const { grad } = await critic.gradient(z, rows.labels);
      for (let r = 0; r < n; r++) {
        const at = r * dim;
        let d2 = 0;
        for (let i = 0; i < dim; i++) d2 += (z[at + i] - z0[at + i]) ** 2;
        const norm = Math.sqrt(d2);
        for (let i = 0; i < dim; i++) {
          const pull = norm > 0 ? (z[at + i] - z0[at + i]) / norm : 0;
          z[at + i] -= p.stepSize * (pull - grad[at + i] / keff);
        }
      }
      clampToPrior(z, distribution);
    }
    return z;
  },
};
