// ESLint flat config. Besides TypeScript's recommended rules, it enforces the layout of
// docs/architecture.md: what each folder of src/ may import. `npm test` runs it.
import tseslint from 'typescript-eslint';

const ORT = ['onnxruntime-node', 'onnxruntime-node/*', 'onnxruntime-web', 'onnxruntime-web/*', 'onnxruntime-common'];
const ORT_MESSAGE = 'only src/runtime imports ONNX Runtime (node.ts: onnxruntime-node, web.ts: onnxruntime-web); go through src/runtime';

/** `no-restricted-imports` with these package patterns forbidden, each with its reason. */
function forbid(...groups) {
  return { 'no-restricted-imports': ['error', { patterns: groups.map(([group, message]) => ({ group, message })) }] };
}

const ortOutsideRuntime = [ORT, ORT_MESSAGE];
const tfjs = (folder) => [['@tensorflow/*'], `${folder} must not know about TensorFlow.js`];
const express = (folder) => [['express', 'express/*'], `${folder} must not know about express (HTTP belongs to src/serve/http)`];
const node = (folder) => [['node:*', '**/io/*'], `${folder} runs in browsers too: no node:* imports (nor src/io, which is Node-only)`];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'runs/**', 'bench/out/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  // Tests poke at parsed JSON and browser globals.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  // Every folder but src/runtime: no ONNX Runtime.
  { files: ['src/**/*.ts', 'bench/**/*.ts'], ignores: ['src/runtime/**'], rules: forbid(ortOutsideRuntime) },
  {
    files: ['src/core/**/*.ts'],
    rules: forbid(ortOutsideRuntime, tfjs('src/core'), express('src/core'), node('src/core'), [['sharp'], 'src/core must not know about sharp']),
  },
  {
    files: ['src/runtime/**/*.ts'],
    ignores: ['src/runtime/node.ts', 'src/runtime/node-gemm.ts', 'src/runtime/web.ts', 'src/runtime/generator.ts', 'src/runtime/devices.ts', 'src/runtime/session.ts', 'src/runtime/refine/**'],
    rules: forbid([ORT, 'only src/runtime/node.ts and node-gemm.ts import onnxruntime-node and only src/runtime/web.ts imports onnxruntime-web'], tfjs('src/runtime'), express('src/runtime')),
  },
  {
    files: ['src/runtime/node.ts', 'src/runtime/node-gemm.ts'],
    rules: forbid([['onnxruntime-web', 'onnxruntime-web/*'], 'onnxruntime-web belongs to src/runtime/web.ts'], tfjs('src/runtime'), express('src/runtime')),
  },
  {
    files: ['src/runtime/web.ts', 'src/runtime/generator.ts', 'src/runtime/devices.ts', 'src/runtime/session.ts', 'src/runtime/refine/**/*.ts', 'src/web/**/*.ts'],
    rules: forbid([['onnxruntime-node', 'onnxruntime-node/*'], 'onnxruntime-node belongs to src/runtime/node.ts'], node('browser code'), tfjs('browser code'), express('browser code')),
  },
  { files: ['src/data/**/*.ts'], rules: forbid(ortOutsideRuntime, express('src/data')) },
  { files: ['src/train/**/*.ts', 'src/tfjs/**/*.ts'], rules: forbid(ortOutsideRuntime, express('src/train and src/tfjs')) },
  { files: ['src/export/**/*.ts', 'src/eval/**/*.ts'], rules: forbid(ortOutsideRuntime, express('this folder')) },
  { files: ['src/augment/**/*.ts'], rules: forbid(ortOutsideRuntime, tfjs('src/augment'), express('src/augment')) },
  { files: ['src/serve/**/*.ts'], rules: forbid(ortOutsideRuntime, tfjs('src/serve')) },
  { files: ['src/serve/engine/**/*.ts'], rules: forbid(ortOutsideRuntime, tfjs('src/serve'), express('the engine')) },
  { files: ['src/encode/**/*.ts', 'src/io/**/*.ts'], rules: forbid(ortOutsideRuntime, tfjs('src/encode and src/io'), express('src/encode and src/io')) },
);
