#!/usr/bin/env node
/**
 * Benchmark harness (`npm run bench`, via scripts/bench). On loopback it starts the real CNCF
 * distribution registry (open, token-auth, and a token-auth one with an access log for counting
 * upstream requests; all three share one storage directory), nginx as a plain reverse proxy in
 * front of them, and the proxy from dist/cli.js with a Connector + Secret file. Each scenario is
 * measured against direct (client to registry), nginx and the proxy in the same run, alternating
 * (direct, nginx, proxy, direct, nginx, proxy, ...), and the medians are compared.
 *
 *   scripts/bench [--quick] [--rounds N] [--only id,id] [--out file] [--keep]
 *   scripts/bench --profile     CPU profiles of the proxy and a --max-semi-space-size sweep
 *
 * Results: a table on stdout, and the same as JSON in bench/results/latest.json
 * (latest-quick.json for --quick). See bench/README-snippet.md.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { configYaml } from '../test/helpers/config-files.ts';
import { makeImage, MT, sha256 } from '../test/helpers/oci.ts';
import { freePort, waitFor } from '../test/helpers/ports.ts';
import { registryConfigYaml } from '../test/helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../test/helpers/token-server.ts';
import { type CpuProfile, summarizeProfile } from './profile.ts';

const MiB = 1024 * 1024;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const USER = { username: 'bench', password: 'bench-Pa55word-for-the-token-server' };

// ---------------------------------------------------------------------------------------------
// Options

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    rounds: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean' },
    profile: { type: 'boolean' },
    'no-wait': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (opts.help) {
  process.stdout.write(`Usage: npm run bench -- [options]
  --quick          development mode: one round, smaller blobs, 1 s load runs (about a minute)
  --rounds N       measured rounds per scenario (default 3; 1 with --quick)
  --only a,b       run only these scenarios (ids are printed in the table)
  --out FILE       JSON results (default bench/results/latest.json, latest-quick.json with --quick)
  --keep           keep the work directory (logs, registry storage) for inspection
  --no-wait        do not wait for the machine to be quiet before each run (see "quiet gate")
  --profile        instead of the table: CPU profiles of the proxy (manifest GET, 1 GiB blob GET)
                   into bench/results/profile-*.txt, and a --max-semi-space-size sweep
Environment: BENCH_TMPDIR (default /dev/shm when it has room, else the system temp dir).
`);
  process.exit(0);
}
const QUICK = opts.quick === true;
const SIZES = QUICK
  ? { mono: 256 * MiB, chunked: 128 * MiB, chunk: 16 * MiB, concEach: 32 * MiB, conc: 8, small: 16 * MiB, loadSec: 1, warmSec: 0, rounds: 1, pulls: 100 }
  : { mono: 1024 * MiB, chunked: 512 * MiB, chunk: 16 * MiB, concEach: 128 * MiB, conc: 8, small: 16 * MiB, loadSec: 2, warmSec: 1, rounds: 3, pulls: 100 };
const ROUNDS = opts.rounds ? Math.max(1, Number(opts.rounds)) : SIZES.rounds;
const ONLY = opts.only ? new Set(opts.only.split(',').map((s) => s.trim())) : undefined;
const CONNS = 32;
const TOKEN_REPOS = 4;

// ---------------------------------------------------------------------------------------------
// Work directory, processes, clean-up

function pickBase(need: number): string {
  const env = process.env['BENCH_TMPDIR'];
  if (env) return env;
  for (const d of ['/dev/shm', tmpdir()]) {
    try {
      accessSync(d, constants.W_OK);
      const s = statfsSync(d);
      if (s.bavail * s.bsize >= need) return d;
    } catch {
      // next
    }
  }
  return tmpdir();
}

const WORK = mkdtempSync(join(pickBase(SIZES.mono * 4 + 512 * MiB), 'ocp-bench-'));
const STORAGE = join(WORK, 'storage');
mkdirSync(STORAGE);

interface Proc {
  name: string;
  group: string;
  child: ChildProcess;
  pid: number;
  log: string;
}
/** Processes whose CPU time is sampled, by group (registry, nginx, proxy). */
const live: { group: string; pid: number; name: string }[] = [];
const procs: Proc[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

function spawnLogged(name: string, group: string, cmd: string, args: string[], env: Record<string, string> = {}): Proc {
  const log = join(WORK, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  const p: Proc = { name, group, child, pid: child.pid, log };
  procs.push(p);
  live.push({ group, pid: child.pid, name });
  return p;
}

function tail(file: string, bytes = 2000): string {
  try {
    const t = readFileSync(file, 'utf8');
    return t.slice(-bytes);
  } catch {
    return '';
  }
}

function exited(p: Proc): boolean {
  return p.child.exitCode !== null || p.child.signalCode !== null;
}

async function stopProc(p: Proc, timeoutMs = 15_000): Promise<void> {
  const i = live.findIndex((l) => l.pid === p.pid);
  if (i >= 0) live.splice(i, 1);
  if (exited(p)) return;
  const done = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  await done;
  clearTimeout(t);
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort
      }
    }
    await Promise.all(procs.filter((p) => !exited(p)).map((p) => stopProc(p, 5_000)));
    if (!opts.keep) rmSync(WORK, { recursive: true, force: true });
    else console.log(`work directory kept: ${WORK}`);
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// CPU accounting: /proc/<pid>/stat of each component, /proc/stat for the whole machine

function procTicks(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return undefined;
  }
}

function ppidOf(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (ppidOf(Number(d)) === pid) out.push(Number(d));
  }
  return out;
}

function systemBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
}

interface Snap {
  t: number;
  busy: number;
  self: NodeJS.CpuUsage;
  pids: Map<number, { group: string; ticks: number }>;
}

function snap(): Snap {
  const pids = new Map<number, { group: string; ticks: number }>();
  for (const l of live) {
    const t = procTicks(l.pid);
    if (t !== undefined) pids.set(l.pid, { group: l.group, ticks: t });
  }
  return { t: performance.now(), busy: systemBusyTicks(), self: process.cpuUsage(), pids };
}

