/**
 * Running a scenario: per round, each target once in the order listed (so slow drifts of the
 * machine hit all targets alike), each run measured between two /proc snapshots after the
 * quiet gate; one line printed per run.
 */
import { MiB } from './constants.ts';
import { fmt, round, round3 } from './numbers.ts';
import type { Processes } from './processes.ts';
import { OWN, summarise } from './summary.ts';
import { cpuBetween, type QuietGate, resetHwm, snap, vmHwm, vmRss } from './sampling.ts';
import type { ProxyProcess } from './servers.ts';
import type { ClientResult, Run, ScenarioResult, ScenarioSpec } from './types.ts';

export interface Runner {
  rounds: number;
  quiet: QuietGate;
  procs: Processes;
  /** The long-lived proxies whose peak RSS is reset and read per scenario. */
  proxies: ProxyProcess[];
}

/**
 * A run's CPU seconds by group, plus, for a proxy target, its own process's under OWN: the group
 * `proxy` also holds the other proxies, idle then but for their health checks and timers.
 */
function runCpu(s: ScenarioSpec, target: string, cpu: Record<string, number>, byName: Record<string, number>): Record<string, number> {
  const own = target.startsWith('proxy') ? byName[s.processOf?.(target) ?? target] : undefined;
  return own === undefined ? cpu : { ...cpu, [OWN]: own };
}

/** An error's message, cut to 500 characters. */
const message = (err: unknown): string => ((err as Error).message ?? String(err)).slice(0, 500);

async function measure(rn: Runner, s: ScenarioSpec, target: string, round: number, fn: () => Promise<ClientResult>): Promise<Run> {
  const waitedMs = await rn.quiet.wait();
  const a = snap(rn.procs.live);
  try {
    const r = await fn();
    const b = snap(rn.procs.live);
    const { cpu, byName, otherS, wallS } = cpuBetween(a, b, r.clientCpuS);
    const run: Run = { target, round, ok: true, value: r.value, wallS: round3(wallS), cpuS: runCpu(s, target, cpu, byName), otherCpuS: otherS, waitedMs };
    if (r.p50 !== undefined) run.p50Ms = round3(r.p50);
    if (r.p99 !== undefined) run.p99Ms = round3(r.p99);
    if (r.requests !== undefined) run.requests = r.requests;
    if (r.errors !== undefined) run.errors = r.errors;
    if (r.extra) run.extra = r.extra;
    return run;
  } catch (err) {
    const b = snap(rn.procs.live);
    const { cpu, otherS, wallS } = cpuBetween(a, b, 0);
    return { target, round, ok: false, error: message(err), value: NaN, wallS, cpuS: cpu, otherCpuS: otherS, waitedMs };
  }
}

function runLine(run: Run, unit: string): string {
  const cpu = Object.entries(run.cpuS)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
  const lat = run.p99Ms !== undefined ? ` p50 ${run.p50Ms?.toFixed(2)} ms p99 ${run.p99Ms.toFixed(2)} ms` : '';
  const err = run.errors ? ` ERRORS ${run.errors}` : '';
  const value = run.ok ? fmt(run.value).padStart(9) + ' ' + unit : 'FAILED: ' + run.error;
  const waited = run.waitedMs > 300 ? `, waited ${(run.waitedMs / 1000).toFixed(1)} s for quiet` : '';
  return `  r${run.round} ${run.target.padEnd(11)} ${value}${lat}${err}  | wall ${run.wallS.toFixed(2)} s, cpu s: ${cpu}, other ${run.otherCpuS.toFixed(2)}${waited}`;
}

/** One target's run: prepare, measure, finish. A run whose preparation failed is not measured but reported failed. */
async function runOne(rn: Runner, s: ScenarioSpec, t: string, r: number): Promise<Run> {
  try {
    await s.prepare?.(t);
  } catch (err) {
    return { target: t, round: r, ok: false, error: `prepare: ${message(err)}`, value: NaN, wallS: 0, cpuS: {}, otherCpuS: 0, waitedMs: 0 };
  }
  const run = await measure(rn, s, t, r, () => s.run(t));
  try {
    await s.finish?.(t, run);
  } catch (err) {
    run.extra = { ...run.extra, finishError: message(err) };
  }
  return run;
}

async function runRounds(rn: Runner, s: ScenarioSpec): Promise<Run[]> {
  const runs: Run[] = [];
  for (let r = 1; r <= Math.min(rn.rounds, s.rounds ?? rn.rounds); r++) {
    for (const t of s.targets) {
      const run = await runOne(rn, s, t, r);
      runs.push(run);
      console.log(runLine(run, s.unit));
    }
  }
  return runs;
}

/** Peak RSS (MiB) of the proxies among `targets`. */
function peakRss(proxies: ProxyProcess[], targets: string[]): Record<string, number> {
  const rss: Record<string, number> = {};
  for (const p of proxies) {
    const h = vmHwm(p.proc.pid);
    if (h !== undefined && targets.includes(p.name)) rss[p.name] = round(h / MiB, 1);
  }
  return rss;
}

/**
 * RSS (MiB) of the scenario's proxies at its start. The long-lived ones have their peak reset
 * first, so the peak read at the end is this scenario's; the scenario's own (fresh, started by
 * its setUp) keep theirs, which then covers their whole life, set-up included.
 */
function rssAtStart(rn: Runner, s: ScenarioSpec): Record<string, number> {
  const start: Record<string, number> = {};
  for (const p of rn.proxies) {
    resetHwm(p.proc.pid);
    if (s.targets.includes(p.name)) start[p.name] = round((vmHwm(p.proc.pid) ?? NaN) / MiB, 1);
  }
  for (const p of s.proxies?.() ?? []) start[p.name] = round(vmRss(p.proc.pid) / MiB, 1);
  return start;
}

/** The warm-ups of each target; one that fails is reported and the runs go on (they fail too, if it matters). */
async function warmUp(s: ScenarioSpec): Promise<void> {
  for (const t of s.targets) {
    try {
      await s.warmup?.(t);
    } catch (err) {
      console.log(`  warm-up of ${t} failed: ${message(err)}`);
    }
  }
}

/** Runs scenario `id`: its setUp, the warm-ups, the rounds, its tearDown; a failed setUp is reported as the scenario's error. */
export async function runScenario(rn: Runner, id: string, s: ScenarioSpec): Promise<ScenarioResult> {
  const t0 = performance.now();
  console.log(`\n== ${id}: ${s.title} [${s.unit}, ${s.higherIsBetter ? 'higher' : 'lower'} is better; client: ${s.client}]`);
  try {
    try {
      await s.setUp?.();
    } catch (err) {
      const error = `set-up failed: ${message(err)}`;
      console.log(`  ${error}`);
      return { ...summarise(id, { ...s, summary: undefined }, [], { start: {}, peak: {} }, t0), error };
    }
    const rssStart = rssAtStart(rn, s);
    await warmUp(s);
    const runs = await runRounds(rn, s);
    return summarise(id, s, runs, { start: rssStart, peak: peakRss([...rn.proxies, ...(s.proxies?.() ?? [])], s.targets) }, t0);
  } finally {
    await s.tearDown?.();
  }
}
