/** The device tables and the one resolution rule shared by Node and browsers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { DeviceUnavailableError, NODE_DEVICES, resolveDevice, WEB_DEVICES } from '../../src/runtime/devices.js';

test('tables: Node tries cuda, webgpu, cpu; browsers webgpu, wasm; a Node GPU session lists the CPU provider, a browser WebGPU session WebGPU alone (so a failed WebGPU start is refused, not silently WASM)', () => {
  assert.deepEqual(Object.keys(NODE_DEVICES), ['cuda', 'webgpu', 'cpu']);
  assert.deepEqual(Object.keys(WEB_DEVICES), ['webgpu', 'wasm']);
  assert.deepEqual(NODE_DEVICES.webgpu, ['webgpu', 'cpu']);
  assert.deepEqual(WEB_DEVICES.webgpu, ['webgpu']);
  assert.ok(Object.isFrozen(NODE_DEVICES) && Object.isFrozen(NODE_DEVICES.cuda));
});

test('auto takes the first device the probe accepts and keeps every refusal with its reason', async () => {
  const probed: string[] = [];
  const probe = async (d: string) => {
    probed.push(d);
    return d === 'cpu' ? null : `no ${d} here`;
  };
  const choice = await resolveDevice(NODE_DEVICES, 'auto', probe);
  assert.deepEqual(probed, ['cuda', 'webgpu', 'cpu']);
  assert.equal(choice.device, 'cpu');
  assert.deepEqual(choice.providers, ['cpu']);
  assert.deepEqual(choice.refused, [{ device: 'cuda', reason: 'no cuda here' }, { device: 'webgpu', reason: 'no webgpu here' }]);
  const web = await resolveDevice(WEB_DEVICES, 'auto', async () => null);
  assert.deepEqual([web.device, web.providers, web.refused], ['webgpu', ['webgpu'], []]);
});

test('an auto-only refusal skips the probe; an explicit request of the same device probes it', async () => {
  const probed: string[] = [];
  const probe = async (d: string) => (probed.push(d), null);
  const autoRefusal = (d: string) => (d === 'webgpu' ? 'software adapter' : null);
  const auto = await resolveDevice(WEB_DEVICES, 'auto', probe, { autoRefusal });
  assert.deepEqual([auto.device, auto.refused], ['wasm', [{ device: 'webgpu', reason: 'software adapter' }]]);
  assert.deepEqual(probed, ['wasm']);
  assert.equal((await resolveDevice(WEB_DEVICES, 'webgpu', probe, { autoRefusal })).device, 'webgpu');
});

test('an explicit device that cannot run fails naming the flag and the reason; an unknown device names the choices', async () => {
  await assert.rejects(resolveDevice(NODE_DEVICES, 'cuda', async () => 'library missing'), (e: unknown) => e instanceof DeviceUnavailableError && e.message === '--device cuda is unavailable: library missing');
  await assert.rejects(resolveDevice(WEB_DEVICES, 'gpu', async () => null, { field: 'device' }), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.field, 'device');
    assert.equal(e.value, 'gpu');
    assert.equal(e.allowed, 'one of auto, webgpu, wasm');
    return true;
  });
  await assert.rejects(resolveDevice(NODE_DEVICES, 'auto', async (d) => `no ${d}`), /no device is usable: cuda: no cuda; webgpu: no webgpu; cpu: no cpu/);
});