function cpuBetween(a: Snap, b: Snap, externalClientS: number): { cpu: Record<string, number>; otherS: number; wallS: number } {
  const cpu: Record<string, number> = {};
  for (const [pid, e] of b.pids) {
    const before = a.pids.get(pid);
    if (!before) continue;
    cpu[e.group] = (cpu[e.group] ?? 0) + (e.ticks - before.ticks) / CLK_TCK;
  }
  const self = process.cpuUsage(a.self);
  cpu['client'] = externalClientS + (self.user + self.system) / 1e6;
  const ours = Object.values(cpu).reduce((x, y) => x + y, 0);
  const busy = (b.busy - a.busy) / CLK_TCK;
  for (const k of Object.keys(cpu)) cpu[k] = round(cpu[k]!, 3);
  return { cpu, otherS: round(Math.max(0, busy - ours), 3), wallS: (b.t - a.t) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// Peak RSS: VmHWM, reset per scenario through /proc/<pid>/clear_refs (5 = reset the peak)

function vmHwm(pid: number): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

function resetHwm(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // older kernels: the peak then covers the whole process life
  }
}

// ---------------------------------------------------------------------------------------------
// Components

interface Registry {
  name: string;
  url: string;
  port: number;
  proc: Proc;
}

async function startRegistry(name: string, extra: string, readyStatus: number, accessLog: boolean): Promise<Registry> {
  const port = await freePort();
  const config = join(WORK, `${name}.yml`);
  writeFileSync(
    config,
    registryConfigYaml({ port, root: STORAGE, extra, accessLog, secret: 'ocp-bench-upload-state-secret' }),
  );
  const proc = spawnLogged(name, 'registry', 'docker-registry', ['serve', config]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${name} on ${url}`, async () => {
    if (exited(proc)) throw new Error(`docker-registry exited: ${tail(proc.log)}`);
    const res = await request(`${url}/v2/`);
    await res.body.dump();
    return res.statusCode === readyStatus;
  });
  return { name, url, port, proc };
}

interface Nginx {
  proc: Proc;
  urls: Record<string, string>;
  accessLog: string;
}

async function startNginx(upstreams: Record<string, number>): Promise<Nginx> {
  const dir = join(WORK, 'nginx');
  mkdirSync(dir);
  const urls: Record<string, string> = {};
  let servers = '';
  for (const [name, port] of Object.entries(upstreams)) {
    const listen = await freePort();
    urls[name] = `http://127.0.0.1:${listen}`;
    servers += `  upstream up_${name} {
    server 127.0.0.1:${port};
    keepalive 64;
    keepalive_requests 100000;
    keepalive_timeout 75s;
  }
  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass http://up_${name};
    }
  }
`;
  }
  const accessLog = join(dir, 'access.log');
  const conf = readFileSync(join(ROOT, 'bench', 'nginx.conf'), 'utf8')
    .replaceAll('{{DIR}}', dir)
    .replaceAll('{{ACCESS_LOG}}', `${accessLog} combined buffer=256k flush=1s`)
    .replace('{{SERVERS}}', servers);
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const proc = spawnLogged('nginx', 'nginx', 'nginx', ['-e', join(dir, 'error.log'), '-p', dir, '-c', confFile]);
  for (const url of Object.values(urls)) {
    await waitFor(`nginx on ${url}`, async () => {
      if (exited(proc)) throw new Error(`nginx exited: ${tail(proc.log)} ${tail(join(dir, 'error.log'))}`);
      const res = await request(`${url}/v2/`);
      await res.body.dump();
      return res.statusCode === 200 || res.statusCode === 401;
    });
  }
  for (const w of childrenOf(proc.pid)) live.push({ group: 'nginx', pid: w, name: 'nginx worker' });
  return { proc, urls, accessLog };
}

interface Proxy {
  name: string;
  url: string;
  proc: Proc;
}

/**
 * Node flags the proxy runs with unless a scenario sets its own: the ones it ships with (the
 * Dockerfile's ENTRYPOINT and `npm start`); BENCH_PROXY_NODE_FLAGS overrides ('' for none).
 */
const DEFAULT_PROXY_NODE_FLAGS = (process.env['BENCH_PROXY_NODE_FLAGS'] ?? '--max-semi-space-size=2').split(' ').filter(Boolean);

async function startProxy(name: string, configFile: string, args: string[], nodeFlags: string[] = DEFAULT_PROXY_NODE_FLAGS): Promise<Proxy> {
  const port = await freePort();
  const proc = spawnLogged(name, 'proxy', join(ROOT, 'scripts', 'node'), [...nodeFlags, join(ROOT, 'dist', 'cli.js'), '--config', configFile, '--listen', `127.0.0.1:${port}`, ...args]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `proxy ${name} on ${url}`,
    async () => {
      if (exited(proc)) throw new Error(`proxy exited: ${tail(proc.log)}`);
      const res = await request(`${url}/healthz`);
      await res.body.dump();
      return res.statusCode === 200;
    },
    30_000,
  );
  return { name, url, proc };
}

/** Waits until a connector's first health check has finished, so its requests are not counted. */
async function healthChecked(proxy: Proxy, connector: string): Promise<void> {
  try {
    await waitFor(
      `first health check of ${connector}`,
      async () => {
        const res = await request(`${proxy.url}/connectors/${connector}`);
        const body = (await res.body.json()) as { status?: { checkedAt?: unknown } };
        return res.statusCode === 200 && body.status?.checkedAt !== undefined;
      },
      5_000,
    );
  } catch {
    // an older or newer proxy without checkedAt: go on
  }
}

// ---------------------------------------------------------------------------------------------
// Clients

let seq = 0;

interface Cmd {
  code: number | null;
  stdout: string;
  stderr: string;
  cpuS: number;
}

/** Runs a client tool under /usr/bin/time to learn its CPU time. */
function timed(cmd: string, args: string[], timeoutMs = 600_000): Promise<Cmd> {
  const tf = join(WORK, `time-${seq++}.txt`);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', tf, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-10_000)));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      let cpuS = 0;
      try {
        const last = readFileSync(tf, 'utf8').trim().split('\n').pop() ?? '';
        const [u, s] = last.split(' ').map(Number);
        cpuS = (u ?? 0) + (s ?? 0);
        rmSync(tf, { force: true });
      } catch {
        // no timing
      }
      resolve({ code, stdout, stderr, cpuS });
    });
  });
}

const headerArgs = (headers: Record<string, string>): string[] => Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);

async function curlGet(url: string, headers: Record<string, string>): Promise<{ status: number; bytes: number; seconds: number; cpuS: number }> {
  const r = await timed('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', ...headerArgs(headers), url]);
  const [status, bytes, seconds] = r.stdout.trim().split(' ').map(Number);
  if (r.code !== 0) throw new Error(`curl GET ${url}: exit ${r.code} ${r.stderr}`);
  return { status: status ?? 0, bytes: bytes ?? 0, seconds: seconds ?? 0, cpuS: r.cpuS };
}

function withDigest(location: string, origin: string, digest: string): string {
  const abs = new URL(location, origin).toString();
  return abs + (abs.includes('?') ? '&' : '?') + 'digest=' + encodeURIComponent(digest);
}

async function startUpload(origin: string, path: string, headers: Record<string, string>, agent?: Agent): Promise<string> {
  const res = await request(`${origin}${path}/blobs/uploads/`, { method: 'POST', headers: { ...headers, 'content-length': '0' }, ...(agent ? { dispatcher: agent } : {}) });
  const body = await res.body.text();
  const loc = res.headers['location'];
  if (res.statusCode !== 202 || typeof loc !== 'string') throw new Error(`POST ${origin}${path}/blobs/uploads/: ${res.statusCode} ${body.slice(0, 300)}`);
  return new URL(loc, origin).toString();
}

