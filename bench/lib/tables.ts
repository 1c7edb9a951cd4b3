/** The printed tables: medians and ratios, latency and CPU per request, CPU per run, goals. */
import { ANCHORS } from './constants.ts';
import { fmt, median, table } from './numbers.ts';
import { cpuMsPerRequest, OWN } from './summary.ts';
import type { ScenarioResult } from './types.ts';

/**
 * The CPU key a table's proxy column reads for `target`: its own process (OWN) in a proxy row,
 * the group `proxy` (every proxy process) elsewhere.
 */
const proxyColumn = (r: ScenarioResult, target: string, group: string): string => (group === 'proxy' && r.medianCpuS[target]?.[OWN] !== undefined ? OWN : group);

/** A goal's outcome as printed. */
export interface GoalRow {
  scenario: string;
  text: string;
  pass: boolean | null;
  measured?: string;
}

const verdict = (pass: boolean | null): string => (pass === null ? '?' : pass ? 'met' : 'MISSED');

/** The targets a scenario's rows are about: its proxies (proxy-warn has its own section). */
const subjects = (r: ScenarioResult): string[] => r.targets.filter((t) => t.startsWith('proxy') && t !== 'proxy-warn');

function rssCell(r: ScenarioResult, p: string): string {
  if (r.id === 'cold-start') return `fresh->${fmt(r.proxyPeakRssMiB['proxy-cold'] ?? NaN)}`;
  return `${fmt(r.proxyRssAtStartMiB[p] ?? NaN)}->${fmt(r.proxyPeakRssMiB[p] ?? NaN)}`;
}

/** One row per scenario and proxy target: the medians, its ratios against direct and each anchor, the strongest anchor. */
export function mainTable(results: ScenarioResult[]): string {
  const head = [
    'scenario',
    'unit',
    'direct',
    ...ANCHORS,
    'proxy',
    'value',
    'p/direct',
    ...ANCHORS.map((a) => `p/${a}`),
    'strongest',
    'p/strongest',
    'RSS start->peak',
    'goals met',
  ];
  const rows: string[][] = [head];
  for (const r of results) {
    if (r.id === 'client-cost') continue;
    const met = r.goals.length ? `${r.goals.filter((g) => g.pass === true).length}/${r.goals.length}` : '-';
    const ps = subjects(r);
    ps.forEach((p, i) => {
      const ratio = (b: string): string => fmt(r.ratios[`${p}/${b}`] ?? NaN);
      rows.push([
        i === 0 ? r.id : '',
        i === 0 ? r.unit : '',
        fmt(r.median['direct'] ?? NaN),
        ...ANCHORS.map((a) => fmt(r.median[a] ?? NaN)),
        p,
        fmt(r.median[p] ?? NaN),
        ratio('direct'),
        ...ANCHORS.map(ratio),
        r.strongest?.target ?? '-',
        ratio('strongest'),
        rssCell(r, p),
        i === 0 ? met : '',
      ]);
    });
  }
  return table(rows);
}

/** Request-rate scenarios (those with latencies): p50, p99, and CPU ms per request by component. */
export function latencyTable(lat: ScenarioResult[]): string {
  const groups = ['proxy', ...ANCHORS, 'registry', 'client'];
  const rows: string[][] = [['scenario', 'target', 'req/s', 'p50 ms', 'p99 ms', 'p99 - direct', ...groups.map((g, i) => (i === 0 ? `cpu ms/req: ${g}` : g))]];
  for (const r of lat) {
    for (const t of r.targets) {
      const p99 = r.medianP99Ms?.[t] ?? NaN;
      const d = r.medianP99Ms?.['direct'] ?? NaN;
      const per = (group: string): string => {
        const g = proxyColumn(r, t, group);
        const v = cpuMsPerRequest(r, t, g);
        return Number.isFinite(v) && (r.medianCpuS[t]?.[g] ?? 0) > 0 ? v.toFixed(3) : '-';
      };
      rows.push([
        r.id,
        t,
        fmt(r.median[t] ?? NaN),
        fmt(r.medianP50Ms?.[t] ?? NaN),
        fmt(p99),
        t === 'direct' || !Number.isFinite(d) ? '' : (p99 - d >= 0 ? '+' : '') + fmt(p99 - d),
        ...groups.map(per),
      ]);
    }
  }
  return table(rows);
}

/** CPU seconds per run by component, each anchor its own; a proxy row's proxy column is its own process. */
export function cpuTable(results: ScenarioResult[]): string {
  const groups = ['client', ...ANCHORS, 'proxy', 'registry'];
  const rows: string[][] = [['scenario', 'target', 'value', ...groups.map((g) => `${g} s`), 'other s', 'wall s']];
  for (const r of results) {
    for (const t of r.targets) {
      const c = r.medianCpuS[t] ?? {};
      const wall = median(r.runs.filter((x) => x.target === t).map((x) => x.wallS));
      rows.push([r.id, t, fmt(r.median[t] ?? NaN), ...groups.map((g) => fmt(c[proxyColumn(r, t, g)] ?? 0)), fmt(r.medianOtherCpuS[t] ?? 0), fmt(wall)]);
    }
  }
  return table(rows);
}

/** Every goal, left-aligned (it is prose): the scenarios' and the run-wide ones. */
export function goalsTable(rows: GoalRow[]): string {
  const out: string[][] = [['scenario', 'goal', 'result', 'measured']];
  for (const g of rows) out.push([g.scenario, g.text, verdict(g.pass), g.measured ?? '']);
  const widths = out[0]!.map((_, i) => Math.max(...out.map((r) => r[i]!.length)));
  return out
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The scenarios' goals as rows. */
export const scenarioGoals = (results: ScenarioResult[]): GoalRow[] =>
  results.flatMap((r) => r.goals.map((g) => ({ scenario: r.id, text: g.text, pass: g.pass, ...(g.measured !== undefined ? { measured: g.measured } : {}) })));
