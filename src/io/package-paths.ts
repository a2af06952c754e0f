/**
 * Paths inside the installed wganx package, so that defaults naming shipped files (the bundled
 * models, the MNIST evaluator) resolve there and not in the working directory: a project that
 * depends on wganx runs in its own folder, with wganx under node_modules.
 *
 * @example
 *   join(BUNDLED_MODELS_DIR, 'mnist-evaluator') // …/node_modules/wganx/models/mnist-evaluator
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's folder: this file is src/io/package-paths.ts (tsx) or dist/io/package-paths.js (built), two levels below it. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The models that ship with the package (`models/` in the repository and in the npm tarball). */
export const BUNDLED_MODELS_DIR = join(PACKAGE_ROOT, 'models');