/** Puts a blob into a registry directly through the API (monolithic), unless it is there. */
async function ensureBlob(origin: string, repo: string, data: Buffer, digest: string, headers: Record<string, string> = {}): Promise<void> {
  const head = await request(`${origin}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers });
  await head.body.dump();
  if (head.statusCode === 200) return;
  const loc = await startUpload(origin, `/v2/${repo}`, headers);
  const res = await request(withDigest(loc, origin, digest), { method: 'PUT', body: data, headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(data.length) } });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`seeding ${repo}@${digest}: ${res.statusCode} ${text.slice(0, 300)}`);
}

async function pushImage(origin: string, repo: string, image: ReturnType<typeof makeImage>): Promise<void> {
  for (const b of [image.config, ...image.layers]) await ensureBlob(origin, repo, b, sha256(b));
  const res = await request(`${origin}/v2/${repo}/manifests/v1`, { method: 'PUT', body: image.manifest, headers: { 'content-type': MT.manifest } });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`manifest ${repo}: ${res.statusCode} ${text}`);
}

function unitSeconds(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 'ms' ? n : n * 1000;
}

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  cpuS: number;
}

async function wrk(url: string, headers: Record<string, string>, seconds: number, paths?: string[], conns = CONNS): Promise<LoadResult> {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--timeout', '10s', '--latency', ...headerArgs(headers)];
  if (paths) args.push('-s', join(ROOT, 'bench', 'wrk-paths.lua'), url, '--', ...paths);
  else args.push(url);
  const r = await timed('wrk', args);
  if (r.code !== 0) throw new Error(`wrk: exit ${r.code} ${r.stderr} ${r.stdout}`);
  const out = r.stdout;
  const lat = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    return m ? unitSeconds(m[1]!, m[2]!) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: lat('50'),
    p99: lat('99'),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    errors: non2xx + sockErr,
    cpuS: r.cpuS,
  };
}

/** HEAD load: wrk 4.1 (Debian 12) waits for a body after a HEAD response, so ApacheBench (-i). */
async function abHead(url: string, headers: Record<string, string>, seconds: number): Promise<LoadResult> {
  const csv = join(WORK, `ab-${seq++}.csv`);
  const r = await timed('ab', ['-q', '-k', '-i', '-c', String(CONNS), '-t', String(seconds), '-n', '100000000', '-s', '10', '-e', csv, ...headerArgs(headers), url]);
  if (r.code !== 0) throw new Error(`ab: exit ${r.code} ${r.stderr} ${r.stdout}`);
  const out = r.stdout;
  const pcts = new Map<number, number>();
  try {
    for (const line of readFileSync(csv, 'utf8').split('\n').slice(1)) {
      const [p, ms] = line.split(',');
      if (p !== undefined && ms !== undefined) pcts.set(Number(p), Number(ms));
    }
    rmSync(csv, { force: true });
  } catch {
    // no percentiles
  }
  const failed = Number(/Failed requests:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pcts.get(50) ?? NaN,
    p99: pcts.get(99) ?? NaN,
    requests: Number(/Complete requests:\s+(\d+)/.exec(out)?.[1] ?? 0),
    errors: failed + non2xx,
    cpuS: r.cpuS,
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface ClientResult {
  value: number;
  clientCpuS: number;
  p50?: number;
  p99?: number;
  requests?: number;
  errors?: number;
  extra?: Record<string, unknown>;
}

interface Run {
  target: string;
  round: number;
  ok: boolean;
  error?: string;
  value: number;
  wallS: number;
  p50Ms?: number;
  p99Ms?: number;
  requests?: number;
  errors?: number;
  cpuS: Record<string, number>;
  otherCpuS: number;
  /** Time the quiet gate waited before the run. */
  waitedMs: number;
  extra?: Record<string, unknown>;
}

/**
 * Quiet gate: other work on the machine (other test suites, builds) skews a run. Before each run,
 * wait until the machine is nearly idle (all benchmark processes are idle between runs), up to
 * 10 s per run and 20 s in all (5 s with --quick); the time waited and the CPU used by others
 * during the run are recorded either way.
 */
let quietBudgetMs = QUICK ? 5_000 : 20_000;
const QUIET_BUSY = 0.25; // fraction of all cores
async function quiet(): Promise<number> {
  if (opts['no-wait']) return 0;
  const t0 = performance.now();
  const ncpu = cpus().length;
  while (true) {
    const a = systemBusyTicks();
    await new Promise((r) => setTimeout(r, 200));
    const busy = (systemBusyTicks() - a) / CLK_TCK / 0.2 / ncpu;
    const waited = performance.now() - t0;
    if (busy <= QUIET_BUSY || waited >= Math.min(10_000, quietBudgetMs)) {
      quietBudgetMs = Math.max(0, quietBudgetMs - waited);
      return Math.round(waited);
    }
  }
}

async function measure(target: string, round: number, fn: () => Promise<ClientResult>): Promise<Run> {
  const waitedMs = await quiet();
  const a = snap();
  try {
    const r = await fn();
    const b = snap();
    const { cpu, otherS, wallS } = cpuBetween(a, b, r.clientCpuS);
    const run: Run = { target, round, ok: true, value: r.value, wallS: round3(wallS), cpuS: cpu, otherCpuS: otherS, waitedMs };
    if (r.p50 !== undefined) run.p50Ms = round3(r.p50);
    if (r.p99 !== undefined) run.p99Ms = round3(r.p99);
    if (r.requests !== undefined) run.requests = r.requests;
    if (r.errors !== undefined) run.errors = r.errors;
    if (r.extra) run.extra = r.extra;
    return run;
  } catch (err) {
    const b = snap();
    const { cpu, otherS, wallS } = cpuBetween(a, b, 0);
    return { target, round, ok: false, error: (err as Error).message.slice(0, 500), value: NaN, wallS, cpuS: cpu, otherCpuS: otherS, waitedMs };
  }
}

interface Goal {
  text: string;
  check: (med: Record<string, number>, s: ScenarioResult) => boolean | null;
}

interface Scenario {
  id: string;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  targets: string[];
  goals: Goal[];
  client: string;
  /** Rounds for this scenario when not the global number. */
  rounds?: number;
  warmup?: (target: string) => Promise<void>;
  prepare?: (target: string) => Promise<void>;
  finish?: (target: string, run: Run) => Promise<void>;
  run: (target: string) => Promise<ClientResult>;
  summary?: () => Record<string, unknown>;
}

interface ScenarioResult {
  id: string;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  client: string;
  targets: string[];
  runs: Run[];
  median: Record<string, number>;
  medianP50Ms?: Record<string, number>;
  medianP99Ms?: Record<string, number>;
  medianCpuS: Record<string, Record<string, number>>;
  medianOtherCpuS: Record<string, number>;
  ratios: Record<string, number>;
  proxyPeakRssMiB: Record<string, number>;
  /** The proxy's RSS when the scenario began: the process keeps what earlier scenarios grew. */
  proxyRssAtStartMiB: Record<string, number>;
  goals: { text: string; pass: boolean | null }[];
  summary?: Record<string, unknown>;
  seconds: number;
}

function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
const round3 = (x: number): number => round(x, 3);

let proxies: Proxy[] = [];

async function runScenario(s: Scenario): Promise<ScenarioResult> {
  const t0 = performance.now();
  console.log(`\n== ${s.id}: ${s.title} [${s.unit}, ${s.higherIsBetter ? 'higher' : 'lower'} is better; client: ${s.client}]`);
  const rssStart: Record<string, number> = {};
  for (const p of proxies) {
    resetHwm(p.proc.pid);
    if (s.targets.includes(p.name)) rssStart[p.name] = round((vmHwm(p.proc.pid) ?? NaN) / MiB, 1);
  }
  if (s.warmup) for (const t of s.targets) await s.warmup(t);
  const runs: Run[] = [];
  for (let r = 1; r <= Math.min(ROUNDS, s.rounds ?? ROUNDS); r++) {
    for (const t of s.targets) {
      await s.prepare?.(t);
      const run = await measure(t, r, () => s.run(t));
      await s.finish?.(t, run);
      runs.push(run);
      const cpu = Object.entries(run.cpuS)
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ');
      const lat = run.p99Ms !== undefined ? ` p50 ${run.p50Ms?.toFixed(2)} ms p99 ${run.p99Ms.toFixed(2)} ms` : '';
      const err = run.errors ? ` ERRORS ${run.errors}` : '';
      console.log(
        `  r${r} ${t.padEnd(10)} ${run.ok ? fmt(run.value).padStart(9) + ' ' + s.unit : 'FAILED: ' + run.error}${lat}${err}  | wall ${run.wallS.toFixed(2)} s, cpu s: ${cpu}, other ${run.otherCpuS.toFixed(2)}${run.waitedMs > 300 ? `, waited ${(run.waitedMs / 1000).toFixed(1)} s for quiet` : ''}`,
      );
    }
  }
  const med: Record<string, number> = {};
  const p50: Record<string, number> = {};
  const p99: Record<string, number> = {};
  const cpu: Record<string, Record<string, number>> = {};
  const other: Record<string, number> = {};
  let hasLat = false;
  for (const t of s.targets) {
    const rs = runs.filter((r) => r.target === t && r.ok);
    med[t] = median(rs.map((r) => r.value));
    if (rs.some((r) => r.p99Ms !== undefined)) {
      hasLat = true;
      p50[t] = round3(median(rs.map((r) => r.p50Ms ?? NaN)));
      p99[t] = round3(median(rs.map((r) => r.p99Ms ?? NaN)));
    }
    const groups = new Set(rs.flatMap((r) => Object.keys(r.cpuS)));
    cpu[t] = {};
    for (const g of groups) cpu[t]![g] = round3(median(rs.map((r) => r.cpuS[g] ?? 0)));
    other[t] = round3(median(rs.map((r) => r.otherCpuS)));
  }
  const ratios: Record<string, number> = {};
  const better = (a: number, b: number): number => (s.higherIsBetter ? a / b : b / a);
  for (const p of s.targets.filter((t) => t.startsWith('proxy'))) {
    for (const base of ['direct', 'nginx']) {
      if (med[p] !== undefined && med[base] !== undefined) ratios[`${p}/${base}`] = round3(better(med[p]!, med[base]!));
    }
  }
  if (med['proxy-warn'] !== undefined && med['proxy'] !== undefined) ratios['proxy-warn/proxy'] = round3(better(med['proxy-warn']!, med['proxy']!));
  const rss: Record<string, number> = {};
  for (const p of proxies) {
    const h = vmHwm(p.proc.pid);
    if (h !== undefined && s.targets.includes(p.name)) rss[p.name] = round(h / MiB, 1);
  }
  const result: ScenarioResult = {
    id: s.id,
    title: s.title,
    unit: s.unit,
    higherIsBetter: s.higherIsBetter,
    client: s.client,
    targets: s.targets,
    runs,
    median: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, round(v, 2)])),
    medianCpuS: cpu,
    medianOtherCpuS: other,
    ratios,
    proxyPeakRssMiB: rss,
    proxyRssAtStartMiB: rssStart,
    goals: [],
    seconds: round((performance.now() - t0) / 1000, 1),
  };
  if (hasLat) {
    result.medianP50Ms = p50;
    result.medianP99Ms = p99;
  }
  if (s.summary) result.summary = s.summary();
  Object.assign(result.proxyPeakRssMiB, (result.summary?.['proxyPeakRssMiB'] as Record<string, number> | undefined) ?? {});
  result.goals = s.goals.map((g) => ({ text: g.text, pass: g.check(med, result) }));
  return result;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

// ---------------------------------------------------------------------------------------------
// Set-up shared by the table and the profiles

interface Env {
  ts: TokenServer;
  open: Registry;
  secure: Registry;
  cold: Registry;
  nginx: Nginx | undefined;
  proxy: Proxy;
  proxyWarn: Proxy | undefined;
  data: Buffer;
  digests: { mono: string; chunked: string; conc: string; small: string };
  image: ReturnType<typeof makeImage>;
  bearer: string;
  coldConfig: string;
  mainConfig: string;
}

function makeData(size: number): { data: Buffer; digests: Env['digests'] } {
  const t0 = performance.now();
  const tile = randomBytes(64 * MiB);
  const data = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += tile.length) tile.copy(data, off, 0, Math.min(tile.length, size - off));
  const h = createHash('sha256');
  const at: Record<number, string> = {};
  const marks = [SIZES.small, SIZES.concEach, SIZES.chunked, SIZES.mono].sort((a, b) => a - b);
  let pos = 0;
  for (const m of marks) {
    if (m > pos) h.update(data.subarray(pos, m));
    pos = Math.max(pos, m);
    at[m] = 'sha256:' + h.copy().digest('hex');
  }
  console.log(`data: ${size / MiB} MiB of random bytes (a 64 MiB random tile repeated), hashed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { data, digests: { mono: at[SIZES.mono]!, chunked: at[SIZES.chunked]!, conc: at[SIZES.concEach]!, small: at[SIZES.small]! } };
}

async function setUp(withNginx: boolean, withWarn: boolean): Promise<Env> {
  const ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } }, expiresIn: 3600 });
  cleanups.push(() => ts.stop());
  const open = await startRegistry('registry-open', '', 200, false);
  const secure = await startRegistry('registry-token', ts.registryConfig(), 401, false);
  const cold = await startRegistry('registry-cold', ts.registryConfig(), 401, true);
  const nginx = withNginx ? await startNginx({ open: open.port, secure: secure.port, cold: cold.port }) : undefined;

  const mainConfig = join(WORK, 'connectors.yaml');
  writeFileSync(
    mainConfig,
    configYaml([
      { namespace: 'default', name: 'open', address: open.url },
      { namespace: 'default', name: 'secure', address: secure.url, secret: USER },
    ]),
  );
  const coldConfig = join(WORK, 'connectors-cold.yaml');
  writeFileSync(coldConfig, configYaml([{ namespace: 'default', name: 'cold', address: cold.url, secret: USER }]));

  const proxy = await startProxy('proxy', mainConfig, ['--default-connector', 'default/open']);
  const proxyWarn = withWarn ? await startProxy('proxy-warn', mainConfig, ['--default-connector', 'default/open', '--log-level', 'warn']) : undefined;
  proxies = proxyWarn ? [proxy, proxyWarn] : [proxy];

  const { data, digests } = makeData(SIZES.mono);
  const image = makeImage('amd64', [1 * MiB]);
  const t0 = performance.now();
  await pushImage(open.url, 'bench/image', image);
  for (let i = 0; i < TOKEN_REPOS; i++) await pushImage(open.url, `bench/image-${i}`, image);
  const bearer = ts.issueToken({
    subject: USER.username,
    expiresIn: 3600,
    access: ['bench/image', 'bench/upload', ...Array.from({ length: TOKEN_REPOS }, (_, i) => `bench/image-${i}`)].map((name) => ({ type: 'repository', name, actions: ['pull', 'push'] })),
  });
  console.log(`seeded images in ${((performance.now() - t0) / 1000).toFixed(1)} s; work directory ${WORK}`);
  return { ts, open, secure, cold, nginx, proxy, proxyWarn, data, digests, image, bearer, coldConfig, mainConfig };
}

