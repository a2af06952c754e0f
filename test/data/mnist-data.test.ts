import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMnist, mnistClassSizes, MNIST_PIXELS, MNIST_TRAIN_PER_CLASS, MNIST_CLASSES } from '../../src/data/mnist.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

/** FNV-1a hash of one image's bytes, to compare images across splits without storing copies. */
function imageKey(images: Float32Array, i: number): string {
  const bytes = new Uint8Array(images.buffer, images.byteOffset + i * MNIST_PIXELS * 4, MNIST_PIXELS * 4);
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16);
}

test('train and held-out splits have the documented sizes, shapes, labels and value range', () => {
  const train = loadMnist('train');
  const held = loadMnist('heldout');
  const sizes = mnistClassSizes();
  assert.equal(sizes.reduce((a, b) => a + b, 0), 10000);
  assert.equal(train.count, 8000);
  assert.equal(held.count, 2000);
  assert.equal(train.images.length, train.count * 28 * 28 * 1);
  assert.equal(held.images.length, held.count * 28 * 28 * 1);
  assert.equal(train.labels.length, train.count);
  for (const split of [train, held]) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of split.images) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    assert.equal(lo, -1);
    assert.equal(hi, 1);
  }
  const perClass = (labels: Int32Array) => {
    const c = new Array(MNIST_CLASSES).fill(0);
    for (const l of labels) c[l]++;
    return c;
  };
  assert.deepEqual(perClass(train.labels), new Array(10).fill(MNIST_TRAIN_PER_CLASS));
  assert.deepEqual(perClass(held.labels), sizes.map((n) => n - MNIST_TRAIN_PER_CLASS));
});

test('splits are disjoint, together complete, deterministic and cached', () => {
  const train = loadMnist('train');
  const held = loadMnist('heldout');
  // Disjoint by position: the loader takes indices < 800 per class for train, ≥ 800 for held-out, so
  // an image appearing in both would have to be a duplicate in the package itself. Check by content
  // that no held-out image equals a training image of the same class.
  const trainKeys = new Set<string>();
  for (let i = 0; i < train.count; i++) trainKeys.add(`${train.labels[i]}:${imageKey(train.images, i)}`);
  let shared = 0;
  for (let i = 0; i < held.count; i++) if (trainKeys.has(`${held.labels[i]}:${imageKey(held.images, i)}`)) shared++;
  assert.equal(shared, 0);
  // Complete: every digit of the package is in exactly one split.
  assert.equal(train.count + held.count, mnistClassSizes().reduce((a, b) => a + b, 0));
  assert.equal(loadMnist('train'), train, 'second call returns the cached object');
});

test('an unknown split is refused with the allowed values', () => {
  assert.throws(() => loadMnist('test' as never), (e: unknown) => e instanceof InvalidArgumentError && /train, heldout/.test(e.message));
});
