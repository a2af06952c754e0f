/**
 * The container and Kubernetes files (no cluster or Docker here): they parse, every argument they
 * pass is one the command accepts, the Job's completion index becomes `--shard i/k` with k equal
 * to its completions (and the k shards partition the data set), and the Deployment's probes are
 * routes the server answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { AUGMENT_FLAGS } from '../../src/augment/flags.js';
import { Plan } from '../../src/augment/plan.js';
import { parseFlagText, type FlagInput, type FlagTable } from '../../src/core/flags.js';
import { readManifestFile } from '../../src/runtime/model-folder.js';
import { startServer } from '../../src/serve/http/server.js';
import { resolveServeOptions, SERVE_FLAGS, silentLogger } from '../../src/serve/options.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COMMANDS: Record<string, FlagTable> = { serve: SERVE_FLAGS, augment: AUGMENT_FLAGS };

function yamlDocs(file: string): any[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, file), 'utf8'));
  for (const d of docs) assert.deepEqual(d.errors, [], `${file}: ${d.errors.join('; ')}`);
  return docs.map((d) => d.toJS());
}

/** `wganx <command> --flag value …` → the command's typed options, each value checked by its flag table (as the CLI does). */
function parseCommand(args: string[], substitute: (raw: string) => string = (x) => x): { command: string; options: Record<string, unknown> } {
  const [command, ...rest] = args;
  const table = COMMANDS[command];
  assert.ok(table, `a wganx command, not ${command}`);
  const byFlag = new Map(Object.entries(table).map(([key, spec]) => [spec.flag, [key, spec] as const]));
  const options: Record<string, unknown> = {};
  for (let i = 0; i < rest.length; i++) {
    const entry = byFlag.get(rest[i]);
    assert.ok(entry, `wganx ${command} has no flag ${rest[i]}`);
    const [key, spec] = entry;
    if (spec.type === 'boolean') options[key] = true;
    else options[key] = parseFlagText(spec, substitute(rest[++i]));
  }
  return { command, options };
}

function container(doc: any): any {
  assert.equal(doc.spec.template.spec.containers.length, 1);
  return doc.spec.template.spec.containers[0];
}

test('deploy/k8s/augment-job.yaml: an Indexed Job whose completion index is --shard i/k, the k shards partitioning the data set', async () => {
  const docs = yamlDocs('deploy/k8s/augment-job.yaml');
  const job = docs.find((d) => d.kind === 'Job');
  const claim = docs.find((d) => d.kind === 'PersistentVolumeClaim');
  assert.equal(job.apiVersion, 'batch/v1');
  assert.equal(job.spec.completionMode, 'Indexed');
  // Per-index retries need restartPolicy Never; a replacement starts only after the old pod stopped.
  assert.equal(job.spec.template.spec.restartPolicy, 'Never');
  assert.equal(job.spec.podReplacementPolicy, 'Failed');
  const k = job.spec.completions;
  assert.ok(Number.isInteger(k) && k > 1);
  const c = container(job);
  // The shard's index comes from the completion-index annotation, through a declared variable.
  const shardArg = c.args[c.args.indexOf('--shard') + 1];
  const m = /^\$\((\w+)\)\/(\d+)$/.exec(shardArg);
  assert.ok(m, `--shard $(VAR)/k, not ${shardArg}`);
  assert.equal(Number(m[2]), k, '--shard k equals completions');
  const variable = c.env.find((e: any) => e.name === m[1]);
  assert.equal(variable?.valueFrom?.fieldRef?.fieldPath, "metadata.annotations['batch.kubernetes.io/job-completion-index']");
  // The data set goes to the claimed volume.
  const out = c.args[c.args.indexOf('--out') + 1];
  const mount = c.volumeMounts.find((v: any) => out.startsWith(`${v.mountPath}/`));
  assert.ok(mount, `--out ${out} lies on a mounted volume`);
  assert.equal(job.spec.template.spec.volumes.find((v: any) => v.name === mount.name).persistentVolumeClaim.claimName, claim.metadata.name);
  assert.ok(claim.spec.accessModes.includes('ReadWriteMany'), 'every pod mounts the volume');

  // Each index gives a valid command; together the shards own every chunk exactly once.
  const seen: number[] = [];
  for (let index = 0; index < k; index++) {
    const { command, options } = parseCommand(c.args, (raw) => raw.replace(`$(${m[1]})`, String(index)));
    assert.equal(command, 'augment');
    const model = String(options.model);
    assert.ok(existsSync(join(ROOT, model, 'manifest.json')), `${model} is in the image (COPY models)`);
    const { manifest } = await readManifestFile(join(ROOT, model));
    const plan = new Plan({ ...(options as any), format: options.format ?? 'png', seed: options.seed ?? 0, chunk: options.chunk ?? 1000, scale: 1 }, manifest);
    assert.deepEqual(plan.shard, { i: index, k });
    seen.push(...plan.ownedChunks());
    if (index === k - 1) assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: plan.chunks }, (_, j) => j));
  }
});

