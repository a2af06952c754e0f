import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest, imageShape, InvalidArgumentError, type ManifestInput } from '../../src/core/index.js';

const valid = (): ManifestInput => ({
  schemaVersion: 1,
  name: 'digits',
  version: '1',
  kind: 'image',
  latent: { dim: 16, distribution: 'normal' },
  conditional: { numClasses: 2, labels: ['a', 'b'] },
  inputs: [
    { name: 'z', dtype: 'float32', shape: ['batch', 16], role: 'latent' },
    { name: 'label', dtype: 'int64', shape: ['batch', 1], role: 'label' },
  ],
  outputs: [{ name: 'samples', dtype: 'float32', shape: ['batch', 28, 28, 1] }],
  output: { layout: 'NHWC', range: [-1, 1] },
  export: { tool: 'wganx@0.1.0', opset: 17, createdAt: '2026-01-01T00:00:00Z', sha256: null, parity: { maxAbsDiff: { '1': 1e-7 }, tolerance: 1e-4, inputsSeed: 1 } },
});

test('a valid manifest parses, with defaults filled in', () => {
  const m = parseManifest(valid());
  assert.equal(m.description, '');
  assert.equal(m.training, null);
  assert.equal(m.export.file, 'generator.onnx');
  assert.equal(m.export.fp16, null);
  assert.deepEqual(imageShape(m), [28, 28, 1]);
});

test('errors name the field path, the value and the rule', () => {
  const bad = (mutate: (m: any) => void) => {
    const m = valid();
    mutate(m);
    return () => parseManifest(m, 'models/x/manifest.json');
  };
  assert.throws(bad((m) => (m.name = '../etc')), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'models/x/manifest.json.name' && e.value === '../etc');
  assert.throws(bad((m) => (m.latent.dim = 0)), /manifest.json.latent.dim: 0 is not allowed/);
  assert.throws(bad((m) => (m.kind = 'audio')), /kind: "audio" is not allowed/);
  assert.throws(bad((m) => (m.conditional = null)), /inputs: .* a conditional model has exactly one "label" input/);
  assert.throws(bad((m) => (m.conditional.labels = ['a'])), /conditional: .* labels must have numClasses entries/);
  assert.throws(bad((m) => (m.output.layout = 'NC')), /output.layout: "NC" is not allowed; expected image models use NHWC/);
  assert.throws(bad((m) => (m.export.sha256 = 'xyz')), /export.sha256: "xyz"/);
  // Schema defaults read as what is allowed, not as the validation library's sentences.
  assert.throws(bad((m) => (m.kind = 'audio')), /kind: "audio" is not allowed; expected one of "image", "points"$/);
  assert.throws(bad((m) => (m.version = 11)), /version: 11 is not allowed; expected a string$/);
  assert.throws(bad((m) => delete m.export.sha256), /export.sha256 is missing; expected a string$/);
  assert.throws(bad((m) => (m.latent.dim = 0)), /latent.dim: 0 is not allowed; expected more than 0$/);
  assert.throws(bad((m) => (m.outputs[0].shape[0] = true)), /outputs.0.shape.0: true is not allowed; expected a number or a string$/);
  assert.throws(bad((m) => (m.conditional.labels = ['a', 'a'])), /conditional.labels: \["a","a"\] is not allowed; expected class names that differ/);
});

const critic = (conditional = true) => ({
  file: 'critic.onnx',
  sha256: 'a'.repeat(64),
  inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 28, 28, 1] }, ...(conditional ? [{ name: 'label', dtype: 'int64', shape: ['batch', 1] }] : [])],
  outputs: [{ name: 'score', dtype: 'float32', shape: ['batch', 1] }, { name: 'logits', dtype: 'float32', shape: ['batch', 2] }],
  parity: { maxAbsDiff: { '1': 2e-7, '64': 3e-7 }, tolerance: 1e-4, inputsSeed: 1 },
});

test('the critic entry is optional: a manifest without it parses to critic null; one with it round-trips (refine defaults to null)', () => {
  const old = parseManifest(valid());
  assert.equal(old.critic, null);
  assert.deepEqual(parseManifest(JSON.parse(JSON.stringify(old))), old);
  const m = parseManifest({ ...valid(), critic: critic() });
  assert.equal(m.critic?.refine, null);
  assert.deepEqual(m.critic?.inputs.map((i) => i.name), ['x', 'label']);
  assert.deepEqual(parseManifest(JSON.parse(JSON.stringify(m))), m);
  const refine = { file: 'refine.onnx', sha256: null, outputs: [{ name: 'samples', dtype: 'float32', shape: ['batch', 28, 28, 1] }], gradientCheck: { maxAbsDiff: 1e-6, tolerance: 1e-3 } };
  const r = parseManifest({ ...valid(), critic: { ...critic(), refine } });
  assert.deepEqual(r.critic?.refine, refine);
  assert.deepEqual(parseManifest(JSON.parse(JSON.stringify(r))), r);
});

test('a critic entry that breaks the contract is refused naming the field', () => {
  const bad = (entry: unknown, m = valid()) => () => parseManifest({ ...m, critic: entry }, 'manifest.json');
  assert.throws(bad(critic(false)), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'manifest.json.critic.inputs' && /\["x","label"\]/.test(e.message));
  assert.throws(bad({ ...critic(), outputs: [{ name: 'logits', dtype: 'float32', shape: ['batch', 2] }] }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'manifest.json.critic.outputs' && /"score"/.test(e.message));
  assert.throws(bad({ ...critic(), sha256: 'xyz' }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'manifest.json.critic.sha256');
  assert.throws(bad({ ...critic(), parity: undefined }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'manifest.json.critic.parity');
  const unconditional = { ...valid(), conditional: null, inputs: [valid().inputs[0]] };
  assert.equal(parseManifest({ ...unconditional, critic: critic(false) }).critic?.inputs.length, 1);
  assert.throws(bad(critic(true), unconditional), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'manifest.json.critic.inputs' && /\["x"\]/.test(e.message));
});
