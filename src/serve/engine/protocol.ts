/**
 * Messages between the engine (main thread) and an ONNX Runtime worker thread.
 *
 * A batch is a list of segments, each a run of consecutive rows: either seeded (the worker draws
 * the latents with the core's `seededSamples`, so the event loop never does) or raw latents given by
 * a client (KServe, interpolation). Labels come per row. Buffers are transferred, never copied.
 *
 * With a latent thread (GPU sessions), the segments go to ./latent-worker.ts instead, which sends
 * the batch's latent matrix straight to the session's worker over a MessageChannel; the `run`
 * message then carries `segments: null`.
 *
 * A refined batch (`refine` set: issue 35) holds rows of one request alone, as one seeded
 * segment; the worker refines their latents with the runtime's own function
 * (`Generator.refineLatents`, on the critic.onnx / refine.onnx sessions it opens on first need),
 * then runs the generator on them: what `Generator.sample` does for the same rows.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Manifest } from '../../core/manifest.js';
import type { SamplingModel } from '../../core/seeded.js';
import type { DeviceChoice, NodeDevice } from '../../runtime/devices.js';
import type { ResolvedRefine } from '../../runtime/refine/index.js';

export type Segment = { kind: 'seeded'; seed: number; start: number; count: number } | { kind: 'raw'; z: Float32Array };

/** The critic's graphs of a model folder (critic.onnx, refine.onnx), each null when the folder has none. */
export interface CriticBytes {
  critic: Uint8Array | null;
  refine: Uint8Array | null;
}

export type WorkerRequest =
  | { type: 'load'; model: Uint8Array; graphs: CriticBytes; manifest: Manifest; device: DeviceChoice<NodeDevice>; threads: number; label: string; latents: MessagePort | null }
  /** Whether a device can run on this thread (src/runtime/node.ts's probe); answered with `probed`. */
  | { type: 'probe'; device: NodeDevice }
  /** `refine`: refine the rows first (then `segments` is one seeded segment). */
  | { type: 'run'; id: number; rows: number; segments: Segment[] | null; labels: Int32Array | null; refine?: ResolvedRefine }
  /**
   * A refined batch's request failed (timed out, its client went away): the worker stops its
   * refinement before the next critic run (handled at once, not after the runs queued before it);
   * the run is answered with an error.
   */
  | { type: 'cancel'; id: number }
  /** Release the session (after the runs posted before it); answered with `closed`. */
  | { type: 'close' }
  /**
   * The session was given up (a batch ran far too long): the runs queued behind the one in
   * progress are skipped (answered with an error), refinements stop at their next critic run, and
   * the session is released as soon as the thread is free; answered with `closed`.
   */
  | { type: 'abandon' };

export type WorkerResponse =
  | { type: 'loaded'; inputNames: string[]; outputNames: string[] }
  | { type: 'result'; id: number; data: Float32Array; dims: number[]; computeMs: number }
  | { type: 'error'; id: number | null; message: string }
  | { type: 'closed' }
  | { type: 'probed'; reason: string | null };

/** Main thread → latent worker. */
export type LatentRequest =
  | { type: 'init'; port: MessagePort; model: SamplingModel }
  | { type: 'sample'; id: number; rows: number; segments: Segment[] };

/** Latent worker → session worker: one batch's latents, `rows × dim` floats. */
export type LatentResponse = { id: number; z: Float32Array } | { id: number; error: string };
