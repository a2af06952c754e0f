/**
 * wganx library API. Import the parts you need:
 *
 * @example
 *   import { exportToOnnx } from 'wganx';
 *   const { onnx, manifest } = await exportToOnnx(model, { name: 'ring' });
 */
export * from './core/index.js';
export { VERSION } from './version.js';
