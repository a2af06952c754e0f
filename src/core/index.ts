/**
 * wganx/core: the types and pure functions shared by every module, in Node and in browsers alike
 * (no `node:*` imports, no runtime libraries but zod).
 */
export * from './errors.js';
export * from './latent.js';
export * from './manifest.js';
export * from './image.js';
export * from './labels.js';
export * from './seeded.js';
export * from './random.js';
