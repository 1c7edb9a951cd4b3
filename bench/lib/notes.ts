/** The printed sections about single scenarios (log level, tokens, cold start, cache, scale, client cost) and about peak RSS. */
import { MiB } from './constants.ts';
import { fmt, median, mib } from './numbers.ts';
import type { Options } from './options.ts';
import { defaultProxyNodeFlags } from './servers.ts';
import { pairedRatios } from './summary.ts';
import type { GoalRow } from './tables.ts';
import type { RssBySize, ScenarioResult } from './types.ts';

const find = (results: ScenarioResult[], id: string): ScenarioResult | undefined => results.find((r) => r.id === id);

function printWarn(results: ScenarioResult[]): void {
  const warn = results.filter((r) => r.ratios['proxy-warn/proxy'] !== undefined);
  if (!warn.length) return;
  console.log('\n=== --log-level warn vs the default info ===');
  for (const r of warn)
    console.log(`${r.id}: proxy(info) ${fmt(r.median['proxy']!)} req/s, proxy(warn) ${fmt(r.median['proxy-warn']!)} req/s, warn/info ${fmt(r.ratios['proxy-warn/proxy']!)}`);
}

function printColdStart(cold: ScenarioResult | undefined): void {
  if (!cold?.summary) return;
  console.log('\n=== cold start ===');
  for (const run of (cold.summary['runs'] as Record<string, unknown>[]) ?? []) {
    const avoidable = run['avoidable'] !== undefined ? `, avoidable ${run['avoidable']}` : '';
    const startup = run['target'] === 'proxy' ? `; proxy start-up: ${JSON.stringify(run['startupUpstream'])}` : '';
    console.log(
      `${String(run['target']).padEnd(11)} ${fmt(run['seconds'] as number)} s, token exchanges ${run['tokenExchanges']}, upstream requests ${run['upstreamRequests']} ${JSON.stringify(run['upstream'])}${avoidable}${startup}`,
    );
  }
}

/** What proxy-cache's /metrics and the registry's access log said about each cache scenario. */
function printCache(results: ScenarioResult[]): void {
  const cache = results.filter((r) => r.id.startsWith('cache-') && r.summary);
  if (!cache.length) return;
  console.log('\n=== pull-through cache (proxy-cache, from its /metrics) ===');
  for (const r of cache) {
    if (r.id === 'cache-cold-concurrent') {
      for (const x of (r.summary!['runs'] as Record<string, unknown>[]) ?? []) {
        const m = x['upstreamBytesMetrics'] !== undefined ? `metrics ${x['upstreamBytesMetrics']} B (${fmt(x['ratioMetrics'] as number)} x), ` : '';
        console.log(
          `${r.id} r${x['round']} ${String(x['target']).padEnd(11)} upstream served ${m}access log ${x['upstreamBytesLog']} B (${fmt(x['ratioLog'] as number)} x the ${mib(x['blobBytes'] as number)} blob) in ${JSON.stringify(x['upstreamRequestsLog'])}${x['cacheResults'] ? `; cache results ${JSON.stringify(x['cacheResults'])}` : ''}`,
        );
      }
      continue;
    }
    const runs = (r.summary!['proxyCacheRuns'] as unknown[]) ?? [];
    const hits = r.summary!['allHits'] !== undefined ? ` (all from the store, no upstream bytes: ${r.summary!['allHits'] ? 'yes' : 'NO'})` : '';
    console.log(`${r.id}: per proxy-cache run ${runs.map((x) => JSON.stringify(x)).join(', ')}${hits}`);
  }
}

