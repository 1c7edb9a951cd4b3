/** Targets, goals and helpers several scenarios share. */
import { MT } from '../../test/helpers/oci.ts';
import type { LoadResult } from '../lib/clients.ts';
import { ANCHORS, MiB } from '../lib/constants.ts';
import { fmt, median } from '../lib/numbers.ts';
import { endpoint, type Env } from '../lib/services.ts';
import { cpuMsPerRequest, OWN, pairedRatios } from '../lib/summary.ts';
import type { Bench, ClientResult, Goal, ScenarioResult } from '../lib/types.ts';

/** The targets of most scenarios, in the order they alternate: direct, the anchors, the proxy. */
export const ANCHORED: string[] = ['direct', ...ANCHORS, 'proxy'];

/** ANCHORED plus proxy-warn when that proxy runs. */
export const withWarn = (env: Env): string[] => (env.proxyWarn ? [...ANCHORED, 'proxy-warn'] : ANCHORED);

/** The ratio `a/b` of a result (> 1: a is better), undefined when either median is missing. */
const ratioOf = (s: ScenarioResult, a: string, b: string): number | undefined => {
  const r = s.ratios[`${a}/${b}`];
  return r !== undefined && Number.isFinite(r) ? r : undefined;
};

/**
 * Goal: `a` >= k x `b` by the direction of the unit (for seconds: takes at most 1/k the time);
 * `b` may be 'strongest', the best anchor of the scenario.
 */
export function atLeast(a: string, b: string, k: number): Goal {
  const what = b === 'strongest' ? 'the strongest anchor' : b;
  return {
    text: `${a} >= ${k.toFixed(2).replace(/0$/, '')} x ${what}`,
    check: (m, s) => {
      const base = b === 'strongest' ? s.strongest?.target : b;
      const x = m[a];
      const y = base === undefined ? undefined : m[base];
      if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) return null;
      return s.higherIsBetter ? x >= k * y : x * k <= y;
    },
    measured: (_m, s) => {
      const r = ratioOf(s, a, b);
      return r === undefined ? 'n/a' : `${a}/${b === 'strongest' ? (s.strongest?.target ?? '?') : b} = ${fmt(r)}`;
    },
  };
}

/** Goal: the median of the per-round ratios `a/b` (pairedRatios) is at least k. */
export function pairedAtLeast(a: string, b: string, k: number): Goal {
  return {
    text: `${a} >= ${k.toFixed(2).replace(/0$/, '')} x ${b} (median of the per-round ratios)`,
    check: (_m, s) => {
      const r = pairedRatios(s, a, b);
      return r.length ? median(r) >= k : null;
    },
    measured: (_m, s) => {
      const r = pairedRatios(s, a, b);
      const ofMedians = ratioOf(s, a, b);
      return r.length ? `${fmt(median(r))} (rounds: ${r.map(fmt).join(', ')}; ratio of the medians ${ofMedians === undefined ? 'n/a' : fmt(ofMedians)})` : 'n/a';
    },
  };
}

/** Goal: the p99 `target` adds over direct's, in ms, is at most `ms`. */
export function p99Added(ms: number, target = 'proxy'): Goal {
  const added = (s: ScenarioResult): number | undefined => {
    const a = s.medianP99Ms?.[target];
    const b = s.medianP99Ms?.['direct'];
    return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) ? undefined : a - b;
  };
  return {
    text: `${target} p99 - direct p99 <= ${ms} ms`,
    check: (_m, s) => {
      const d = added(s);
      return d === undefined ? null : d <= ms;
    },
    measured: (_m, s) => {
      const d = added(s);
      return d === undefined ? 'n/a' : `${d >= 0 ? '+' : ''}${fmt(d)} ms`;
    },
  };
}

/** Goal: the CPU per request of the proxy process itself in its runs, in ms, is at most `ms`. */
export function proxyCpuPerRequest(ms: number): Goal {
  return {
    text: `proxy CPU per request <= ${ms} ms`,
    check: (_m, s) => {
      const v = cpuMsPerRequest(s, 'proxy', OWN);
      return Number.isFinite(v) ? v <= ms : null;
    },
    measured: (_m, s) => `${fmt(cpuMsPerRequest(s, 'proxy', OWN))} ms`,
  };
}

/** The goals of the manifest GET and HEAD scenarios at 32 connections. */
export const latencyGoals: Goal[] = [atLeast('proxy', 'strongest', 0.9), p99Added(2), proxyCpuPerRequest(0.3)];

/** The URL and headers of a manifest GET/HEAD of `repo`:`ref` on the open upstream through `target`. */
export function manifestRequest(env: Env, target: string, repo = 'bench/image', ref = 'v1'): { url: string; headers: Record<string, string> } {
  const e = endpoint(env, target, 'open');
  return { url: `${e.origin}/v2/${e.prefix}${repo}/manifests/${ref}`, headers: { accept: MT.manifest, ...e.headers } };
}

/** GETs one blob of bench/upload on open through `target`; MiB/s by curl's own transfer time. */
export async function blobGet({ clients, env }: Bench, target: string, digest: string, size: number): Promise<ClientResult> {
  const e = endpoint(env, target, 'open');
  const r = await clients.curlGet(`${e.origin}/v2/${e.prefix}bench/upload/blobs/${digest}`, e.headers);
  if (r.status !== 200 || r.bytes !== size) throw new Error(`GET: status ${r.status}, ${r.bytes} bytes`);
  return { value: size / MiB / r.seconds, clientCpuS: r.cpuS };
}

/** A load run as a scenario result; a run without a single completed request is a failure. */
export function load(r: LoadResult): ClientResult {
  if (!(r.requests > 0)) throw new Error('no requests completed');
  return { value: r.rps, clientCpuS: r.cpuS, p50: r.p50, p99: r.p99, requests: r.requests, errors: r.errors };
}