// ---------------------------------------------------------------------------------------------
// The scenarios

type Upstream = 'open' | 'secure' | 'cold';

function endpoint(env: Env, target: string, upstream: Upstream): { origin: string; prefix: string; headers: Record<string, string> } {
  const reg = upstream === 'open' ? env.open : upstream === 'secure' ? env.secure : env.cold;
  const auth: Record<string, string> = upstream === 'open' ? {} : { authorization: `Bearer ${env.bearer}` };
  switch (target) {
    case 'direct':
      return { origin: reg.url, prefix: '', headers: auth };
    case 'nginx':
      return { origin: env.nginx!.urls[upstream]!, prefix: '', headers: auth };
    case 'proxy':
    case 'proxy-warn': {
      const p = target === 'proxy' ? env.proxy : env.proxyWarn!;
      return { origin: p.url, prefix: upstream === 'secure' ? 'namespaces/default/connectors/secure/' : '', headers: {} };
    }
    default:
      throw new Error(`unknown target ${target}`);
  }
}

const T3 = ['direct', 'nginx', 'proxy'];
const ge = (a: string, b: string, k: number) => (m: Record<string, number>): boolean | null =>
  m[a] === undefined || m[b] === undefined || !Number.isFinite(m[a]!) || !Number.isFinite(m[b]!) ? null : m[a]! >= k * m[b]!;