function printScale(scale: ScenarioResult | undefined): void {
  if (!scale?.summary) return;
  const s = scale.summary;
  const fill = s['tokenFill'] as Record<string, unknown> | undefined;
  console.log(`\n=== scale (${scale.id}) ===`);
  if (s['tokensNote']) console.log(String(s['tokensNote']));
  if (fill)
    console.log(
      `set-up: ${s['connectors']} connectors, ${fill['requests']} token-scoped requests ${fill['concurrency']} at a time in ${fill['seconds']} s (${fill['exchanges']} token exchanges; statuses ${JSON.stringify(fill['statuses'])}; cpu s ${JSON.stringify(fill['cpuS'])}); whole set-up ${s['setupS']} s`,
    );
  for (const [k, v] of Object.entries(scale.ratios)) {
    const [a, b] = k.split('/') as [string, string];
    const paired = pairedRatios(scale, a, b);
    console.log(`${k} = ${fmt(v)} (ratio of the medians); per round ${paired.map(fmt).join(', ')}, median ${fmt(median(paired))}`);
  }
}

/** The sections about single scenarios. */
export function printScenarioNotes(results: ScenarioResult[], opts: Options): void {
  printWarn(results);
  const tok = find(results, 'token-manifest-get');
  if (tok?.summary) console.log(`\n=== token exchanges (token-auth scenario, proxy) ===\n${JSON.stringify(tok.summary)}`);
  printColdStart(find(results, 'cold-start'));
  printCache(results);
  printScale(find(results, 'manifest-get-1000'));
  const cc = find(results, 'client-cost');
  if (cc) {
    console.log('\n=== client cost (direct GET) ===');
    for (const t of cc.targets)
      console.log(`${t.padEnd(7)} ${fmt(cc.median[t] ?? NaN)} MiB/s, client CPU ${fmt(cc.medianCpuS[t]?.['client'] ?? NaN)} s per ${opts.sizes.mono / MiB} MiB`);
  }
}

/** Each proxy process's peak over the scenarios it took part in (MiB). */
export function peaksByProcess(results: ScenarioResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.proxyPeakRssMiB)) if (Number.isFinite(v)) out[k] = Math.max(out[k] ?? 0, v);
  return out;
}

/** Prints the proxy peak RSS section; returns the run-wide RSS goals and the overall peak (MiB). */
export function printRss(results: ScenarioResult[], rss: RssBySize | undefined): { peak: number; goals: GoalRow[] } {
  const byProc = peaksByProcess(results);
  const peaks = Object.values(byProc);
  const peak = peaks.length ? Math.max(...peaks) : NaN;
  console.log('\n=== proxy peak RSS (VmHWM) ===');
  const goals: GoalRow[] = [];
  if (rss) {
    const sizePeaks = Object.values(rss).map((v) => v.peakMiB);
    const idle = Math.max(...Object.values(rss).map((v) => v.idleMiB));
    const each = Object.entries(rss)
      .map(([k, v]) => `${k}: ${fmt(v.startupMiB)} / ${fmt(v.idleMiB)} (anonymous ${fmt(v.idleAnonMiB)}) -> ${fmt(v.peakMiB)}`)
      .join(', ');
    console.log(
      `one GET per blob size, a fresh proxy process each (start-up peak 0.5 s after start / at rest 5 s after start -> peak during the GET, MiB): ${each}; peak spread across sizes ${fmt(Math.max(...sizePeaks) - Math.min(...sizePeaks))} MiB (goal: does not grow with blob size)`,
    );
    goals.push({
      scenario: '(run)',
      text: 'idle RSS <= 80 MiB (a fresh proxy at rest, 5 s after start)',
      pass: Number.isFinite(idle) ? idle <= 80 : null,
      measured: `${fmt(idle)} MiB`,
    });
  }
  const each = Object.entries(byProc)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');
  const flags = defaultProxyNodeFlags().join(' ') || 'none';
  console.log(`peak over all scenarios (shipped node flags: ${flags}): ${fmt(peak)} MiB; by process: ${each}`);
  goals.push({
    scenario: '(run)',
    text: 'peak RSS <= 150 MiB over every scenario (every proxy process)',
    pass: Number.isFinite(peak) ? peak <= 150 : null,
    measured: `${fmt(peak)} MiB`,
  });
  return { peak, goals };
}
