/**
 * Which critics the gradient penalty is known to differentiate correctly.
 *
 * tfjs can return a wrong second-order gradient without any error (see src/tfjs/gradients.ts), so every
 * critic the trainer offers to WGAN-GP is listed here only after test/train/penalty-gradient.test.ts
 * has checked the penalty's gradient w.r.t. every critic weight against central finite
 * differences. Anything else is refused before training starts.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { Architecture, CriticActivation, CriticNorm, TrainConfig } from './config.js';

/**
 * `arch/activation/norm` combinations verified by the finite-difference test, written out: the
 * test checks each of them, so an option added to the CLI is refused here until it is verified.
 */
export const PENALTY_VERIFIED_CRITICS: ReadonlySet<string> = new Set([
  'mlp/leaky_relu/none', 'mlp/leaky_relu/layer', 'mlp/relu/none', 'mlp/relu/layer', 'mlp/tanh/none', 'mlp/tanh/layer',
  'dcgan/leaky_relu/none', 'dcgan/leaky_relu/layer', 'dcgan/relu/none', 'dcgan/relu/layer', 'dcgan/tanh/none', 'dcgan/tanh/layer',
]);

export function criticKey(arch: Architecture, activation: CriticActivation, norm: CriticNorm): string {
  return `${arch}/${activation}/${norm}`;
}

export function assertCriticSupported(config: Pick<TrainConfig, 'algo' | 'arch' | 'criticActivation' | 'criticNorm'>, verified: ReadonlySet<string> = PENALTY_VERIFIED_CRITICS): void {
  if (config.algo !== 'wgan-gp') return; // only the penalty needs second-order gradients
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
