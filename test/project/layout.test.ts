/**
 * The layout of docs/architecture.md, checked on the source: which folders of src/ import which,
 * with no cycle between folders, and ONNX Runtime imported only by src/runtime (node.ts and web.ts).
 * ESLint (eslint.config.js) enforces the per-folder import bans; cycles are checked here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { ROOT, SRC, tsFiles } from './helpers.js';

const files = tsFiles;

/** Top-level unit of a source file: its folder under src/ (`cli.ts` and the like count as themselves). */
function unit(file: string): string {
  return relative(SRC, file).split(sep)[0];
}

/** Static and dynamic imports of a file, as written. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  // import … from 'x', import('x'), and require('x') (CommonJS packages loaded through createRequire).
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

const sources = files(SRC);

/** Folder → folders it imports (relative imports only). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const f of sources) {
    const from = unit(f);
    for (const spec of imports(f)) {
      if (!spec.startsWith('.')) continue;
      const to = unit(resolve(dirname(f), spec));
      if (to !== from && !to.startsWith('..')) {
        if (!graph.has(from)) graph.set(from, new Set());
        graph.get(from)!.add(to);
      }
    }
  }
  return graph;
}

test('no import cycle between the folders of src/', () => {
  const graph = folderGraph();
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, path: string[]) => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
      return;
    }
    state.set(node, 'open');
    for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});

test('the core depends on nothing else in src/; the runtime only on the core (and Node helpers in node.ts)', () => {
  const graph = folderGraph();
  assert.deepEqual([...(graph.get('core') ?? [])].filter((t) => t !== 'version.ts'), []);
  assert.deepEqual([...(graph.get('runtime') ?? [])].sort(), ['core', 'io']);
  const ioImporters = sources.filter((f) => f.includes('/src/runtime/') && imports(f).some((s) => s.startsWith('../io/'))).map((f) => relative(ROOT, f));
  assert.deepEqual(ioImporters, ['src/runtime/node.ts']);
});

test('only src/runtime/node.ts (sessions) and node-gemm.ts (training products) import onnxruntime-node and only src/runtime/web.ts imports onnxruntime-web', () => {
  const importers = (pkg: string) => sources.filter((f) => imports(f).some((s) => s === pkg || s.startsWith(`${pkg}/`))).map((f) => relative(ROOT, f));
  assert.deepEqual(importers('onnxruntime-node'), ['src/runtime/node-gemm.ts', 'src/runtime/node.ts']);
  assert.deepEqual(importers('onnxruntime-web'), ['src/runtime/web.ts']);
});

test('browser code imports nothing from node:*', () => {
  const browser = sources.filter((f) => /src\/(core|web)\//.test(f) || /src\/runtime\/((web|generator|devices|session)\.ts|refine\/)/.test(f));
  const offenders = browser.filter((f) => imports(f).some((s) => s.startsWith('node:'))).map((f) => relative(ROOT, f));
  assert.deepEqual(offenders, []);
});
