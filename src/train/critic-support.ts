/**
 * Which critics the gradient penalty is known to differentiate correctly.
 *
 * tfjs can return a wrong second-order gradient without any error (see ./gradients.ts), so every
 * critic the trainer offers to WGAN-GP is listed here only after test/train/penalty-gradient.test.ts
 * has checked the penalty's gradient w.r.t. every critic weight against central finite
 * differences. Anything else is refused before training starts.
 */
import { InvalidArgumentError } from '../core/errors.js';
import { ARCHITECTURES, CRITIC_ACTIVATIONS, CRITIC_NORMS, type Architecture, type CriticActivation, type CriticNorm, type TrainConfig } from './config.js';

/** `arch/activation/norm` combinations verified by the finite-difference test. */
export const PENALTY_VERIFIED_CRITICS: ReadonlySet<string> = new Set(
  ARCHITECTURES.flatMap((a) => CRITIC_ACTIVATIONS.flatMap((act) => CRITIC_NORMS.map((n) => criticKey(a, act, n)))),
);

export function criticKey(arch: Architecture, activation: CriticActivation, norm: CriticNorm): string {
  return `${arch}/${activation}/${norm}`;
}

export function assertCriticSupported(config: Pick<TrainConfig, 'algo' | 'arch' | 'criticActivation' | 'criticNorm'>): void {
  if (config.algo !== 'wgan-gp') return; // only the penalty needs second-order gradients
  const key = criticKey(config.arch, config.criticActivation, config.criticNorm);
  if (!PENALTY_VERIFIED_CRITICS.has(key)) {
    const ok = [...PENALTY_VERIFIED_CRITICS].filter((k) => k.startsWith(`${config.arch}/`)).map((k) => k.split('/').slice(1).join(' + '));
    throw new InvalidArgumentError(
      '--critic-activation/--critic-norm',
      `${config.criticActivation} + ${config.criticNorm}`,
      `a critic whose gradient-penalty gradient tfjs computes correctly for --arch ${config.arch} with --algo wgan-gp: ${ok.join(', ') || 'none'}`,
    );
  }
}
