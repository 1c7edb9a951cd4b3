/** The printed tables after all scenarios ran, and the same results as JSON. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MiB, RESULTS } from './constants.ts';
import { versions } from './environment.ts';
import { fmt, median, round, table } from './numbers.ts';
import type { Options } from './options.ts';
import { defaultProxyNodeFlags } from './servers.ts';
import type { RssBySize, ScenarioResult } from './types.ts';

function mainTable(results: ScenarioResult[]): string {
  const rows: string[][] = [['scenario', 'unit', 'direct', 'nginx', 'proxy', 'proxy/direct', 'proxy/nginx', 'RSS start->peak', 'goals']];
  for (const r of results) {
    if (r.id === 'client-cost') continue;
    const g = r.goals.map((x) => `${x.pass === null ? '?' : x.pass ? 'PASS' : 'FAIL'} ${x.text}`).join('; ');
    const rss =
      r.id === 'cold-start' ? `fresh->${fmt(r.proxyPeakRssMiB['proxy-cold'] ?? NaN)}` : `${fmt(r.proxyRssAtStartMiB['proxy'] ?? NaN)}->${fmt(r.proxyPeakRssMiB['proxy'] ?? NaN)}`;
    rows.push([
      r.id,
      r.unit,
      fmt(r.median['direct'] ?? NaN),
      fmt(r.median['nginx'] ?? NaN),
      fmt(r.median['proxy'] ?? NaN),
      fmt(r.ratios['proxy/direct'] ?? NaN),
      fmt(r.ratios['proxy/nginx'] ?? NaN),
      rss,
      g,
    ]);
  }
  return table(rows);
}

/** Request-rate scenarios (those with latencies): p50, p99, and CPU ms per request by component. */
function latencyTable(lat: ScenarioResult[]): string {
  const rows: string[][] = [['scenario', 'target', 'req/s', 'p50 ms', 'p99 ms', 'p99 - direct', 'cpu ms/req: proxy', 'nginx', 'registry', 'client']];
  for (const r of lat) {
    for (const t of r.targets) {
      const cpu = r.medianCpuS[t] ?? {};
      const reqs = median(r.runs.filter((x) => x.target === t && x.ok).map((x) => x.requests ?? NaN));
      const per = (g: string): string => (reqs > 0 && cpu[g] !== undefined ? ((1000 * cpu[g]!) / reqs).toFixed(3) : '-');
      const p99 = r.medianP99Ms?.[t] ?? NaN;
      const d = r.medianP99Ms?.['direct'] ?? NaN;
      rows.push([
        r.id,
        t,
        fmt(r.median[t] ?? NaN),
        fmt(r.medianP50Ms?.[t] ?? NaN),
        fmt(p99),
        t === 'direct' ? '' : (p99 - d >= 0 ? '+' : '') + fmt(p99 - d),
        per('proxy'),
        per('nginx'),
        per('registry'),
        per('client'),
      ]);
    }
  }
  return table(rows);
}

function cpuTable(results: ScenarioResult[]): string {
  const rows: string[][] = [['scenario', 'target', 'value', 'client s', 'nginx s', 'proxy s', 'registry s', 'other s', 'wall s']];
  for (const r of results) {
    for (const t of r.targets) {
      const c = r.medianCpuS[t] ?? {};
      const wall = median(r.runs.filter((x) => x.target === t).map((x) => x.wallS));
      rows.push([
        r.id,
        t,
        fmt(r.median[t] ?? NaN),
        fmt(c['client'] ?? 0),
        fmt(c['nginx'] ?? 0),
        fmt(c['proxy'] ?? 0),
        fmt(c['registry'] ?? 0),
        fmt(r.medianOtherCpuS[t] ?? 0),
        fmt(wall),
      ]);
    }
  }
  return table(rows);
}

/** The sections about single scenarios: log level, token exchanges, cold start, client cost. */
function printScenarioNotes(results: ScenarioResult[], opts: Options): void {
  const warn = results.filter((r) => r.ratios['proxy-warn/proxy'] !== undefined);
  if (warn.length) {
    console.log('\n=== --log-level warn vs the default info ===');
    for (const r of warn)
      console.log(`${r.id}: proxy(info) ${fmt(r.median['proxy']!)} req/s, proxy(warn) ${fmt(r.median['proxy-warn']!)} req/s, warn/info ${fmt(r.ratios['proxy-warn/proxy']!)}`);
  }
  const tok = results.find((r) => r.id === 'token-manifest-get');
  if (tok?.summary) console.log(`\n=== token exchanges (token-auth scenario, proxy) ===\n${JSON.stringify(tok.summary)}`);
  const cold = results.find((r) => r.id === 'cold-start');
  if (cold?.summary) {
    console.log('\n=== cold start ===');
    for (const run of (cold.summary['runs'] as Record<string, unknown>[]) ?? []) {
      const avoidable = run['avoidable'] !== undefined ? `, avoidable ${run['avoidable']}` : '';
      const startup = run['target'] === 'proxy' ? `; proxy start-up: ${JSON.stringify(run['startupUpstream'])}` : '';
      console.log(
        `${String(run['target']).padEnd(7)} ${fmt(run['seconds'] as number)} s, token exchanges ${run['tokenExchanges']}, upstream requests ${run['upstreamRequests']} ${JSON.stringify(run['upstream'])}${avoidable}${startup}`,
      );
    }
  }
  const cc = results.find((r) => r.id === 'client-cost');
  if (cc) {
    console.log('\n=== client cost (direct GET) ===');
    for (const t of cc.targets)
      console.log(`${t.padEnd(7)} ${fmt(cc.median[t] ?? NaN)} MiB/s, client CPU ${fmt(cc.medianCpuS[t]?.['client'] ?? NaN)} s per ${opts.sizes.mono / MiB} MiB`);
  }
}

