/**
 * Which critics the gradient penalty is known to differentiate correctly.
 *
 * tfjs can return a wrong second-order gradient without any error (see src/tfjs/gradients.ts), so every
 * critic the trainer offers to WGAN-GP is listed here only after test/train/penalty-gradient.test.ts
 * has checked the penalty's gradient w.r.t. every critic weight against central finite
 * differences. Anything else is refused before training starts.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { CriticActivation, CriticNorm, TrainConfig } from './config.js';
import { ARCHS, archSpec } from './models/archs.js';

/**
 * `arch/activation/norm` combinations verified by the finite-difference test, from the
 * architecture table's `penaltyVerified` lists: the test checks each of them, so an option added
 * to the CLI is refused here until it is verified.
 */
export const PENALTY_VERIFIED_CRITICS: ReadonlySet<string> = new Set(
  Object.entries(ARCHS).flatMap(([arch, row]) => row.penaltyVerified.map((key) => `${arch}/${key}`)),
);

export function criticKey(arch: string, activation: CriticActivation, norm: CriticNorm): string {
  return `${arch}/${activation}/${norm}`;
}

export function assertCriticSupported(config: Pick<TrainConfig, 'algo' | 'arch' | 'criticActivation' | 'criticNorm'>, verified: ReadonlySet<string> = PENALTY_VERIFIED_CRITICS): void {
  if (config.algo !== 'wgan-gp') return; // only the penalty needs second-order gradients
  archSpec(config.arch);
  const key = criticKey(config.arch, config.criticActivation, config.criticNorm);
  if (!verified.has(key)) {
    const ok = [...verified].filter((k) => k.startsWith(`${config.arch}/`)).map((k) => k.split('/').slice(1).join(' + '));
    throw new InvalidArgumentError(
      '--critic-activation/--critic-norm',
      `${config.criticActivation} + ${config.criticNorm}`,
      `a critic whose gradient-penalty gradient tfjs computes correctly for --arch ${config.arch} with --algo wgan-gp: ${ok.join(', ') || 'none'}`,
    );
  }
}
