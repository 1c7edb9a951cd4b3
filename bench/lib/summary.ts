/** A scenario's runs summarised: medians per target, ratios against direct and the anchors, goals. */
import { ANCHORS, PEER_ANCHORS } from './constants.ts';
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

/** The peer anchor with the best median among the scenario's targets (none when no peer has one). */
function strongestOf(s: ScenarioSpec, med: Record<string, number>): { target: string; median: number } | undefined {
  let best: { target: string; median: number } | undefined;
  for (const a of PEER_ANCHORS) {
    const v = med[a];
    if (!s.targets.includes(a) || v === undefined || !Number.isFinite(v)) continue;
    if (!best || (s.higherIsBetter ? v > best.median : v < best.median)) best = { target: a, median: v };
  }
  return best;
}

/**
 * Each proxy target (proxy*) against direct, each anchor and the strongest anchor, and the
 * scenario's `compare` pairs: > 1 means the first is better (for a lower-is-better unit the
 * quotient is inverted).
 */
function ratios(s: ScenarioSpec, med: Record<string, number>, strongest: number | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (key: string, a: number | undefined, b: number | undefined): void => {
    if (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b)) out[key] = round3(s.higherIsBetter ? a / b : b / a);
  };
  for (const p of s.targets.filter((t) => t.startsWith('proxy'))) {
    for (const base of ['direct', ...ANCHORS]) put(`${p}/${base}`, med[p], med[base]);
    put(`${p}/strongest`, med[p], strongest);
  }
  for (const [a, b] of s.compare ?? []) put(`${a}/${b}`, med[a], med[b]);
  return out;
}

/**
 * The per-round ratios `a/b` (> 1: a is better) of the rounds where both ran: for two targets
 * measured back to back in each round, what the machine's drift between rounds does not move.
 */
export function pairedRatios(s: ScenarioResult, a: string, b: string): number[] {
  const value = (t: string, round: number): number | undefined => s.runs.find((r) => r.target === t && r.round === round && r.ok)?.value;
  const out: number[] = [];
  for (const round of new Set(s.runs.map((r) => r.round))) {
    const [x, y] = [value(a, round), value(b, round)];
    if (x !== undefined && y !== undefined && x > 0 && y > 0) out.push(s.higherIsBetter ? x / y : y / x);
  }
  return out;
}

/**
 * The cpuS key of a proxy target's own process (runner.ts): what its requests cost, without the
 * background work of the other proxies that share the group `proxy`.
 */
export const OWN = 'own';

/** CPU milliseconds of component `group` per request in `target`'s runs (median CPU / median requests); NaN without. */
export function cpuMsPerRequest(r: ScenarioResult, target: string, group: string): number {
  const reqs = median(r.runs.filter((x) => x.target === target && x.ok).map((x) => x.requests ?? NaN));
  const cpu = r.medianCpuS[target]?.[group];
  return reqs > 0 && cpu !== undefined ? (1000 * cpu) / reqs : NaN;
}

/**
 * The result of scenario `id` (key order as written to the JSON). The summary comes before the
 * goals, which may read it; a summary's proxyPeakRssMiB (fresh processes) joins the table's.
 */
export function summarise(id: string, s: ScenarioSpec, runs: Run[], rss: { start: Record<string, number>; peak: Record<string, number> }, t0: number): ScenarioResult {
  const m = medians(s.targets, runs);
  const strongest = strongestOf(s, m.med);
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
    ratios: ratios(s, m.med, strongest?.median),
    ...(strongest ? { strongest: { target: strongest.target, median: round(strongest.median, 2) } } : {}),
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
  result.goals = s.goals.map((g) => {
    const measured = g.measured?.(m.med, result);
    return { text: g.text, pass: g.check(m.med, result), ...(measured !== undefined ? { measured } : {}) };
  });
  return result;
}
