/** What several format writers share: the sample hash and the archives' fixed timestamp. */
import { createHash } from 'node:crypto';

/** The timestamp of every zip and tar entry: fixed, so that archives are byte-identical run to run. */
export const ARCHIVE_TIME = new Date(Date.UTC(2000, 0, 1));

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The labels of a chunk when every sample has one (a conditional model), else null. */
export const chunkLabels = (labels: readonly (number | null)[]): number[] | null => (labels.every((l) => l !== null) ? (labels as number[]) : null);