function scenarios(env: Env): Scenario[] {
  const list: Scenario[] = [];
  const mib = (n: number): string => (n >= 1024 * MiB ? `${n / 1024 / MiB} GiB` : `${n / MiB} MiB`);
  const blobFile = join(WORK, 'blob-mono.bin');

  list.push({
    id: 'upload-mono',
    title: `${mib(SIZES.mono)} monolithic blob upload (POST + PUT)`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: T3,
    client: 'POST: undici; PUT: curl -T from a tmpfs file',
    goals: [{ text: 'proxy >= 1.0 x nginx', check: ge('proxy', 'nginx', 1.0) }],
    async run(target) {
      const e = endpoint(env, target, 'open');
      const t0 = performance.now();
      const loc = await startUpload(e.origin, `/v2/${e.prefix}bench/upload`, e.headers);
      const r = await timed('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_upload}', '-X', 'PUT', '-T', blobFile, '-H', 'Content-Type: application/octet-stream', '-H', 'Expect:', ...headerArgs(e.headers), withDigest(loc, e.origin, env.digests.mono)]);
      const seconds = (performance.now() - t0) / 1000;
      const [status, sent] = r.stdout.trim().split(' ').map(Number);
      if (status !== 201 || sent !== SIZES.mono) throw new Error(`PUT: status ${status}, sent ${sent}`);
      return { value: SIZES.mono / MiB / seconds, clientCpuS: r.cpuS };
    },
  });

  list.push({
    id: 'upload-chunked',
    title: `${mib(SIZES.chunked)} chunked upload (PATCH ${mib(SIZES.chunk)} chunks)`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: T3,
    client: 'undici, one keep-alive connection, Buffer bodies',
    goals: [{ text: 'proxy >= 1.0 x nginx', check: ge('proxy', 'nginx', 1.0) }],
    async run(target) {
      const e = endpoint(env, target, 'open');
      const agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 });
      try {
        const t0 = performance.now();
        let loc = await startUpload(e.origin, `/v2/${e.prefix}bench/upload`, e.headers, agent);
        for (let off = 0; off < SIZES.chunked; off += SIZES.chunk) {
          const end = Math.min(off + SIZES.chunk, SIZES.chunked);
          const res = await request(loc, {
            method: 'PATCH',
            dispatcher: agent,
            body: env.data.subarray(off, end),
            headers: { ...e.headers, 'content-type': 'application/octet-stream', 'content-range': `${off}-${end - 1}`, 'content-length': String(end - off) },
          });
          const text = await res.body.text();
          const next = res.headers['location'];
          if (res.statusCode !== 202 || typeof next !== 'string') throw new Error(`PATCH at ${off}: ${res.statusCode} ${text.slice(0, 300)}`);
          loc = new URL(next, e.origin).toString();
        }
        const res = await request(withDigest(loc, e.origin, env.digests.chunked), { method: 'PUT', dispatcher: agent, headers: { ...e.headers, 'content-length': '0' } });
        const text = await res.body.text();
        if (res.statusCode !== 201) throw new Error(`PUT: ${res.statusCode} ${text.slice(0, 300)}`);
        return { value: SIZES.chunked / MiB / ((performance.now() - t0) / 1000), clientCpuS: 0 };
      } finally {
        await agent.close();
      }
    },
  });

  const getOnce = async (target: string, digest: string, size: number): Promise<ClientResult> => {
    const e = endpoint(env, target, 'open');
    const r = await curlGet(`${e.origin}/v2/${e.prefix}bench/upload/blobs/${digest}`, e.headers);
    if (r.status !== 200 || r.bytes !== size) throw new Error(`GET: status ${r.status}, ${r.bytes} bytes`);
    return { value: size / MiB / r.seconds, clientCpuS: r.cpuS };
  };

  list.push({
    id: 'get-blob',
    title: `${mib(SIZES.mono)} blob GET`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: T3,
    client: 'curl -o /dev/null',
    goals: [
      { text: 'proxy >= 1.0 x nginx', check: ge('proxy', 'nginx', 1.0) },
      { text: 'proxy >= 0.6 x direct', check: ge('proxy', 'direct', 0.6) },
    ],
    warmup: async (t) => void (await getOnce(t, env.digests.conc, SIZES.concEach)),
    run: (t) => getOnce(t, env.digests.mono, SIZES.mono),
  });

  list.push({
    id: 'get-concurrent',
    title: `${SIZES.conc} concurrent ${mib(SIZES.concEach)} blob GETs`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: T3,
    client: `${SIZES.conc} curl processes; aggregate = bytes / wall time of the slowest`,
    goals: [{ text: 'proxy >= 1.0 x nginx', check: ge('proxy', 'nginx', 1.0) }],
    async run(target) {
      const e = endpoint(env, target, 'open');
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: SIZES.conc }, () => curlGet(`${e.origin}/v2/${e.prefix}bench/upload/blobs/${env.digests.conc}`, e.headers)));
      const seconds = (performance.now() - t0) / 1000;
      for (const r of rs) if (r.status !== 200 || r.bytes !== SIZES.concEach) throw new Error(`GET: status ${r.status}, ${r.bytes} bytes`);
      return { value: (SIZES.conc * SIZES.concEach) / MiB / seconds, clientCpuS: rs.reduce((a, r) => a + r.cpuS, 0) };
    },
  });

  const withWarn = env.proxyWarn ? [...T3, 'proxy-warn'] : T3;
  const latencyGoals: Goal[] = [
    { text: 'proxy >= 0.9 x nginx (req/s)', check: ge('proxy', 'nginx', 0.9) },
    {
      text: 'proxy p99 - direct p99 <= 2 ms',
      check: (_m, s) => {
        const a = s.medianP99Ms?.['proxy'];
        const b = s.medianP99Ms?.['direct'];
        return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) ? null : a - b <= 2;
      },
    },
  ];
  const manifestPath = (e: { origin: string; prefix: string }, repo: string): string => `${e.origin}/v2/${e.prefix}${repo}/manifests/v1`;
  const load = (r: LoadResult): ClientResult => {
    if (!(r.requests > 0)) throw new Error('no requests completed');
    return { value: r.rps, clientCpuS: r.cpuS, p50: r.p50, p99: r.p99, requests: r.requests, errors: r.errors };
  };

  list.push({
    id: 'manifest-get',
    title: `manifest GET by tag, ${CONNS} connections, ${SIZES.loadSec} s`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: withWarn,
    client: `wrk -t1 -c${CONNS} --latency`,
    goals: latencyGoals,
    warmup: async (t) => void (SIZES.warmSec > 0 && (await wrk(manifestPath(endpoint(env, t, 'open'), 'bench/image'), { accept: MT.manifest, ...endpoint(env, t, 'open').headers }, SIZES.warmSec))),
    run: async (t) => {
      const e = endpoint(env, t, 'open');
      return load(await wrk(manifestPath(e, 'bench/image'), { accept: MT.manifest, ...e.headers }, SIZES.loadSec));
    },
  });

  list.push({
    id: 'manifest-get-c1',
    title: `manifest GET by tag, 1 connection, ${SIZES.loadSec} s: the latency the proxy adds without queueing`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: T3,
    client: 'wrk -t1 -c1 --latency',
    goals: [
      {
        text: 'proxy p99 - direct p99 <= 2 ms',
        check: (_m, s) => {
          const a = s.medianP99Ms?.['proxy'];
          const b = s.medianP99Ms?.['direct'];
          return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) ? null : a - b <= 2;
        },
      },
    ],
    warmup: async (t) => void (SIZES.warmSec > 0 && (await wrk(manifestPath(endpoint(env, t, 'open'), 'bench/image'), { accept: MT.manifest, ...endpoint(env, t, 'open').headers }, SIZES.warmSec, undefined, 1))),
    run: async (t) => {
      const e = endpoint(env, t, 'open');
      return load(await wrk(manifestPath(e, 'bench/image'), { accept: MT.manifest, ...e.headers }, SIZES.loadSec, undefined, 1));
    },
  });

  list.push({
    id: 'manifest-head',
    title: `manifest HEAD by tag, ${CONNS} connections, ${SIZES.loadSec} s`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: withWarn,
    client: `ab -k -i -c${CONNS} (wrk 4.1 cannot do HEAD)`,
    goals: latencyGoals,
    warmup: async (t) => void (SIZES.warmSec > 0 && (await abHead(manifestPath(endpoint(env, t, 'open'), 'bench/image'), { accept: MT.manifest, ...endpoint(env, t, 'open').headers }, SIZES.warmSec))),
    run: async (t) => {
      const e = endpoint(env, t, 'open');
      return load(await abHead(manifestPath(e, 'bench/image'), { accept: MT.manifest, ...e.headers }, SIZES.loadSec));
    },
  });

  // Token-auth upstream: direct and nginx present a token issued up front; the proxy gets its own.
  let exchangesBefore = 0;
  let scopesBefore: Record<string, number> = {};
  let tokenSummary: Record<string, unknown> = {};
  const repos = Array.from({ length: TOKEN_REPOS }, (_, i) => `bench/image-${i}`);
  const tokenRun = async (t: string, seconds: number): Promise<LoadResult> => {
    const e = endpoint(env, t, 'secure');
    const paths = repos.map((r) => `/v2/${e.prefix}${r}/manifests/v1`);
    return wrk(`${e.origin}/`, { accept: MT.manifest, ...e.headers }, seconds, paths);
  };
  list.push({
    id: 'token-manifest-get',
    title: `manifest GET against the token-auth upstream, ${TOKEN_REPOS} repositories in turn, ${CONNS} connections, ${SIZES.loadSec} s`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: T3,
    client: `wrk -t1 -c${CONNS} --latency, Lua script cycling over the repositories`,
    goals: [
      { text: 'proxy >= 0.9 x nginx (req/s)', check: ge('proxy', 'nginx', 0.9) },
      { text: `token exchanges = 1 per repository (${TOKEN_REPOS})`, check: () => (tokenSummary['exchanges'] === undefined ? null : tokenSummary['exchanges'] === TOKEN_REPOS) },
    ],
    warmup: async (t) => {
      if (t === 'direct') {
        exchangesBefore = env.ts.counts.total;
        scopesBefore = { ...env.ts.counts.byScope };
      }
      if (SIZES.warmSec > 0) await tokenRun(t, SIZES.warmSec);
    },
    run: async (t) => load(await tokenRun(t, SIZES.loadSec)),
    summary() {
      const byScope: Record<string, number> = {};
      for (const [k, v] of Object.entries(env.ts.counts.byScope)) if (v - (scopesBefore[k] ?? 0) > 0) byScope[k] = v - (scopesBefore[k] ?? 0);
      tokenSummary = { exchanges: env.ts.counts.total - exchangesBefore, repositories: TOKEN_REPOS, byScope, note: 'token server requests during the whole scenario (warm-up included); direct and nginx use a token issued up front' };
      return tokenSummary;
    },
  });

  // Cold start: a fresh proxy process per run; 100 clients pull one image at once, each as a
  // registry client does: GET /v2/, (a token when challenged), the manifest, then config and
  // layer. Upstream requests are counted from the access log of a registry used only here.
  let cold: Proxy | undefined;
  let logMark = 0;
  let startup: Record<string, number> = {};
  const coldRuns: Record<string, unknown>[] = [];
  const coldRss: number[] = [];
  const readLog = (from: number): { text: string; end: number } => {
    const file = env.cold.proc.log;
    const end = statSync(file).size;
    const buf = Buffer.alloc(end - from);
    const fd = openSync(file, 'r');
    readSync(fd, buf, 0, buf.length, from);
    closeSync(fd);
    return { text: buf.toString('utf8'), end };
  };
  const countLog = (text: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/g)) {
      const path = m[2]!;
      const kind = path === '/v2/' ? '/v2/' : path.includes('/manifests/') ? 'manifest' : path.includes('/blobs/uploads') ? 'upload' : path.includes('/blobs/') ? 'blob' : 'other';
      const k = `${m[1]} ${kind} ${m[3]}`;
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  };
  list.push({
    id: 'cold-start',
    title: `cold start: ${SIZES.pulls} concurrent pulls of one image (manifest + config + 1 MiB layer), fresh proxy process, token-auth upstream`,
    unit: 's',
    higherIsBetter: false,
    targets: T3,
    client: `undici, a fresh Agent per run; each pull: GET /v2/, token (direct/nginx), manifest, config + layer`,
    goals: [
      { text: 'proxy: 1 token exchange', check: () => (coldRuns.length ? coldRuns.filter((r) => r['target'] === 'proxy').every((r) => r['tokenExchanges'] === 1) : null) },
      {
        text: 'proxy: no avoidable upstream requests (1 /v2/ probe, 0 401s besides it, 1 request per client request for content)',
        check: () => {
          const rs = coldRuns.filter((r) => r['target'] === 'proxy');
          if (!rs.length) return null;
          return rs.every((r) => r['avoidable'] === 0);
        },
      },
    ],
    async prepare(t) {
      if (t === 'proxy') {
        const mark = statSync(env.cold.proc.log).size;
        cold = await startProxy('proxy-cold', env.coldConfig, []);
        await healthChecked(cold, 'default/cold');
        await new Promise((r) => setTimeout(r, 100));
        const l = readLog(mark);
        startup = countLog(l.text);
        logMark = l.end;
      } else {
        logMark = statSync(env.cold.proc.log).size;
        startup = {};
      }
    },
    async run(t) {
      const e = t === 'proxy' ? { origin: cold!.url, prefix: '' } : endpoint(env, t, 'cold');
      const agent = new Agent({ keepAliveTimeout: 10_000 });
      const exchanges0 = env.ts.counts.total;
      const t0 = performance.now();
      let bytes = 0;
      const basic = 'Basic ' + Buffer.from(`${USER.username}:${USER.password}`).toString('base64');
      const pull = async (): Promise<void> => {
        const ping = await request(`${e.origin}/v2/`, { dispatcher: agent });
        await ping.body.dump();
        let auth: Record<string, string> = {};
        if (ping.statusCode === 401) {
          const ch = String(ping.headers['www-authenticate'] ?? '');
          const realm = /realm="([^"]+)"/.exec(ch)?.[1];
          const service = /service="([^"]+)"/.exec(ch)?.[1];
          if (!realm) throw new Error(`no realm in ${ch}`);
          const u = new URL(realm);
          if (service) u.searchParams.set('service', service);
          u.searchParams.set('scope', 'repository:bench/image:pull');
          const tr = await request(u, { dispatcher: agent, headers: { authorization: basic } });
          const tb = (await tr.body.json()) as { token?: string; access_token?: string };
          auth = { authorization: `Bearer ${tb.token ?? tb.access_token}` };
        } else if (ping.statusCode !== 200) throw new Error(`GET /v2/: ${ping.statusCode}`);
        const m = await request(`${e.origin}/v2/${e.prefix}bench/image/manifests/v1`, { dispatcher: agent, headers: { accept: MT.manifest, ...auth } });
        if (m.statusCode !== 200) throw new Error(`manifest: ${m.statusCode} ${(await m.body.text()).slice(0, 200)}`);
        const manifest = (await m.body.json()) as { config: { digest: string }; layers: { digest: string }[] };
        await Promise.all(
          [manifest.config, ...manifest.layers].map(async (d) => {
            const r = await request(`${e.origin}/v2/${e.prefix}bench/image/blobs/${d.digest}`, { dispatcher: agent, headers: auth });
            if (r.statusCode !== 200) throw new Error(`blob: ${r.statusCode} ${(await r.body.text()).slice(0, 200)}`);
            for await (const c of r.body) bytes += (c as Buffer).length;
          }),
        );
      };
      try {
        await Promise.all(Array.from({ length: SIZES.pulls }, pull));
      } finally {
        await agent.close();
      }
      const seconds = (performance.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 300)); // the registry writes its access log line after the response
      const upstream = countLog(readLog(logMark).text);
      const total = Object.values(upstream).reduce((a, b) => a + b, 0);
      const exchanges = env.ts.counts.total - exchanges0;
      const pings = Object.entries(upstream).filter(([k]) => k.includes(' /v2/ ')).reduce((a, [, v]) => a + v, 0);
      const unauthorized = Object.entries(upstream).filter(([k]) => k.endsWith(' 401')).reduce((a, [, v]) => a + v, 0);
      const content = Object.entries(upstream).filter(([k]) => !k.includes(' /v2/ ')).reduce((a, [, v]) => a + v, 0);
      // What a proxy could not avoid without caching content: one challenge probe, and one
      // upstream request per client request for a manifest or blob (3 per pull).
      const avoidable = t.startsWith('proxy') ? Math.max(0, pings - 1) + Math.max(0, unauthorized - (pings > 0 ? 1 : 0)) + Math.max(0, content - 3 * SIZES.pulls) + Math.max(0, exchanges - 1) : undefined;
      const extra: Record<string, unknown> = { target: t, seconds: round3(seconds), bytes, tokenExchanges: exchanges, upstreamRequests: total, upstream, startupUpstream: startup, avoidable };
      coldRuns.push(extra);
      return { value: seconds, clientCpuS: 0, extra };
    },
    async finish(t) {
      if (t === 'proxy' && cold) {
        const h = vmHwm(cold.proc.pid);
        if (h !== undefined) coldRss.push(h);
        await stopProc(cold.proc);
        cold = undefined;
      }
    },
    summary() {
      const proxyRuns = coldRuns.filter((r) => r['target'] === 'proxy');
      return {
        runs: coldRuns,
        proxyPeakRssMiB: coldRss.length ? { 'proxy-cold': round(Math.max(...coldRss) / MiB, 1) } : {},
        proxyTokenExchanges: proxyRuns.map((r) => r['tokenExchanges']),
        proxyUpstreamRequests: proxyRuns.map((r) => r['upstreamRequests']),
        proxyAvoidable: proxyRuns.map((r) => r['avoidable']),
        note: 'upstream = requests in the access log of the registry used only by this scenario, by method, kind and status; startupUpstream = the fresh proxy\'s own requests before the pulls (health check); avoidable = /v2/ probes beyond 1 + 401s beyond the probe\'s + content requests beyond 3 per pull + token exchanges beyond 1',
      };
    },
  });

  // What the client itself costs: the same GET, direct, with curl and with undici in this process.
  list.push({
    id: 'client-cost',
    title: `client cost: ${mib(SIZES.mono)} blob GET direct, curl vs undici`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ['curl', 'undici'],
    client: 'curl -o /dev/null; undici request() with the body drained by for-await',
    rounds: 1,
    goals: [],
    async run(t) {
      const url = `${env.open.url}/v2/bench/upload/blobs/${env.digests.mono}`;
      if (t === 'curl') {
        const r = await curlGet(url, {});
        if (r.status !== 200 || r.bytes !== SIZES.mono) throw new Error(`GET: ${r.status} ${r.bytes}`);
        return { value: SIZES.mono / MiB / r.seconds, clientCpuS: r.cpuS };
      }
      const t0 = performance.now();
      const res = await request(url);
      let n = 0;
      for await (const c of res.body) n += (c as Buffer).length;
      if (res.statusCode !== 200 || n !== SIZES.mono) throw new Error(`GET: ${res.statusCode} ${n}`);
      return { value: SIZES.mono / MiB / ((performance.now() - t0) / 1000), clientCpuS: 0 };
    },
  });

  return list;
}

