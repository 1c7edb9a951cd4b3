/**
 * What the benchmark reads from /proc: CPU time of each component (/proc/<pid>/stat) and of the
 * whole machine (/proc/stat), peak RSS (VmHWM) and its reset, and the quiet gate that waits for
 * the machine to be idle before a run.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { round } from './numbers.ts';
import type { Sampled } from './processes.ts';

let clkTckCached: number | undefined;

/** Clock ticks per second, the unit of /proc CPU times. */
export function clkTck(): number {
  clkTckCached ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clkTckCached;
}

/** The fields of /proc/<pid>/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime + stime of a process, in ticks. */
export function procTicks(pid: number): number | undefined {
  const rest = statFields(pid);
  return rest === undefined ? undefined : Number(rest[11]) + Number(rest[12]);
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const ppid = statFields(Number(d))?.[1];
    if (ppid !== undefined && Number(ppid) === pid) out.push(Number(d));
  }
  return out;
}

/** Busy ticks of the whole machine, all cores. */
export function systemBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
}

export interface Snap {
  t: number;
  busy: number;
  self: NodeJS.CpuUsage;
  pids: Map<number, { group: string; name: string; ticks: number }>;
}

export function snap(live: readonly Sampled[]): Snap {
  const pids = new Map<number, { group: string; name: string; ticks: number }>();
  for (const l of live) {
    const t = procTicks(l.pid);
    if (t !== undefined) pids.set(l.pid, { group: l.group, name: l.name, ticks: t });
  }
  return { t: performance.now(), busy: systemBusyTicks(), self: process.cpuUsage(), pids };
}

/**
 * CPU seconds per group between two snapshots; `client` is the external client tools' time
 * plus this process's; `otherS` is the machine's busy time not accounted to any of them.
 * `byName`: CPU seconds per sampled process name (a group can hold several processes: every
 * proxy is in `proxy`).
 */
export function cpuBetween(a: Snap, b: Snap, externalClientS: number): { cpu: Record<string, number>; byName: Record<string, number>; otherS: number; wallS: number } {
  const tck = clkTck();
  const cpu: Record<string, number> = {};
  const byName: Record<string, number> = {};
  for (const [pid, e] of b.pids) {
    const before = a.pids.get(pid);
    if (!before) continue;
    const s = (e.ticks - before.ticks) / tck;
    cpu[e.group] = (cpu[e.group] ?? 0) + s;
    byName[e.name] = (byName[e.name] ?? 0) + s;
  }
  const self = process.cpuUsage(a.self);
  cpu['client'] = externalClientS + (self.user + self.system) / 1e6;
  const ours = Object.values(cpu).reduce((x, y) => x + y, 0);
  const busy = (b.busy - a.busy) / tck;
  for (const k of Object.keys(cpu)) cpu[k] = round(cpu[k]!, 3);
  for (const k of Object.keys(byName)) byName[k] = round(byName[k]!, 3);
  return { cpu, byName, otherS: round(Math.max(0, busy - ours), 3), wallS: (b.t - a.t) / 1000 };
}

// Peak RSS: VmHWM, reset per scenario through /proc/<pid>/clear_refs (5 = reset the peak)

export function vmHwm(pid: number): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

export function resetHwm(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // older kernels: the peak then covers the whole process life
  }
}

/** Current RSS in bytes (NaN when the line is missing; throws when the process is gone). */
export function vmRss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
}

/** The anonymous part of a process's RSS (heap, stacks, malloc), without file pages; bytes. */
export function anonRss(pid: number): number {
  return Number(/^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN) * 1024;
}

const QUIET_BUSY = 0.25; // fraction of all cores

/**
 * Quiet gate: other work on the machine (other test suites, builds) skews a run. Before each run,
 * wait until the machine is nearly idle (all benchmark processes are idle between runs), up to
 * 10 s per run and 20 s in all (5 s with --quick); the time waited and the CPU used by others
 * during the run are recorded either way.
 */
export class QuietGate {
  private budgetMs: number;
  private readonly enabled: boolean;

  constructor(quick: boolean, enabled: boolean) {
    this.budgetMs = quick ? 5_000 : 20_000;
    this.enabled = enabled;
  }

  /** Waits for quiet; returns the milliseconds waited. */
  async wait(): Promise<number> {
    if (!this.enabled) return 0;
    const t0 = performance.now();
    const ncpu = cpus().length;
    while (true) {
      const a = systemBusyTicks();
      await new Promise((r) => setTimeout(r, 200));
      const busy = (systemBusyTicks() - a) / clkTck() / 0.2 / ncpu;
      const waited = performance.now() - t0;
      if (busy <= QUIET_BUSY || waited >= Math.min(10_000, this.budgetMs)) {
        this.budgetMs = Math.max(0, this.budgetMs - waited);
        return Math.round(waited);
      }
    }
  }
}
