/**
 * wganx library API: the core contracts (manifest, counter-based latents, label rule, images,
 * errors). The rest comes in sub-paths: `wganx/runtime` (generators on Node), `wganx/export`
 * (tfjs → ONNX).
 *
 * @example
 *   import { sampleLatents, defaultLabel } from 'wganx';
 *   import { openGenerator } from 'wganx/runtime';
 *   const z = sampleLatents({ seed: 7, start: 0, count: 16, dim: 100 }); // the server's latents for seed 7
 *   const g = await openGenerator('models/mnist-cgan');
 *   const { data, labels } = await g.sample({ seed: 7, n: 16 });
 */
export * from './core/index.js';
export { VERSION } from './version.js';