/** Prints the proxy peak RSS section; returns the peak over all scenarios (MiB). */
function printRss(results: ScenarioResult[], rss: RssBySize | undefined): number {
  const allRss = results.flatMap((r) => Object.values(r.proxyPeakRssMiB));
  const peak = allRss.length ? Math.max(...allRss) : NaN;
  console.log('\n=== proxy peak RSS (VmHWM) ===');
  if (rss) {
    const peaks = Object.values(rss).map((v) => v.peakMiB);
    const each = Object.entries(rss)
      .map(([k, v]) => `${k}: ${fmt(v.idleMiB)} -> ${fmt(v.peakMiB)}`)
      .join(', ');
    console.log(
      `one GET per blob size, a fresh proxy process each (idle -> peak MiB): ${each}; peak spread across sizes ${fmt(Math.max(...peaks) - Math.min(...peaks))} MiB (goal: does not grow with blob size)`,
    );
  }
  console.log(
    `peak over all scenarios (one long-lived process, shipped node flags: ${defaultProxyNodeFlags().join(' ') || 'none'}): ${fmt(peak)} MiB (goal <= 150 MiB: ${peak <= 150 ? 'PASS' : 'FAIL'})`,
  );
  return peak;
}

/** How the numbers were taken, recorded in the JSON. */
const METHOD = {
  alternation: 'per round: each target once, in the order listed; medians over rounds',
  cpu: 'utime+stime from /proc/<pid>/stat per component; client = curl/wrk/ab under /usr/bin/time plus the harness process; other = /proc/stat busy time not accounted to those',
  rss: 'VmHWM of the proxy process, reset through /proc/<pid>/clear_refs before each scenario',
  proxy:
    'dist/cli.js, one process, --config with Connector+Secret documents, default --log-level info (log to a file on the work directory); proxy-warn = a second process with --log-level warn',
  nginx: '1 worker, proxy_buffering off, proxy_request_buffering off, keepalive 64 to each upstream, client_max_body_size 0, access_log buffered to a file',
  upstreamCounting: 'cold start: access log of a registry process used only by that scenario (same storage)',
};

function writeJson(results: ScenarioResult[], rss: RssBySize | undefined, peak: number, opts: Options, work: string, durationS: number): string {
  const out = opts.out ?? join(RESULTS, opts.quick ? 'latest-quick.json' : 'latest.json');
  mkdirSync(join(out, '..'), { recursive: true });
  const json = {
    generatedAt: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    mode: opts.quick ? 'quick' : 'full',
    rounds: opts.rounds,
    durationS,
    sizesBytes: opts.sizes,
    environment: versions(work),
    method: METHOD,
    scenarios: results,
    proxyPeakRssMiB: { overall: peak, bySingleGetSize: rss },
  };
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  return out;
}

/** Prints the tables and writes the JSON (opts.out, or bench/results/latest[-quick].json). */
export function report(results: ScenarioResult[], rss: RssBySize | undefined, opts: Options, work: string, started: number): void {
  console.log(`\n=== Medians of ${opts.rounds} alternating run(s) per target (ratios: >1 means the proxy is better; for seconds, inverted) ===`);
  console.log(mainTable(results));
  const lat = results.filter((r) => r.medianP99Ms);
  if (lat.length) {
    console.log('\n=== Request-rate scenarios: latency and CPU per request (medians) ===');
    console.log(latencyTable(lat));
  }
  console.log('\n=== CPU seconds per run by component (medians; "other" = the rest of the machine, a noise gauge: 2 cores = 2 s per wall second) ===');
  console.log(cpuTable(results));
  printScenarioNotes(results, opts);
  const peak = printRss(results, rss);

  const durationS = round((Date.now() - started) / 1000, 1);
  const out = writeJson(results, rss, peak, opts, work, durationS);
  console.log(`\nJSON: ${out}`);
  console.log(`run time: ${durationS} s (${opts.quick ? 'quick' : 'full'}, ${opts.rounds} round(s))`);
}