test('deploy/k8s/serve.yaml: Deployment, Service and autoscaler wired together, probes on routes the server answers', async () => {
  const docs = yamlDocs('deploy/k8s/serve.yaml');
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const service = docs.find((d) => d.kind === 'Service');
  const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler');
  assert.ok(deployment && service && hpa);
  assert.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
  assert.deepEqual(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels);
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
  const c = container(deployment);
  const port = c.ports.find((p: any) => p.name === service.spec.ports[0].targetPort);
  assert.ok(port, 'the Service targets a named container port');
  const { command, options } = parseCommand(c.args);
  assert.equal(command, 'serve');
  assert.equal(options.port, port.containerPort, '--port is the container port');
  for (const probe of [c.readinessProbe, c.livenessProbe]) assert.equal(probe.httpGet.port, port.name);
  assert.equal(c.readinessProbe.httpGet.path, '/v2/health/ready');
  assert.equal(c.livenessProbe.httpGet.path, '/v2/health/live');

  // The server, started with the Deployment's arguments on the bundled models, answers both probes.
  const srv = await startServer(resolveServeOptions({ ...(options as FlagInput<typeof SERVE_FLAGS>), modelsDir: join(ROOT, String(options.modelsDir)), port: 0, host: '127.0.0.1', reloadIntervalMs: 0 }), { logger: silentLogger });
  try {
    for (const probe of [c.readinessProbe, c.livenessProbe]) {
      const res = await fetch(`${srv.url}${probe.httpGet.path}`);
      assert.equal(res.status, 200, probe.httpGet.path);
    }
  } finally {
    await srv.shutdown();
  }
});

test('Dockerfile and Dockerfile.cuda: the files they copy exist, the entry point is the built CLI, the default command is valid', () => {
  const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8'));
  assert.equal(build.compilerOptions.outDir, 'dist');
  assert.equal(build.compilerOptions.rootDir, 'src');
  for (const file of ['Dockerfile', 'Dockerfile.cuda']) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      for (const src of l.split(/\s+/).slice(1, -1)) assert.ok(existsSync(join(ROOT, src)), `${file}: ${src} exists`);
    }
    const json = (instruction: string) => JSON.parse(lines.find((l) => l.startsWith(`${instruction} `))!.slice(instruction.length + 1));
    const entry = json('ENTRYPOINT');
    assert.deepEqual(entry, ['node', 'dist/cli.js']);
    assert.ok(existsSync(join(ROOT, 'src', 'cli.ts')), 'dist/cli.js is built from src/cli.ts');
    const cmd = parseCommand(json('CMD'));
    assert.equal(cmd.command, 'serve');
    assert.ok(existsSync(join(ROOT, String(cmd.options.modelsDir))), `${file}: the default --models folder is copied`);
    // npm ci never fetches onnxruntime-node's CUDA provider (the image's npm 10 knows no allowScripts); the CUDA image fetches it on its own.
    assert.match(lines.find((l) => l.startsWith('RUN ') && l.includes('npm ci'))!, file === 'Dockerfile.cuda' ? /ONNXRUNTIME_NODE_INSTALL=skip npm ci .*&& npm run install:cuda/ : /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
  }
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['node_modules', 'dist', 'runs', '.git']) assert.ok(ignored.includes(p), `.dockerignore: ${p}`);
});
