/**
 * What the layer converters (./layers.ts, ./critic-layers.ts) read from a tfjs layer: its config,
 * an `[h, w]` pair, the channels-last check, and the refusal that names the layer.
 */
import type * as tf from '@tensorflow/tfjs';
import { UnsupportedLayerError } from '../core/errors.js';

export type Config = Record<string, unknown>;

export function unsupported(layer: tf.layers.Layer, detail: string): never {
  throw new UnsupportedLayerError(layer.name, layer.getClassName(), detail);
}

export function config(layer: tf.layers.Layer): Config {
  return layer.getConfig() as Config;
}

export function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)];
}

export function requireChannelsLast(layer: tf.layers.Layer, cfg: Config): void {
  if (cfg.dataFormat != null && cfg.dataFormat !== 'channelsLast') unsupported(layer, `dataFormat "${String(cfg.dataFormat)}" (only channelsLast)`);
}
