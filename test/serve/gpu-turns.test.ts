/** Turns on the shared WebGPU device: one session's runs may pipeline, sessions never overlap, FIFO between them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GpuTurns } from '../../src/serve/engine/gpu-turns.js';

/** Acquire and record the order in which grants arrive. */
function tracker(turns: GpuTurns<string>) {
  const granted: string[] = [];
  const ask = (key: string, tag = key) => turns.acquire(key).then(() => granted.push(tag));
  return { granted, ask };
}

const tick = () => new Promise((r) => setImmediate(r));

test('the holder may queue several runs; another session waits until all of them are released', async () => {
  const turns = new GpuTurns<string>();
  const { granted, ask } = tracker(turns);
  void ask('a', 'a1');
  void ask('a', 'a2');
  void ask('b', 'b1');
  await tick();
  assert.deepEqual(granted, ['a1', 'a2']);
  assert.equal(turns.inFlight, 2);
  turns.release();
  await tick();
  assert.deepEqual(granted, ['a1', 'a2'], 'b must not start while a run of a is still in flight');
  turns.release();
  await tick();
  assert.deepEqual(granted, ['a1', 'a2', 'b1']);
  assert.equal(turns.inFlight, 1);
});

test('once another session waits, the holder\'s new runs queue behind it (no starvation)', async () => {
  const turns = new GpuTurns<string>();
  const { granted, ask } = tracker(turns);
  void ask('a', 'a1');
  void ask('b', 'b1');
  void ask('a', 'a2'); // a holds the turn, but b asked first
  void ask('b', 'b2');
  await tick();
  assert.deepEqual(granted, ['a1']);
  turns.release(); // a1 done → b1 (b2 waits behind a2, which asked before it)
  await tick();
  assert.deepEqual(granted, ['a1', 'b1']);
  turns.release(); // b1 done → a2
  await tick();
  assert.deepEqual(granted, ['a1', 'b1', 'a2']);
  turns.release();
  await tick();
  assert.deepEqual(granted, ['a1', 'b1', 'a2', 'b2']);
  turns.release();
  assert.equal(turns.inFlight, 0);
});

test('a new holder is granted every run it has waiting in a row', async () => {
  const turns = new GpuTurns<string>();
  const { granted, ask } = tracker(turns);
  void ask('a', 'a1');
  void ask('b', 'b1');
  void ask('b', 'b2');
  void ask('c', 'c1');
  await tick();
  turns.release();
  await tick();
  assert.deepEqual(granted, ['a1', 'b1', 'b2']);
  assert.equal(turns.inFlight, 2);
  turns.release();
  turns.release();
  await tick();
  assert.deepEqual(granted, ['a1', 'b1', 'b2', 'c1']);
});

test('release without a grant is a programming error', () => {
  assert.throws(() => new GpuTurns<string>().release(), /without a granted turn/);
});

test('extend keeps the holder\'s turn past its runs, ahead of a waiting session (an abandoned thread still inside its run); only the holder may', async () => {
  const turns = new GpuTurns<string>();
  const { granted, ask } = tracker(turns);
  void ask('a', 'a1');
  void ask('b', 'b1');
  await tick();
  assert.equal(turns.extend('b'), false, 'b does not hold the turn');
  assert.equal(turns.extend('a'), true);
  turns.release(); // a1's run failed (abandoned): its thread is still busy
  await tick();
  assert.deepEqual(granted, ['a1'], 'b waits until the abandoned thread is free');
  turns.release(); // the thread said it is free
  await tick();
  assert.deepEqual(granted, ['a1', 'b1']);
});
