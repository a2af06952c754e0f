/**
 * bench:overload — what a server under overload still serves. `wganx serve --max-queue 16` gets
 * KServe v2 requests for the bundled `ring` model at a concurrency below the queue limit (c=8) and
 * far above it (c=256), from autocannon in a child process (bench/overload-load.ts). Requests
 * beyond the queue limit are refused with 503: the question is whether refusing them costs the
 * requests that can be served (it did, when every refused body was read and parsed first).
 *
 * For each concurrency it reports admitted (2xx) and shed (503) requests per second and the p50 /
 * p99 latency of the admitted requests alone (a 503 at admission is answered in well under a
 * millisecond and would hide the wait of the served ones), and then issue 34's two targets:
 * admitted/s at c=256 ≥ 0.8 × c=8's, and p99 of admitted requests at c=256 ≤ 2 × c=8's.
 *
 * With `--base <dir>` (another checkout of wganx, e.g. a `git worktree` of an older commit, with
 * node_modules), the same load runs against a server started from that code too, in interleaved
 * rounds: the before/after of a change in one run. Each server is the real CLI in its own process.
 *
 * The load generator and the server each run pinned to a core of their own (`taskset -c`: the
 * server on `--server-cpu`, default 0, autocannon on `--load-cpu`, default 1), so that at high
 * concurrency the client's own work does not take the server's core: on two shared cores the
 * c=256 figure measured the two fighting. `--no-pin` runs them unpinned (also where `taskset` or
 * a second core is missing; the header says which). Measure on a quiet machine: anything else on
 * those cores counts against the server.
 *
 *   npm run bench:overload [-- --base /tmp/wt-base --rounds 3 --duration 5 --low-concurrency 8 --concurrency 256 --max-queue 16 --server-cpu 0 --load-cpu 1]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './common.js';
import type { LoadFigures } from './overload-load.js';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    'low-concurrency': { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '256' },
    'max-queue': { type: 'string', default: '16' },
    models: { type: 'string', default: 'models' },
    'server-cpu': { type: 'string', default: '0' },
    'load-cpu': { type: 'string', default: '1' },
    'no-pin': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const DURATION_S = Number(args.duration);
const HIGH = Number(args.concurrency);
const MAX_QUEUE = Number(args['max-queue']);
const LOW = Number(args['low-concurrency']); // below the queue limit: nothing is refused
/** Issue 34's targets for c=HIGH against c=LOW: admitted/s kept, and the p99 of admitted requests. */
const TARGET_KEPT = 0.8;
const TARGET_P99 = 2;
for (const [flag, v] of [['--rounds', ROUNDS], ['--duration', DURATION_S], ['--low-concurrency', LOW], ['--concurrency', HIGH], ['--max-queue', MAX_QUEUE]] as const) {
  if (!(Number.isFinite(v) && v > 0)) throw new Error(`${flag} must be a positive number, not ${v}`);
}
const HERE = dirname(fileURLToPath(import.meta.url));
const LOAD = join(HERE, 'overload-load.ts');
const MODELS = resolve(args.models!);
const BODY = JSON.stringify({ inputs: [{ name: 'z', shape: [1, 2], datatype: 'FP32', data: [0.1, -0.2] }] });

/** `taskset -c <cpu>` before a command, when pinning is possible and wanted. */
const PIN = !args['no-pin'] && cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (cpu: string, command: string, argv: string[]): [string, string[]] => (PIN ? ['taskset', ['-c', cpu, command, ...argv]] : [command, argv]);

const roots: [string, string][] = [['this code', resolve(HERE, '..')]];
if (args.base) roots.push(['base', resolve(args.base)]);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** `wganx serve` from the checkout at `root`, in its own process, once its models are ready. */
async function serve(root: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    ...pinned(args['server-cpu']!, process.execPath, ['--import', 'tsx', join(root, 'src', 'cli.ts'), 'serve', '--models', MODELS, '--host', '127.0.0.1', '--port', String(port), '--device', 'cpu', '--threads', '1', '--max-queue', String(MAX_QUEUE), '--reload-interval', '0']),
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const deadline = Date.now() + 120_000;
  while (!/listening on/.test(log) || !/models ready/.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the server from ${root} did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `http://127.0.0.1:${port}/v2/models/ring/infer`, child };
}

