/**
 * The short report written at the end of a run (`<out>/report.md`) and printed to stdout.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BackendInfo } from '../tfjs/backend.js';
import type { TrainConfig } from './config.js';
import type { MetricsRecord } from './metrics-log.js';
import { archSpec } from './models/archs.js';

/** The final W estimate and losses are averaged over this many last logged steps (they are noisy). */
export const FINAL_WINDOW = 100;

export interface RunSummary {
  config: TrainConfig;
  backend: BackendInfo;
  datasetDescription: string;
  stepsDone: number;
  seconds: number;
  records: readonly MetricsRecord[];
  files: Record<string, string>;
  exportDir: string | null;
  quality: Record<string, unknown> | null;
  notes: string[];
}

export function finalMeans(records: readonly MetricsRecord[]): { w: number; criticLoss: number; generatorLoss: number; penalty: number | null } | null {
  const tail = records.slice(-FINAL_WINDOW);
  if (tail.length === 0) return null;
  const mean = (f: (r: MetricsRecord) => number | null) => {
    const v = tail.map(f).filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  return { w: mean((r) => r.w)!, criticLoss: mean((r) => r.criticLoss)!, generatorLoss: mean((r) => r.generatorLoss)!, penalty: mean((r) => r.penalty) };
}

function fmt(x: number | null | undefined, digits = 4): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

export function formatSummary(s: RunSummary): string {
  const c = s.config;
  const fin = finalMeans(s.records);
  const first = s.records.slice(0, FINAL_WINDOW);
  const firstW = first.length ? first.reduce((a, r) => a + r.w, 0) / first.length : null;
  const lines = [
    `# wganx train: ${c.name}`,
    '',
    `- command: \`${c.command}\``,
    `- data: ${c.dataset} — ${s.datasetDescription}`,
    `- algorithm: ${c.algo} (${c.optimizer}, lr ${c.lr}${c.optimizer === 'adam' ? `, β1 ${c.beta1}, β2 ${c.beta2}` : `, α ${c.beta2}`}${c.algo === 'wgan-gp' ? `, λ ${c.lambda}` : ''}${c.algo === 'wgan' ? `, clip ${c.clip}` : ''}, n_critic ${c.nCritic}${c.warmupCritic ? ' with warm-up' : ''}, lr schedule ${c.lrSchedule})`,
    `- nets: ${c.arch}${c.conditional ? ` conditional (G ${archSpec(c.arch).generatorConditioning ?? c.gCond}, D ${c.dCond}${c.acWeight > 0 ? `, classifier head: weight ${c.acWeight} in D, ${c.acWeightG} in G` : ''})` : ''}, hidden ${c.hidden}${c.arch === 'mlp' ? ` × ${c.layers} layers` : ''}${c.gNorm === 'batch' ? ', G batch norm' : ''}, critic ${c.criticActivation}${c.criticNorm === 'layer' ? ' + layer norm' : ''}, latent ${c.latent}, batch ${c.batch}${c.dataScale !== 1 ? `, data × ${c.dataScale} inside training` : ''}${c.ema > 0 ? `, exported G = weight average (decay ${c.ema})` : ''}`,
    `- backend: ${s.backend.name} (${s.backend.reason})`,
    `- steps: ${s.stepsDone} generator updates in ${s.seconds.toFixed(1)} s (${(s.stepsDone / Math.max(s.seconds, 1e-9)).toFixed(2)} steps/s, seed ${c.seed})`,
    `- W estimate: ${fmt(firstW)} over the first ${first.length} steps → ${fmt(fin?.w)} over the last ${Math.min(FINAL_WINDOW, s.records.length)}`,
    `- final losses (mean of last ${Math.min(FINAL_WINDOW, s.records.length)}): critic ${fmt(fin?.criticLoss)}, generator ${fmt(fin?.generatorLoss)}${fin?.penalty != null ? `, penalty ${fmt(fin.penalty, 5)}` : ''}`,
  ];
  if (s.quality) lines.push(`- quality: ${Object.entries(s.quality).filter(([k]) => !['evaluatedAt'].includes(k)).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')}`);
  lines.push(`- exported model: ${s.exportDir ?? 'none'}`);
  for (const [what, file] of Object.entries(s.files)) lines.push(`- ${what}: ${file}`);
  for (const n of s.notes) lines.push(`- note: ${n}`);
  return lines.join('\n') + '\n';
}

export async function writeReport(outDir: string, s: RunSummary): Promise<string> {
  const file = path.join(outDir, 'report.md');
  await writeFile(file, formatSummary(s));
  return file;
}
