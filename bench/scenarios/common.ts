/** Targets, goals and helpers several scenarios share. */
import { MT } from '../../test/helpers/oci.ts';
import type { LoadResult } from '../lib/clients.ts';
import { endpoint, type Env } from '../lib/services.ts';
import type { ClientResult, Goal } from '../lib/types.ts';

/** The three targets of most scenarios, in the order they alternate. */
export const T3 = ['direct', 'nginx', 'proxy'];

/** T3 plus proxy-warn when that proxy runs. */
export const withWarn = (env: Env): string[] => (env.proxyWarn ? [...T3, 'proxy-warn'] : T3);

/** Goal check: median of `a` >= k x median of `b` (null when either is missing). */
export const ge =
  (a: string, b: string, k: number) =>
  (m: Record<string, number>): boolean | null =>
    m[a] === undefined || m[b] === undefined || !Number.isFinite(m[a]!) || !Number.isFinite(m[b]!) ? null : m[a]! >= k * m[b]!;

export const p99Goal: Goal = {
  text: 'proxy p99 - direct p99 <= 2 ms',
  check: (_m, s) => {
    const a = s.medianP99Ms?.['proxy'];
    const b = s.medianP99Ms?.['direct'];
    return a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) ? null : a - b <= 2;
  },
};

/** The goals of the request-rate scenarios at 32 connections. */
export const latencyGoals: Goal[] = [{ text: 'proxy >= 0.9 x nginx (req/s)', check: ge('proxy', 'nginx', 0.9) }, p99Goal];

/** The URL and headers of a manifest GET/HEAD of `repo`:v1 on the open upstream through `target`. */
export function manifestRequest(env: Env, target: string, repo = 'bench/image'): { url: string; headers: Record<string, string> } {
  const e = endpoint(env, target, 'open');
  return { url: `${e.origin}/v2/${e.prefix}${repo}/manifests/v1`, headers: { accept: MT.manifest, ...e.headers } };
}

/** A load run as a scenario result; a run without a single completed request is a failure. */
export function load(r: LoadResult): ClientResult {
  if (!(r.requests > 0)) throw new Error('no requests completed');
  return { value: r.rps, clientCpuS: r.cpuS, p50: r.p50, p99: r.p99, requests: r.requests, errors: r.errors };
}