/**
 * Peak RSS of a fresh proxy process during one GET of each blob size (a fresh process per size,
 * so what earlier scenarios grew does not hide it): `idle` is VmRSS before the GET.
 */
async function rssBySize(env: Env): Promise<Record<string, { idleMiB: number; peakMiB: number }>> {
  const out: Record<string, { idleMiB: number; peakMiB: number }> = {};
  const sizes: [string, string, number][] = [
    [`${SIZES.small / MiB} MiB`, env.digests.small, SIZES.small],
    [`${SIZES.concEach / MiB} MiB`, env.digests.conc, SIZES.concEach],
    [`${SIZES.mono / MiB} MiB`, env.digests.mono, SIZES.mono],
  ];
  for (const [label, digest, size] of sizes) {
    const p = await startProxy(`proxy-rss-${size / MiB}m`, env.mainConfig, ['--default-connector', 'default/open']);
    await new Promise((r) => setTimeout(r, 500));
    const idle = vmHwm(p.proc.pid) ?? NaN;
    const r = await curlGet(`${p.url}/v2/bench/upload/blobs/${digest}`, {});
    const peak = vmHwm(p.proc.pid) ?? NaN;
    await stopProc(p.proc);
    if (r.status !== 200 || r.bytes !== size) throw new Error(`rss GET ${label}: ${r.status} ${r.bytes}`);
    out[label] = { idleMiB: round(idle / MiB, 1), peakMiB: round(peak / MiB, 1) };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

function versions(): Record<string, string> {
  const v = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
    } catch (err) {
      const e = err as { stderr?: string };
      return (e.stderr ?? '').split('\n')[0]!.trim() || 'unknown';
    }
  };
  let git = 'unknown';
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    git = head + (dirty ? ' (src/ has uncommitted changes)' : '');
  } catch {
    // not a checkout
  }
  return {
    node: process.version,
    registry: v('docker-registry', ['--version']),
    nginx: v('sh', ['-c', 'nginx -v 2>&1']),
    wrk: v('sh', ['-c', 'wrk --version 2>&1 | head -1']),
    curl: v('curl', ['--version']),
    ab: v('sh', ['-c', 'ab -V | head -1']),
    kernel: v('uname', ['-r']),
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / MiB / 1024)} GiB`,
    workdir: v('sh', ['-c', `df -T ${WORK} | tail -1 | awk '{print $1" "$2}'`]),
    git,
  };
}

function report(results: ScenarioResult[], rss: Record<string, { idleMiB: number; peakMiB: number }> | undefined, env: Env, started: number): void {
  const rows: string[][] = [['scenario', 'unit', 'direct', 'nginx', 'proxy', 'proxy/direct', 'proxy/nginx', 'RSS start->peak', 'goals']];
  for (const r of results) {
    if (r.id === 'client-cost') continue;
    const g = r.goals.map((x) => `${x.pass === null ? '?' : x.pass ? 'PASS' : 'FAIL'} ${x.text}`).join('; ');
    rows.push([r.id, r.unit, fmt(r.median['direct'] ?? NaN), fmt(r.median['nginx'] ?? NaN), fmt(r.median['proxy'] ?? NaN), fmt(r.ratios['proxy/direct'] ?? NaN), fmt(r.ratios['proxy/nginx'] ?? NaN), r.id === 'cold-start' ? `fresh->${fmt(r.proxyPeakRssMiB['proxy-cold'] ?? NaN)}` : `${fmt(r.proxyRssAtStartMiB['proxy'] ?? NaN)}->${fmt(r.proxyPeakRssMiB['proxy'] ?? NaN)}`, g]);
  }
  console.log(`\n=== Medians of ${ROUNDS} alternating run(s) per target (ratios: >1 means the proxy is better; for seconds, inverted) ===`);
  console.log(table(rows));

  const lat = results.filter((r) => r.medianP99Ms);
  if (lat.length) {
    const lrows: string[][] = [['scenario', 'target', 'req/s', 'p50 ms', 'p99 ms', 'p99 - direct', 'cpu ms/req: proxy', 'nginx', 'registry', 'client']];
    for (const r of lat) {
      for (const t of r.targets) {
        const cpu = r.medianCpuS[t] ?? {};
        const reqs = median(r.runs.filter((x) => x.target === t && x.ok).map((x) => x.requests ?? NaN));
        const per = (g: string): string => (reqs > 0 && cpu[g] !== undefined ? ((1000 * cpu[g]!) / reqs).toFixed(3) : '-');
        const p99 = r.medianP99Ms?.[t] ?? NaN;
        const d = r.medianP99Ms?.['direct'] ?? NaN;
        lrows.push([r.id, t, fmt(r.median[t] ?? NaN), fmt(r.medianP50Ms?.[t] ?? NaN), fmt(p99), t === 'direct' ? '' : (p99 - d >= 0 ? '+' : '') + fmt(p99 - d), per('proxy'), per('nginx'), per('registry'), per('client')]);
      }
    }
    console.log('\n=== Request-rate scenarios: latency and CPU per request (medians) ===');
    console.log(table(lrows));
  }

  const crows: string[][] = [['scenario', 'target', 'value', 'client s', 'nginx s', 'proxy s', 'registry s', 'other s', 'wall s']];
  for (const r of results) {
    for (const t of r.targets) {
      const c = r.medianCpuS[t] ?? {};
      const wall = median(r.runs.filter((x) => x.target === t).map((x) => x.wallS));
      crows.push([r.id, t, fmt(r.median[t] ?? NaN), fmt(c['client'] ?? 0), fmt(c['nginx'] ?? 0), fmt(c['proxy'] ?? 0), fmt(c['registry'] ?? 0), fmt(r.medianOtherCpuS[t] ?? 0), fmt(wall)]);
    }
  }
  console.log('\n=== CPU seconds per run by component (medians; "other" = the rest of the machine, a noise gauge: 2 cores = 2 s per wall second) ===');
  console.log(table(crows));

  const warn = results.filter((r) => r.ratios['proxy-warn/proxy'] !== undefined);
  if (warn.length) {
    console.log('\n=== --log-level warn vs the default info ===');
    for (const r of warn) console.log(`${r.id}: proxy(info) ${fmt(r.median['proxy']!)} req/s, proxy(warn) ${fmt(r.median['proxy-warn']!)} req/s, warn/info ${fmt(r.ratios['proxy-warn/proxy']!)}`);
  }
  const tok = results.find((r) => r.id === 'token-manifest-get');
  if (tok?.summary) console.log(`\n=== token exchanges (token-auth scenario, proxy) ===\n${JSON.stringify(tok.summary)}`);
  const cold = results.find((r) => r.id === 'cold-start');
  if (cold?.summary) {
    console.log('\n=== cold start ===');
    for (const run of (cold.summary['runs'] as Record<string, unknown>[]) ?? []) {
      console.log(`${String(run['target']).padEnd(7)} ${fmt(run['seconds'] as number)} s, token exchanges ${run['tokenExchanges']}, upstream requests ${run['upstreamRequests']} ${JSON.stringify(run['upstream'])}${run['avoidable'] !== undefined ? `, avoidable ${run['avoidable']}` : ''}${run['target'] === 'proxy' ? `; proxy start-up: ${JSON.stringify(run['startupUpstream'])}` : ''}`);
    }
  }
  const cc = results.find((r) => r.id === 'client-cost');
  if (cc) {
    console.log('\n=== client cost (direct GET) ===');
    for (const t of cc.targets) console.log(`${t.padEnd(7)} ${fmt(cc.median[t] ?? NaN)} MiB/s, client CPU ${fmt(cc.medianCpuS[t]?.['client'] ?? NaN)} s per ${SIZES.mono / MiB} MiB`);
  }
  const allRss = results.flatMap((r) => Object.values(r.proxyPeakRssMiB));
  const peak = allRss.length ? Math.max(...allRss) : NaN;
  console.log('\n=== proxy peak RSS (VmHWM) ===');
  if (rss) {
    const peaks = Object.values(rss).map((v) => v.peakMiB);
    console.log(`one GET per blob size, a fresh proxy process each (idle -> peak MiB): ${Object.entries(rss).map(([k, v]) => `${k}: ${fmt(v.idleMiB)} -> ${fmt(v.peakMiB)}`).join(', ')}; peak spread across sizes ${fmt(Math.max(...peaks) - Math.min(...peaks))} MiB (goal: does not grow with blob size)`);
  }
  console.log(`peak over all scenarios (one long-lived process, shipped node flags: ${DEFAULT_PROXY_NODE_FLAGS.join(" ") || "none"}): ${fmt(peak)} MiB (goal <= 150 MiB: ${peak <= 150 ? 'PASS' : 'FAIL'})`);

  const durationS = round((Date.now() - started) / 1000, 1);
  const out = opts.out ?? join(RESULTS, QUICK ? 'latest-quick.json' : 'latest.json');
  mkdirSync(join(out, '..'), { recursive: true });
  const json = {
    generatedAt: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    mode: QUICK ? 'quick' : 'full',
    rounds: ROUNDS,
    durationS,
    sizesBytes: SIZES,
    environment: versions(),
    method: {
      alternation: 'per round: each target once, in the order listed; medians over rounds',
      cpu: 'utime+stime from /proc/<pid>/stat per component; client = curl/wrk/ab under /usr/bin/time plus the harness process; other = /proc/stat busy time not accounted to those',
      rss: 'VmHWM of the proxy process, reset through /proc/<pid>/clear_refs before each scenario',
      proxy: 'dist/cli.js, one process, --config with Connector+Secret documents, default --log-level info (log to a file on the work directory); proxy-warn = a second process with --log-level warn',
      nginx: '1 worker, proxy_buffering off, proxy_request_buffering off, keepalive 64 to each upstream, client_max_body_size 0, access_log buffered to a file',
      upstreamCounting: 'cold start: access log of a registry process used only by that scenario (same storage)',
    },
    scenarios: results,
    proxyPeakRssMiB: { overall: peak, bySingleGetSize: rss },
  };
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nJSON: ${out}`);
  console.log(`run time: ${durationS} s (${QUICK ? 'quick' : 'full'}, ${ROUNDS} round(s))`);
  void env;
}

