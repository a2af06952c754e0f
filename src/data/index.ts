/**
 * Data sets shared by training and evaluation: open one by name (a toy, MNIST's training split, or
 * an image folder).
 */
import { InMemoryDataset, type Dataset } from './dataset.js';
import { loadImageFolder, type ResizeMode } from './image-folder.js';
import { loadMnist, MNIST_CLASSES, MNIST_HEIGHT, MNIST_WIDTH, MNIST_CHANNELS } from './mnist.js';
import { isToyDataset, toyDataset } from './toy.js';

export type { Batch, Dataset } from './dataset.js';
export { exampleSize, InMemoryDataset } from './dataset.js';
export { isToyDataset, toyDataset, TOY_DATASETS, TOY_SPECS, type ToyDatasetName } from './toy.js';
export { DEFAULT_HOLDOUT, loadImageFolder, openImageFolder, parseBackground, RESIZE_MODES, type ImageFolder, type ImageFolderOptions, type ResizeMode } from './image-folder.js';
export type { HoldoutInfo } from './dataset.js';

/** MNIST's training split (the held-out split is never opened here). */
export function mnistTrainingSet(): Dataset {
  const { images, labels, count } = loadMnist('train');
  return new InMemoryDataset(
    'mnist',
    [MNIST_HEIGHT, MNIST_WIDTH, MNIST_CHANNELS],
    images,
    labels,
    Array.from({ length: MNIST_CLASSES }, (_, k) => String(k)),
    `MNIST training split (${count} digits; the held-out split is never used for training)`,
  );
}

export interface DatasetRequest {
  /** `ring8`, `grid25`, `swissroll`, `mnist` or an image folder path. */
  dataset: string;
  conditional: boolean;
  /** Image folders: resize to this side. */
  imageSize: number;
  channels: 'auto' | 1 | 3;
  /** Image folders: how images are fitted to the square, the colour under transparency, the held-out split. */
  resize?: ResizeMode;
  background?: string;
  holdout?: number;
  holdoutDir?: string | null;
  strict?: boolean;
}

/** The training split of the data set `config` names; `log` gets status lines (skipped files, cache). */
export async function openDataset(config: DatasetRequest, log?: (line: string) => void, progress = true): Promise<Dataset> {
  if (isToyDataset(config.dataset)) return toyDataset(config.dataset);
  if (config.dataset === 'mnist') return mnistTrainingSet();
  return loadImageFolder(config.dataset, imageFolderOptions(config, log, progress));
}

/** The loader options of an image-folder request. */
export function imageFolderOptions(config: DatasetRequest, log?: (line: string) => void, progress = true) {
  return {
    size: config.imageSize, channels: config.channels, conditional: config.conditional,
    resize: config.resize, background: config.background, holdout: config.holdout, holdoutDir: config.holdoutDir, strict: config.strict,
    log, progress,
  };
}
