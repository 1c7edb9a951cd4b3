/** After all scenarios ran: the printed tables and sections (lib/tables.ts, lib/notes.ts), the same results as JSON, and the dated snapshot. */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_MAX_BYTES, RESULTS } from './constants.ts';
import { versions } from './environment.ts';
import { round } from './numbers.ts';
import { printRss, printScenarioNotes } from './notes.ts';
import type { Options } from './options.ts';
import { cpuTable, type GoalRow, goalsTable, latencyTable, mainTable, scenarioGoals } from './tables.ts';
import type { RssBySize, ScenarioResult } from './types.ts';

/** How the numbers were taken, recorded in the JSON. */
const METHOD = {
  alternation: 'per round: each target once, in the order listed (direct, nginx, nginx-tuned, haproxy, the proxies); medians over rounds',
  cpu: 'utime+stime from /proc/<pid>/stat per component (each anchor its own group; every proxy process in the group proxy, and the process serving a proxy target also as own, which its CPU per request is taken from); client = curl/wrk/ab under /usr/bin/time plus the harness process (which also runs the token server); other = /proc/stat busy time not accounted to those',
  rss: 'VmHWM of each proxy process, reset through /proc/<pid>/clear_refs before each scenario (the fresh proxies a scenario starts itself keep theirs: it covers their set-up)',
  proxy:
    'dist/cli.js, one process, --config with Connector+Secret documents, default --log-level info (log to a file on the work directory); proxy-warn = a second process with --log-level warn',
  proxyCache: `the proxy plus --cache-dir (in the work directory when it has room) and --cache-max-bytes ${CACHE_MAX_BYTES}`,
  nginx: 'bench/nginx.conf: 1 worker, proxy_buffering off, proxy_request_buffering off, keepalive 64 to each upstream, client_max_body_size 0, access_log buffered to a file',
  nginxTuned:
    'bench/nginx-tuned.conf: 1 worker, proxy_buffering on, proxy_buffers 16 256k, proxy_busy_buffers_size 512k, proxy_max_temp_file_size 0, proxy_request_buffering off, keepalive 64 (HTTP/1.1, Connection ""), client_max_body_size 0, access_log buffered',
  haproxy:
    'bench/haproxy.cfg: nbthread 1, mode http, http-reuse always, keep-alive both sides, timeout client/server 300s, no body limit, one frontend per upstream, httplog to stdout (a file)',
  strongest:
    'per scenario, the peer anchor (nginx, nginx-tuned, haproxy) with the best median (highest; lowest for seconds); goals "x the strongest anchor" are against it; node-relay (the floor of a Node HTTP proxy) and node-tcp (bytes piped through Node below HTTP) are shown but never the strongest',
  upstreamCounting:
    'cold start: access log of a registry process used only by that scenario (same storage); cache-cold-concurrent: proxy-cache /metrics ocp_cache_bytes_total{source="upstream"} and the access log of registry-open-log',
};

/** Writes the JSON (opts.out, or bench/results/latest[-quick].json; --snapshot: also <date>[-quick].json); returns the paths. */
function writeJson(results: ScenarioResult[], rss: RssBySize | undefined, rssGoals: { peak: number; goals: GoalRow[] }, opts: Options, work: string, durationS: number): string[] {
  const out = opts.out ?? join(RESULTS, opts.quick ? 'latest-quick.json' : 'latest.json');
  mkdirSync(join(out, '..'), { recursive: true });
  const generatedAt = new Date().toISOString();
  const json = {
    generatedAt,
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    mode: opts.quick ? 'quick' : 'full',
    rounds: opts.rounds,
    durationS,
    sizesBytes: opts.sizes,
    environment: versions(work),
    method: METHOD,
    scenarios: results,
    proxyPeakRssMiB: { overall: rssGoals.peak, bySingleGetSize: rss },
    runGoals: rssGoals.goals,
  };
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  if (!opts.snapshot) return [out];
  mkdirSync(RESULTS, { recursive: true });
  const snapshot = join(RESULTS, `${generatedAt.slice(0, 10)}${opts.quick ? '-quick' : ''}.json`);
  copyFileSync(out, snapshot);
  return [out, snapshot];
}

/** Prints the tables and writes the JSON. */
export function report(results: ScenarioResult[], rss: RssBySize | undefined, opts: Options, work: string, started: number): void {
  console.log(
    `\n=== Medians of ${opts.rounds} alternating run(s) per target (p = the row's proxy; p/x: p against x, >1 means p is better; for seconds, inverted; strongest = the best anchor) ===`,
  );
  console.log(mainTable(results));
  for (const r of results.filter((x) => x.error)) console.log(`${r.id}: ${r.error}`);
  const lat = results.filter((r) => r.medianP99Ms);
  if (lat.length) {
    console.log('\n=== Request-rate scenarios: latency and CPU per request (medians) ===');
    console.log(latencyTable(lat));
  }
  console.log('\n=== CPU seconds per run by component (medians; "other" = the rest of the machine, a noise gauge: 2 cores = 2 s per wall second) ===');
  console.log(cpuTable(results));
  printScenarioNotes(results, opts);
  const rssGoals = printRss(results, rss);
  console.log('\n=== Goals ===');
  console.log(goalsTable([...scenarioGoals(results), ...rssGoals.goals]));

  const durationS = round((Date.now() - started) / 1000, 1);
  const written = writeJson(results, rss, rssGoals, opts, work, durationS);
  console.log(`\nJSON: ${written.join(', ')}${written.length > 1 ? ' (the second: the dated snapshot, to commit)' : ''}`);
  console.log(`run time: ${durationS} s (${opts.quick ? 'quick' : 'full'}, ${opts.rounds} round(s))`);
}