// ---------------------------------------------------------------------------------------------
// Profiles and the semi-space sweep

async function profileMode(): Promise<void> {
  const env = await setUp(false, false);
  const blobUrl = (p: Proxy): string => `${p.url}/v2/bench/upload/blobs/${env.digests.mono}`;
  const t0 = performance.now();
  await ensureBlob(env.open.url, 'bench/upload', env.data, env.digests.mono);
  await ensureBlob(env.open.url, 'bench/upload', env.data.subarray(0, SIZES.concEach), env.digests.conc);
  console.log(`seeded ${SIZES.mono / MiB} MiB blob in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await stopProc(env.proxy.proc);
  proxies = [];
  mkdirSync(RESULTS, { recursive: true });
  const summaries: Record<string, unknown> = {};
  const manifestUrl = (p: Proxy): string => `${p.url}/v2/bench/image/manifests/v1`;

  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
  const profiled = async (name: string, title: string, args: string[], work: (p: Proxy, mark: () => void) => Promise<string>): Promise<void> => {
    const dir = join(WORK, `prof-${name}`);
    mkdirSync(dir);
    const p = await startProxy(`proxy-prof-${name}`, env.mainConfig, ['--default-connector', 'default/open', ...args], ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250']);
    let fromUs = 0;
    const what = await work(p, () => (fromUs = nowUs()));
    const toUs = nowUs();
    await stopProc(p.proc);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}: ${tail(p.proc.log)}`);
    const s = summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, `${title}\n${what}`, 25, fromUs ? { fromUs, toUs } : undefined);
    const txt = join(RESULTS, `profile-${name}.txt`);
    writeFileSync(txt, s.text);
    summaries[name] = { file: txt, busyMs: s.busyMs, categoriesSelf: s.categoriesSelf, categoriesOnStack: s.categoriesOnStack, top: s.top };
    console.log(`\n${s.text}\n(written to ${txt})`);
  };

  const profSec = QUICK ? 3 : 8;
  await profiled('manifest-get', 'proxy CPU profile: manifest GET (--log-level info, the default)', [], async (p, mark) => {
    await wrk(manifestUrl(p), { accept: MT.manifest }, 1);
    mark();
    const r = await wrk(manifestUrl(p), { accept: MT.manifest }, profSec);
    return `load: wrk -t1 -c${CONNS} -d${profSec}s GET ${manifestUrl(p).replace(p.url, '')} after a 1 s warm-up: ${fmt(r.rps)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms (profiler on, --cpu-prof-interval=250us)`;
  });
  await profiled('manifest-get-warn', 'proxy CPU profile: manifest GET with --log-level warn', ['--log-level', 'warn'], async (p, mark) => {
    await wrk(manifestUrl(p), { accept: MT.manifest }, 1);
    mark();
    const r = await wrk(manifestUrl(p), { accept: MT.manifest }, profSec);
    return `load: wrk -t1 -c${CONNS} -d${profSec}s, after a 1 s warm-up: ${fmt(r.rps)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms (profiler on)`;
  });
  const gets = QUICK ? 2 : 4;
  await profiled('blob-get', `proxy CPU profile: ${SIZES.mono / MiB} MiB blob GET`, [], async (p, mark) => {
    await curlGet(`${p.url}/v2/bench/upload/blobs/${env.digests.conc}`, {});
    mark();
    const speeds: string[] = [];
    for (let i = 0; i < gets; i++) {
      const r = await curlGet(blobUrl(p), {});
      speeds.push(fmt(SIZES.mono / MiB / r.seconds));
    }
    return `load: ${gets} sequential curl GETs of the ${SIZES.mono / MiB} MiB blob after one ${SIZES.concEach / MiB} MiB warm-up GET: ${speeds.join(', ')} MiB/s (profiler on)`;
  });

  // --max-semi-space-size sweep (and two combinations with --max-old-space-size): peak RSS and
  // speed of the same work per setting, each on a fresh proxy process.
  const settings: string[][] = QUICK
    ? [[], ['--max-semi-space-size=1'], ['--max-semi-space-size=2', '--max-old-space-size=96']]
    : [
        [],
        ['--max-semi-space-size=1'],
        ['--max-semi-space-size=2'],
        ['--max-semi-space-size=4'],
        ['--max-semi-space-size=8'],
        ['--max-semi-space-size=16'],
        ['--max-semi-space-size=32'],
        ['--max-semi-space-size=64'],
        ['--max-old-space-size=96'],
        ['--max-semi-space-size=2', '--max-old-space-size=96'],
      ];
  const rows: string[][] = [['node flags', 'idle RSS MiB', 'peak RSS MiB', 'end RSS MiB', 'blob GET MiB/s', `${SIZES.conc}x${SIZES.concEach / MiB} MiB GET MiB/s`, 'manifest GET req/s', 'proxy CPU s']];
  const sweep: Record<string, unknown>[] = [];
  const vmRss = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
  for (const flags of settings) {
    const v = flags.length ? flags.join(' ') : '(defaults)';
    const p = await startProxy(`proxy-flags-${sweep.length}`, env.mainConfig, ['--default-connector', 'default/open'], flags);
    await new Promise((r) => setTimeout(r, 500));
    const idle = round(vmRss(p.proc.pid) / MiB, 1);
    const c0 = procTicks(p.proc.pid) ?? 0;
    const g: number[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await curlGet(blobUrl(p), {});
      g.push(SIZES.mono / MiB / r.seconds);
    }
    const tc = performance.now();
    await Promise.all(Array.from({ length: SIZES.conc }, () => curlGet(`${p.url}/v2/bench/upload/blobs/${env.digests.conc}`, {})));
    const conc = (SIZES.conc * SIZES.concEach) / MiB / ((performance.now() - tc) / 1000);
    const w = await wrk(manifestUrl(p), { accept: MT.manifest }, QUICK ? 2 : 8);
    const cpu = ((procTicks(p.proc.pid) ?? 0) - c0) / CLK_TCK;
    const hwm = round((vmHwm(p.proc.pid) ?? NaN) / MiB, 1);
    const end = round(vmRss(p.proc.pid) / MiB, 1);
    await stopProc(p.proc);
    const row = { nodeFlags: v, idleRssMiB: idle, peakRssMiB: hwm, endRssMiB: end, blobGetMiBs: round(median(g), 0), concurrentMiBs: round(conc, 0), manifestRps: round(w.rps, 0), proxyCpuS: round(cpu, 2) };
    sweep.push(row);
    rows.push([v, fmt(idle), fmt(hwm), fmt(end), fmt(row.blobGetMiBs), fmt(row.concurrentMiBs), fmt(row.manifestRps), fmt(row.proxyCpuS)]);
    console.log(`node flags ${v}: ${JSON.stringify(row)}`);
  }
  const sweepText = `# V8 heap flags sweep (node flags before dist/cli.js), one fresh proxy per setting, in this order:
# 2 x ${SIZES.mono / MiB} MiB blob GET (curl), ${SIZES.conc} concurrent ${SIZES.concEach / MiB} MiB GETs, then wrk -t1 -c${CONNS} manifest GET for ${QUICK ? 2 : 8} s
# (RSS grows under request load: the longer manifest run shows it). idle = VmRSS 0.5 s after start;
# peak = VmHWM over the process life; end = VmRSS after the work. Single runs on 2 shared cores: expect noise.
${table(rows)}
`;
  writeFileSync(join(RESULTS, 'semi-space.txt'), sweepText);
  console.log(`\n${sweepText}`);
  writeFileSync(join(RESULTS, QUICK ? 'profile-quick.json' : 'profile.json'), JSON.stringify({ generatedAt: new Date().toISOString(), environment: versions(), profiles: summaries, semiSpace: sweep }, null, 2) + '\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`oci-connector-proxy benchmark: ${opts.profile ? 'profile' : QUICK ? 'quick' : 'full'} mode, ${ROUNDS} round(s), work directory on ${WORK}`);
  const load = readFileSync('/proc/loadavg', 'utf8').trim();
  console.log(`load average before start: ${load} (other work on the machine skews results; "other" CPU per run is reported)`);
  if (opts.profile) {
    await profileMode();
    console.log(`run time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return;
  }
  const env = await setUp(true, true);
  writeFileSync(join(WORK, 'blob-mono.bin'), env.data);
  const results: ScenarioResult[] = [];
  const all = scenarios(env);
  const wanted = all.filter((s) => !ONLY || ONLY.has(s.id));
  if (ONLY && wanted.length !== ONLY.size) throw new Error(`--only: unknown scenario; have ${all.map((s) => s.id).join(', ')}`);
  // GET scenarios read the blobs the upload scenarios write; seed them when those did not run.
  const needsBlobs = wanted.some((s) => s.id.startsWith('get-') || s.id === 'client-cost');
  for (const s of wanted) {
    if (s.id.startsWith('get-') || s.id === 'client-cost') {
      await ensureBlob(env.open.url, 'bench/upload', env.data, env.digests.mono);
      await ensureBlob(env.open.url, 'bench/upload', env.data.subarray(0, SIZES.concEach), env.digests.conc);
    }
    results.push(await runScenario(s));
  }
  let rss: Record<string, { idleMiB: number; peakMiB: number }> | undefined;
  if (needsBlobs) {
    await ensureBlob(env.open.url, 'bench/upload', env.data.subarray(0, SIZES.small), env.digests.small);
    rss = await rssBySize(env);
  }
  report(results, rss, env, started);
}

try {
  await main();
} catch (err) {
  console.error(`bench: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
