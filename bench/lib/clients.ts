/**
 * The external client tools: curl, wrk and ApacheBench, each run under /usr/bin/time to learn
 * its CPU time, and the parsing of their output.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CONNS, ROOT } from './constants.ts';

export interface Cmd {
  code: number | null;
  stdout: string;
  stderr: string;
  cpuS: number;
}

/** A load run's result: latencies in ms; errors = non-2xx/3xx responses + socket errors. */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  cpuS: number;
}

export interface CurlResult {
  status: number;
  bytes: number;
  seconds: number;
  cpuS: number;
}

export const headerArgs = (headers: Record<string, string>): string[] => Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);

/** User + system seconds from a `/usr/bin/time -f '%U %S'` output file (0 when missing). */
function readTime(file: string): number {
  let cpuS = 0;
  try {
    const last = readFileSync(file, 'utf8').trim().split('\n').pop() ?? '';
    const [u, s] = last.split(' ').map(Number);
    cpuS = (u ?? 0) + (s ?? 0);
    rmSync(file, { force: true });
  } catch {
    // no timing
  }
  return cpuS;
}

function unitMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 'ms' ? n : n * 1000;
}

/** The counts and latencies of `wrk --latency` output. */
function parseWrk(out: string): Omit<LoadResult, 'cpuS'> {
  const lat = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    return m ? unitMs(m[1]!, m[2]!) : NaN;
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
  };
}

/** Percentile to milliseconds from an `ab -e` CSV file (empty when missing). */
function readAbPercentiles(csv: string): Map<number, number> {
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
  return pcts;
}

function parseAb(out: string, pcts: Map<number, number>): Omit<LoadResult, 'cpuS'> {
  const failed = Number(/Failed requests:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pcts.get(50) ?? NaN,
    p99: pcts.get(99) ?? NaN,
    requests: Number(/Complete requests:\s+(\d+)/.exec(out)?.[1] ?? 0),
    errors: failed + non2xx,
  };
}

/** The client tools; their scratch files (timings, ab's CSV) go to `dir`. */
export class Clients {
  private readonly dir: string;
  private seq = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Runs a client tool under /usr/bin/time to learn its CPU time. */
  timed(cmd: string, args: string[], timeoutMs = 600_000): Promise<Cmd> {
    const tf = join(this.dir, `time-${this.seq++}.txt`);
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
        resolve({ code, stdout, stderr, cpuS: readTime(tf) });
      });
    });
  }

  /** One GET, the body to /dev/null. */
  async curlGet(url: string, headers: Record<string, string>): Promise<CurlResult> {
    const r = await this.timed('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', ...headerArgs(headers), url]);
    const [status, bytes, seconds] = r.stdout.trim().split(' ').map(Number);
    if (r.code !== 0) throw new Error(`curl GET ${url}: exit ${r.code} ${r.stderr}`);
    return { status: status ?? 0, bytes: bytes ?? 0, seconds: seconds ?? 0, cpuS: r.cpuS };
  }

  /** GET load; with `paths`, bench/wrk-paths.lua cycles over them (on the origin `url`). */
  async wrk(url: string, headers: Record<string, string>, seconds: number, paths?: string[], conns = CONNS): Promise<LoadResult> {
    const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--timeout', '10s', '--latency', ...headerArgs(headers)];
    if (paths) args.push('-s', join(ROOT, 'bench', 'wrk-paths.lua'), url, '--', ...paths);
    else args.push(url);
    const r = await this.timed('wrk', args);
    if (r.code !== 0) throw new Error(`wrk: exit ${r.code} ${r.stderr} ${r.stdout}`);
    return { ...parseWrk(r.stdout), cpuS: r.cpuS };
  }

  /** HEAD load: wrk 4.1 (Debian 12) waits for a body after a HEAD response, so ApacheBench (-i). */
  async abHead(url: string, headers: Record<string, string>, seconds: number): Promise<LoadResult> {
    const csv = join(this.dir, `ab-${this.seq++}.csv`);
    const r = await this.timed('ab', ['-q', '-k', '-i', '-c', String(CONNS), '-t', String(seconds), '-n', '100000000', '-s', '10', '-e', csv, ...headerArgs(headers), url]);
    if (r.code !== 0) throw new Error(`ab: exit ${r.code} ${r.stderr} ${r.stdout}`);
    return { ...parseAb(r.stdout, readAbPercentiles(csv)), cpuS: r.cpuS };
  }
}
