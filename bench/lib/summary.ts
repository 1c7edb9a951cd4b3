/** A scenario's runs summarised: medians per target, ratios against the baselines, goals. */
import { median, round, round3 } from './numbers.ts';
import type { Run, ScenarioResult, ScenarioSpec } from './types.ts';

interface Medians {
  med: Record<string, number>;
  p50: Record<string, number>;
  p99: Record<string, number>;
  cpu: Record<string, Record<string, number>>;
  other: Record<string, number>;
  /** Whether any run reported latencies. */
  hasLat: boolean;
}

/** Medians over the successful runs of each target. */
function medians(targets: string[], runs: Run[]): Medians {
  const m: Medians = { med: {}, p50: {}, p99: {}, cpu: {}, other: {}, hasLat: false };
  for (const t of targets) {
    const rs = runs.filter((r) => r.target === t && r.ok);
    m.med[t] = median(rs.map((r) => r.value));
    if (rs.some((r) => r.p99Ms !== undefined)) {
      m.hasLat = true;
      m.p50[t] = round3(median(rs.map((r) => r.p50Ms ?? NaN)));
      m.p99[t] = round3(median(rs.map((r) => r.p99Ms ?? NaN)));
    }
    const groups = new Set(rs.flatMap((r) => Object.keys(r.cpuS)));
    const cpu: Record<string, number> = {};
    for (const g of groups) cpu[g] = round3(median(rs.map((r) => r.cpuS[g] ?? 0)));
    m.cpu[t] = cpu;
    m.other[t] = round3(median(rs.map((r) => r.otherCpuS)));
  }
  return m;
}

/** Each proxy target against direct and nginx, and proxy-warn/proxy: > 1 means the first is better. */
function ratios(s: ScenarioSpec, med: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  const better = (a: number, b: number): number => (s.higherIsBetter ? a / b : b / a);
  for (const p of s.targets.filter((t) => t.startsWith('proxy'))) {
    for (const base of ['direct', 'nginx']) {
      if (med[p] !== undefined && med[base] !== undefined) out[`${p}/${base}`] = round3(better(med[p]!, med[base]!));
    }
  }
  if (med['proxy-warn'] !== undefined && med['proxy'] !== undefined) out['proxy-warn/proxy'] = round3(better(med['proxy-warn']!, med['proxy']!));
  return out;
}

/**
 * The result of scenario `id` (key order as written to the JSON). The summary comes before the
 * goals, which may read it; a summary's proxyPeakRssMiB (fresh processes) joins the table's.
 */
export function summarise(id: string, s: ScenarioSpec, runs: Run[], rss: { start: Record<string, number>; peak: Record<string, number> }, t0: number): ScenarioResult {
  const m = medians(s.targets, runs);
  const result: ScenarioResult = {
    id,
    title: s.title,
    unit: s.unit,
    higherIsBetter: s.higherIsBetter,
    client: s.client,
    targets: s.targets,
    runs,
    median: Object.fromEntries(Object.entries(m.med).map(([k, v]) => [k, round(v, 2)])),
    medianCpuS: m.cpu,
    medianOtherCpuS: m.other,
    ratios: ratios(s, m.med),
    proxyPeakRssMiB: rss.peak,
    proxyRssAtStartMiB: rss.start,
    goals: [],
    seconds: round((performance.now() - t0) / 1000, 1),
  };
  if (m.hasLat) {
    result.medianP50Ms = m.p50;
    result.medianP99Ms = m.p99;
  }
  if (s.summary) result.summary = s.summary();
  Object.assign(result.proxyPeakRssMiB, (result.summary?.['proxyPeakRssMiB'] as Record<string, number> | undefined) ?? {});
  result.goals = s.goals.map((g) => ({ text: g.text, pass: g.check(m.med, result) }));
  return result;
}
