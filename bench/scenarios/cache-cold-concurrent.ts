/**
 * 8 concurrent GETs of one blob proxy-cache has never seen (a fresh blob, new digest, per round,
 * seeded before the round's first run): one fill from the upstream, read by all 8 clients as it
 * grows. The upstream (open, access log on) must serve the blob once: counted from proxy-cache's
 * /metrics and cross-checked against the registry's access log.
 */
import { MiB } from '../lib/constants.ts';
import { cacheDelta, scrape } from '../lib/metrics.ts';
import { fmt, mib, round3, sleep } from '../lib/numbers.ts';
import { putBlobParts } from '../lib/registry-api.ts';
import { endpoint } from '../lib/services.ts';
import type { Bench, ClientResult, Goal, Run, Scenario, ScenarioSpec } from '../lib/types.ts';
import { atLeast } from './common.ts';
import { logSize, readLog } from './cold-start-log.ts';

const REPO = 'bench/cold';

interface State {
  digest: string;
  fresh: number;
  logMark: number;
  before: Awaited<ReturnType<typeof scrape>> | undefined;
  runs: Record<string, unknown>[];
}

/** Bytes and requests for `digest` in the access log lines `text` (combined format: status, then bytes). */
export function blobTraffic(text: string, digest: string): { bytes: number; requests: Record<string, number> } {
  const requests: Record<string, number> = {};
  let bytes = 0;
  const re = /"(GET|HEAD) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/g;
  for (const m of text.matchAll(re)) {
    if (!m[2]!.includes(`/blobs/${digest}`)) continue;
    const k = `${m[1]} ${m[3]}`;
    requests[k] = (requests[k] ?? 0) + 1;
    if (m[1] === 'GET' && m[4] !== '-') bytes += Number(m[4]);
  }
  return { bytes, requests };
}

/** A fresh blob of `sizes.cacheCold` bytes: a unique first line, then the run's data. */
async function seedFresh({ opts: { sizes }, env }: Bench, st: State): Promise<void> {
  const head = Buffer.from(`ocp-bench cache-cold-concurrent ${process.pid} ${Date.now()} ${st.fresh++}\n`);
  const t0 = performance.now();
  st.digest = await putBlobParts(env.openLog.url, REPO, [head, env.data.subarray(head.length, sizes.cacheCold)]);
  console.log(`  seeded a fresh ${mib(sizes.cacheCold)} blob ${st.digest.slice(0, 19)}... in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function prepare(b: Bench, st: State, t: string): Promise<void> {
  if (t === 'direct') await seedFresh(b, st);
  st.logMark = logSize(b.env.openLog.proc.log);
  st.before = t === 'proxy-cache' ? await scrape(b.env.proxyCache!.url) : undefined;
}

async function run({ opts: { sizes }, clients, env }: Bench, st: State, t: string): Promise<ClientResult> {
  const e = endpoint(env, t, 'openlog');
  const url = `${e.origin}/v2/${e.prefix}${REPO}/blobs/${st.digest}`;
  const t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: sizes.conc }, () => clients.curlGet(url, e.headers)));
  const seconds = (performance.now() - t0) / 1000;
  for (const r of rs) if (r.status !== 200 || r.bytes !== sizes.cacheCold) throw new Error(`GET: status ${r.status}, ${r.bytes} bytes`);
  return { value: (sizes.conc * sizes.cacheCold) / MiB / seconds, clientCpuS: rs.reduce((a, r) => a + r.cpuS, 0) };
}

/** After a run (outside the measurement): what the upstream served, by metrics and by log. */
async function finish({ opts: { sizes }, env }: Bench, st: State, t: string, r: Run): Promise<void> {
  await sleep(300); // the registry writes its access log line after the response
  const log = blobTraffic(readLog(env.openLog.proc.log, st.logMark).text, st.digest);
  const out: Record<string, unknown> = {
    target: t,
    round: r.round,
    ok: r.ok,
    digest: st.digest,
    blobBytes: sizes.cacheCold,
    upstreamBytesLog: log.bytes,
    upstreamRequestsLog: log.requests,
  };
  if (t === 'proxy-cache' && st.before) {
    const d = cacheDelta(st.before, await scrape(env.proxyCache!.url), 'default/openlog');
    Object.assign(out, { upstreamBytesMetrics: d.bytes['upstream'] ?? 0, storeBytesMetrics: d.bytes['store'] ?? 0, cacheResults: d.results });
    out['ratioMetrics'] = round3((d.bytes['upstream'] ?? 0) / sizes.cacheCold);
  }
  out['ratioLog'] = round3(log.bytes / sizes.cacheCold);
  st.runs.push(out);
  r.extra = out;
}

/** Upstream bytes of every proxy-cache run = the blob, within 1%, by /metrics and by the access log. */
function onceGoal(st: State): Goal {
  const runs = (): Record<string, unknown>[] => st.runs.filter((x) => x['target'] === 'proxy-cache' && x['ok']);
  const within = (v: unknown): boolean => typeof v === 'number' && Math.abs(v - 1) <= 0.01;
  return {
    text: 'upstream bytes = 1.0 x the blob (within 1%; /metrics and the access log)',
    check: () => (runs().length ? runs().every((x) => within(x['ratioMetrics']) && within(x['ratioLog'])) : null),
    measured: () =>
      runs()
        .map((x) => `metrics ${fmt(x['ratioMetrics'] as number)}, log ${fmt(x['ratioLog'] as number)}`)
        .join('; ') || 'n/a',
  };
}

function build(b: Bench): ScenarioSpec {
  const st: State = { digest: '', fresh: 0, logMark: 0, before: undefined, runs: [] };
  const { sizes } = b.opts;
  return {
    title: `${sizes.conc} concurrent GETs of one ${mib(sizes.cacheCold)} blob on a cold cache (a fresh blob per round)`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ['direct', 'proxy-cache'],
    client: `${sizes.conc} curl processes; aggregate = bytes / wall time of the slowest`,
    goals: [onceGoal(st), atLeast('proxy-cache', 'direct', 1.0)],
    prepare: (t) => prepare(b, st, t),
    run: (t) => run(b, st, t),
    finish: (t, r) => finish(b, st, t, r),
    summary: () => ({
      runs: st.runs,
      note: 'upstream = registry-open-log (open, access log on), read by direct and by proxy-cache through its default/openlog connector; upstreamBytesMetrics = the delta of ocp_cache_bytes_total{source="upstream"}; upstreamBytesLog = the bytes of the GETs of that digest in the access log',
    }),
  };
}

export const cacheColdConcurrent: Scenario = { id: 'cache-cold-concurrent', build };
