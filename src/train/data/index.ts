/**
 * Open the data set a {@link TrainConfig} names: a toy, MNIST (training split only) or an image folder.
 */
import type { TrainConfig } from '../config.js';
import { isToyDataset } from '../config.js';
import { InMemoryDataset, type Dataset } from './dataset.js';
import { loadImageFolder } from './image-folder.js';
import { loadMnist, MNIST_CLASSES, MNIST_HEIGHT, MNIST_WIDTH, MNIST_CHANNELS } from './mnist.js';
import { toyDataset } from './toy.js';

export type { Batch, Dataset } from './dataset.js';
export { exampleSize, InMemoryDataset } from './dataset.js';
export { toyDataset, TOY_SPECS } from './toy.js';
export { loadImageFolder } from './image-folder.js';

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

export async function openDataset(config: Pick<TrainConfig, 'dataset' | 'conditional' | 'imageSize' | 'channels'>): Promise<Dataset> {
  if (isToyDataset(config.dataset)) return toyDataset(config.dataset);
  if (config.dataset === 'mnist') return mnistTrainingSet();
  return loadImageFolder(config.dataset, { size: config.imageSize, channels: config.channels, conditional: config.conditional });
}
