/**
 * `ddls`: Discriminator Driven Latent Sampling (Che et al. 2020): `steps` Langevin steps on the
 * energy E(z) = ‖z‖²/2 − D(G(z, y), y) (the prior's and the critic's; a uniform prior adds nothing
 * inside its box, which bounds z instead),
 *
 *     z ← z − (stepSize/2) · ∇E(z) + √stepSize · ξ(seed, i, step),
 *
 * with ξ standard normal from the counter-based `langevin` stream (src/core/latent.ts
 * `noiseNormals`), so a request gives the same latents wherever and however it is split.
 * It samples the critic-reweighted distribution: more faithful in the limit, but the WGAN critic is
 * not a calibrated log-density ratio, so modes the critic prefers gain weight (docs/refine.md
 * compares it with dot). Cost: `steps` forward + backward passes of refine.onnx per sample.
 */
import { noiseNormals } from '../../core/latent.js';
import { clampToPrior, STEP_PARAMS, type RefineMethod } from './method.js';

export const ddls: RefineMethod = {
  help: 'Langevin dynamics on ‖z‖²/2 − D(G(z)) (Che et al. 2020), with seeded noise',
  params: {
    // Langevin's noise (√η per step) spreads samples: small steps, more of them (docs/refine.md, bench/RESULTS.md).
    steps: { ...STEP_PARAMS.steps, default: 100 },
    stepSize: { ...STEP_PARAMS.stepSize, default: 0.001 },
  },
  graph: 'refine',
  passes: (p) => p.steps,
  async run(rows, p, critic) {
    const { dim, distribution } = critic;
    const z = rows.z.slice();
    const n = z.length / dim;
    const prior = distribution === 'normal' ? 1 : 0;
    const noise = Math.sqrt(p.stepSize);
    const xi = new Float32Array(dim);
    for (let t = 0; t < p.steps; t++) {
      const { grad } = await critic.gradient(z, rows.labels);
      for (let r = 0; r < n; r++) {
        const at = r * dim;
        noiseNormals('langevin', rows.seed, rows.indices[r], t, dim, xi);
        for (let i = 0; i < dim; i++) z[at + i] += -(p.stepSize / 2) * (prior * z[at + i] - grad[at + i]) + noise * xi[i];
      }
      clampToPrior(z, distribution);
    }
    return z;
  },
};