/** autocannon at `connections` for DURATION_S seconds, in its own pinned process (bench/overload-load.ts). */
async function load(url: string, connections: number): Promise<LoadFigures> {
  const child = spawn(...pinned(args['load-cpu']!, process.execPath, ['--import', 'tsx', LOAD, url, String(connections), String(DURATION_S), BODY]), { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let err = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (err += d));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`the load generator exited with ${code}: ${err.trim()}`);
  return JSON.parse(text) as LoadFigures;
}

const ms = (x: number) => `${x.toFixed(2).padStart(7)} ms`;
const line = (r: LoadFigures) => `${r.admittedPerSecond.toFixed(0).padStart(6)} 2xx/s  ${r.shedPerSecond.toFixed(0).padStart(7)} 503/s  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}${r.otherPerSecond > 0 ? `  other ${r.otherPerSecond.toFixed(0)}/s` : ''}  errors ${r.errors}`;

console.log(`bench:overload — ring, KServe v2 JSON, --max-queue ${MAX_QUEUE}, concurrency ${LOW} and ${HIGH}, ${DURATION_S} s per load, ${ROUNDS} interleaved rounds; ${cpus().length} cores, ${PIN ? `server pinned to cpu ${args['server-cpu']}, load generator to cpu ${args['load-cpu']} (taskset)` : 'unpinned'}, Node ${process.version}`);
console.log('latencies are of admitted (2xx) requests only');
const results = new Map<string, Record<number, LoadFigures[]>>(roots.map(([name]) => [name, { [LOW]: [], [HIGH]: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? roots : [...roots].reverse();
  for (const [name, root] of order) {
    const { url, child } = await serve(root);
    try {
      for (const c of [LOW, HIGH]) {
        const r = await load(url, c);
        results.get(name)![c].push(r);
        console.log(`  round ${round + 1} ${name.padEnd(9)} c=${String(c).padStart(3)}  ${line(r)}`);
      }
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
}

console.log(`\nmedians over rounds; targets (issue 34): 2xx/s at c=${HIGH} ≥ ${TARGET_KEPT} × c=${LOW}'s, p99 at c=${HIGH} ≤ ${TARGET_P99} × c=${LOW}'s`);
const med = (name: string, c: number): LoadFigures => {
  const rs = results.get(name)![c];
  const m = (key: keyof LoadFigures) => median(rs.map((r) => r[key]));
  return { admittedPerSecond: m('admittedPerSecond'), shedPerSecond: m('shedPerSecond'), otherPerSecond: m('otherPerSecond'), p50Ms: m('p50Ms'), p99Ms: m('p99Ms'), errors: m('errors') };
};
const verdict = (ok: boolean) => (ok ? 'meets the target' : 'misses the target');
for (const [name] of roots) {
  const low = med(name, LOW);
  const high = med(name, HIGH);
  const kept = high.admittedPerSecond / low.admittedPerSecond;
  const p99 = high.p99Ms / low.p99Ms;
  console.log(`  ${name}`);
  console.log(`    c=${String(LOW).padStart(3)}  ${line(low)}`);
  console.log(`    c=${String(HIGH).padStart(3)}  ${line(high)}`);
  console.log(`    2xx/s kept under overload: ${kept.toFixed(2)}× (≥ ${TARGET_KEPT}: ${verdict(kept >= TARGET_KEPT)})   p99 of admitted: ${p99.toFixed(2)}× (≤ ${TARGET_P99}: ${verdict(p99 <= TARGET_P99)})`);
}
if (roots.length > 1) {
  const ratio = median(results.get('this code')![HIGH].map((r, i) => r.admittedPerSecond / results.get('base')![HIGH][i].admittedPerSecond));
  console.log(`  this code / base, 2xx/s at c=${HIGH} (median of per-round ratios): ${ratio.toFixed(2)}×`);
}
