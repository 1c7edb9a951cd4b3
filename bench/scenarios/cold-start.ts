/**
 * Cold start: a fresh proxy process per run; 100 clients pull one image at once, each as a
 * registry client does: GET /v2/, (a token when challenged), the manifest, then config and
 * layer. Upstream requests are counted from the access log of a registry used only here.
 */
import { Agent } from 'undici';
import { MiB } from '../lib/constants.ts';
import { round, round3, sleep } from '../lib/numbers.ts';
import { vmHwm } from '../lib/sampling.ts';
import { healthChecked, type ProxyProcess, startProxy } from '../lib/servers.ts';
import { endpoint } from '../lib/services.ts';
import type { Bench, ClientResult, Goal, Scenario, ScenarioSpec } from '../lib/types.ts';
import { ANCHORED } from './common.ts';
import { avoidable, countLog, logSize, readLog } from './cold-start-log.ts';
import { pullImage } from './cold-start-pull.ts';

/** Goals on the proxy's runs, read from `coldRuns` (null before there are any). */
function goals(coldRuns: Record<string, unknown>[]): Goal[] {
  const proxyRuns = (): Record<string, unknown>[] => coldRuns.filter((r) => r['target'] === 'proxy');
  return [
    { text: 'proxy: 1 token exchange', check: () => (coldRuns.length ? proxyRuns().every((r) => r['tokenExchanges'] === 1) : null) },
    {
      text: 'proxy: no avoidable upstream requests (1 /v2/ probe, 0 401s besides it, 1 request per client request for content)',
      check: () => {
        const rs = proxyRuns();
        if (!rs.length) return null;
        return rs.every((r) => r['avoidable'] === 0);
      },
    },
  ];
}

/** What the scenario keeps across its runs. */
interface State {
  /** The fresh proxy of the current proxy run. */
  cold: ProxyProcess | undefined;
  /** Where in the registry's log the current run's requests begin. */
  logMark: number;
  /** The fresh proxy's own requests before the pulls. */
  startup: Record<string, number>;
  runs: Record<string, unknown>[];
  /** VmHWM of each fresh proxy, bytes. */
  rss: number[];
}

async function prepare({ procs, env }: Bench, st: State, t: string): Promise<void> {
  const log = env.cold.proc.log;
  if (t === 'proxy') {
    // The fresh proxy's start-up requests (its health check) are counted apart.
    const mark = logSize(log);
    st.cold = await startProxy(procs, 'proxy-cold', env.coldConfig, []);
    await healthChecked(st.cold, 'default/cold');
    await sleep(100);
    const l = readLog(log, mark);
    st.startup = countLog(l.text);
    st.logMark = l.end;
  } else {
    st.logMark = logSize(log);
    st.startup = {};
  }
}

async function run({ opts: { sizes }, env }: Bench, st: State, t: string): Promise<ClientResult> {
  const e = t === 'proxy' ? { origin: st.cold!.url, prefix: '' } : endpoint(env, t, 'cold');
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const exchanges0 = env.ts.counts.total;
  const t0 = performance.now();
  let bytes = 0;
  try {
    const pulled = await Promise.all(Array.from({ length: sizes.pulls }, () => pullImage(e.origin, e.prefix, agent)));
    bytes = pulled.reduce((a, n) => a + n, 0);
  } finally {
    await agent.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  await sleep(300); // the registry writes its access log line after the response
  const upstream = countLog(readLog(env.cold.proc.log, st.logMark).text);
  const total = Object.values(upstream).reduce((x, y) => x + y, 0);
  const exchanges = env.ts.counts.total - exchanges0;
  const extra: Record<string, unknown> = {
    target: t,
    seconds: round3(seconds),
    bytes,
    tokenExchanges: exchanges,
    upstreamRequests: total,
    upstream,
    startupUpstream: st.startup,
    avoidable: t.startsWith('proxy') ? avoidable(upstream, exchanges, sizes.pulls) : undefined,
  };
  st.runs.push(extra);
  return { value: seconds, clientCpuS: 0, extra };
}

async function finish({ procs }: Bench, st: State, t: string): Promise<void> {
  if (t === 'proxy' && st.cold) {
    const h = vmHwm(st.cold.proc.pid);
    if (h !== undefined) st.rss.push(h);
    await procs.stop(st.cold.proc);
    st.cold = undefined;
  }
}

function summary(st: State): Record<string, unknown> {
  const proxyRuns = st.runs.filter((r) => r['target'] === 'proxy');
  return {
    runs: st.runs,
    proxyPeakRssMiB: st.rss.length ? { 'proxy-cold': round(Math.max(...st.rss) / MiB, 1) } : {},
    proxyTokenExchanges: proxyRuns.map((r) => r['tokenExchanges']),
    proxyUpstreamRequests: proxyRuns.map((r) => r['upstreamRequests']),
    proxyAvoidable: proxyRuns.map((r) => r['avoidable']),
    note: "upstream = requests in the access log of the registry used only by this scenario, by method, kind and status; startupUpstream = the fresh proxy's own requests before the pulls (health check); avoidable = /v2/ probes beyond 1 + 401s beyond the probe's + content requests beyond 3 per pull + token exchanges beyond 1",
  };
}

function build(b: Bench): ScenarioSpec {
  const st: State = { cold: undefined, logMark: 0, startup: {}, runs: [], rss: [] };
  return {
    title: `cold start: ${b.opts.sizes.pulls} concurrent pulls of one image (manifest + config + 1 MiB layer), fresh proxy process, token-auth upstream`,
    unit: 's',
    higherIsBetter: false,
    targets: ANCHORED,
    client: `undici, a fresh Agent per run; each pull: GET /v2/, token (direct, anchors), manifest, config + layer`,
    goals: goals(st.runs),
    processOf: (t) => (t === 'proxy' ? 'proxy-cold' : t),
    prepare: (t) => prepare(b, st, t),
    run: (t) => run(b, st, t),
    finish: (t) => finish(b, st, t),
    summary: () => summary(st),
  };
}

export const coldStart: Scenario = { id: 'cold-start', build };
