/**
 * Where an augmentation data set's samples come from: the runtime's generator on this machine
 * (src/runtime/node.ts), or a server that serves the model (./remote.ts). Either way the latents
 * and classes are drawn here, from the seed, so both give the same files. A local source also
 * refines them by the model's critic when asked (`--refine`: src/runtime/refine).
 */
import type { Manifest } from '../core/manifest.js';

export interface SampleSource {
  readonly manifest: Manifest;
  /** sha256 of the ONNX file the samples come from (null when the server does not say). */
  readonly sha256: string | null;
  /** Where the samples are computed, for the log (`cpu`, `http://gpu-box:8080`). */
  readonly where: string;
  /**
   * Outputs (row-major, rows × row size) for latents `z` ([rows, dim]) and one class per row: row r
   * is sample `indices[r]` of `seed` (what a refinement's noise depends on).
   */
  run(z: Float32Array, labels: Int32Array | null, rows?: { seed: number; indices: readonly number[] }): Promise<{ data: Float32Array; rowShape: number[] }>;
  close(): Promise<void>;
}
