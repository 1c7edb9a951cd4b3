/** The shapes shared by the scenarios, the runner and the report. */
import type { Clients } from './clients.ts';
import type { Options } from './options.ts';
import type { Processes } from './processes.ts';
import type { ProxyProcess } from './servers.ts';
import type { Env } from './services.ts';

/** What a scenario's run() measured for one target. */
export interface ClientResult {
  value: number;
  /** CPU time of external client tools (this process's own is added by the runner). */
  clientCpuS: number;
  p50?: number;
  p99?: number;
  requests?: number;
  errors?: number;
  extra?: Record<string, unknown>;
}

/** One measured run: a target in a round; written to the JSON as is. */
export interface Run {
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

export interface Goal {
  text: string;
  /** null: cannot tell (a value is missing). */
  check: (med: Record<string, number>, s: ScenarioResult) => boolean | null;
  /** What was measured against it, for the goals table (e.g. 'proxy/haproxy 1.12'). */
  measured?: (med: Record<string, number>, s: ScenarioResult) => string;
}

/** Everything a scenario may use: the options, the started services and the client tools. */
export interface Bench {
  opts: Options;
  procs: Processes;
  clients: Clients;
  env: Env;
}

/** A scenario as run: built for one benchmark run, so it may keep state across its runs. */
export interface ScenarioSpec {
  title: string;
  unit: string;
  higherIsBetter: boolean;
  targets: string[];
  goals: Goal[];
  client: string;
  /** Rounds for this scenario when not the global number. */
  rounds?: number;
  /** Before the warm-ups, not measured: starts what only this scenario uses. */
  setUp?: () => Promise<void>;
  /** After the last run, also when one failed: stops what setUp started. */
  tearDown?: () => Promise<void>;
  /** Proxies only this scenario runs (started by setUp): their peak RSS is reported too. */
  proxies?: () => ProxyProcess[];
  /** More ratios to compute, [a, b] as `a/b` (> 1: a is better), besides each proxy against direct and the anchors. */
  compare?: [string, string][];
  /** The name of the proxy process serving a proxy target, when it is not the target's own name. */
  processOf?: (target: string) => string;
  warmup?: (target: string) => Promise<void>;
  prepare?: (target: string) => Promise<void>;
  finish?: (target: string, run: Run) => Promise<void>;
  run: (target: string) => Promise<ClientResult>;
  summary?: () => Record<string, unknown>;
}

/** A scenario module's export: its id (the --only name) and how to build it for a run. */
export interface Scenario {
  id: string;
  build: (b: Bench) => ScenarioSpec;
}

/** A scenario's results; written to the JSON as is. */
export interface ScenarioResult {
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
  /** The anchor with the best median (highest, or lowest for a lower-is-better unit), if the scenario has any. */
  strongest?: { target: string; median: number };
  proxyPeakRssMiB: Record<string, number>;
  /** The proxy's RSS when the scenario began: the process keeps what earlier scenarios grew. */
  proxyRssAtStartMiB: Record<string, number>;
  goals: { text: string; pass: boolean | null; measured?: string }[];
  summary?: Record<string, unknown>;
  /** Why the scenario did not run (its setUp failed). */
  error?: string;
  seconds: number;
}

/** Peak RSS of a fresh proxy during one GET per blob size, by size label. */
export type RssBySize = Record<string, { startupMiB: number; idleMiB: number; idleAnonMiB: number; peakMiB: number }>;
