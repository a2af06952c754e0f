/**
 * `none`: no refinement. Generator.sample never calls it (it runs the generator on the seeded
 * latents as it always has, bit for bit); it is a row so that every consumer reads one table.
 */
import type { RefineMethod } from './method.js';

export const none: RefineMethod = {
  help: "the generator's output of each sample's own latent, as without refinement",
  params: {},
  graph: null,
  passes: () => 0,
  run: async (rows) => rows.z.slice(),
};
