/**
 * Scale: manifest-get's request (by tag, CONNS connections) against a proxy whose configuration
 * has 1 connector and one whose configuration has SCALE_CONNECTORS, the second also holding
 * sizes.scaleTokens cached tokens (one exchange per repository, made in the set-up). Both run
 * with --health-interval 0: the periodic checks of 1000 connectors (1000 probes at once, every
 * minute) would land in some runs and not others.
 */
import { MT } from '../../test/helpers/oci.ts';
import { CONNS, SCALE_CONCURRENCY, SCALE_CONNECTORS } from '../lib/constants.ts';
import { fmt, round } from '../lib/numbers.ts';
import { type ProxyProcess, startProxy } from '../lib/servers.ts';
import type { Bench, Scenario, ScenarioSpec } from '../lib/types.ts';
import { load, pairedAtLeast } from './common.ts';
import { fillTokens, type TokenFill, writeScaleConfigs } from './scale-setup.ts';

const FULL_TOKENS = 10_000;

interface State {
  byTarget: Record<string, ProxyProcess>;
  fill: TokenFill | undefined;
  setupS: number;
}

async function setUp({ opts: { sizes }, procs, env }: Bench, st: State): Promise<void> {
  const t0 = performance.now();
  const { one, many } = writeScaleConfigs(procs.work, env);
  const args = ['--default-connector', 'default/open', '--health-interval', '0'];
  st.byTarget['proxy-1'] = await startProxy(procs, 'proxy-1', one, args);
  st.byTarget[`proxy-${SCALE_CONNECTORS}`] = await startProxy(procs, `proxy-${SCALE_CONNECTORS}`, many, args);
  st.fill = await fillTokens(procs, st.byTarget[`proxy-${SCALE_CONNECTORS}`]!, env.ts, sizes.scaleTokens, SCALE_CONCURRENCY);
  st.setupS = (performance.now() - t0) / 1000;
  const quick = sizes.scaleTokens < FULL_TOKENS ? ` (fewer than the full run's ${FULL_TOKENS}: --quick)` : '';
  console.log(
    `  set-up: ${SCALE_CONNECTORS} connectors; ${st.fill.requests} token-scoped requests${quick}, ${st.fill.concurrency} at a time, in ${fmt(st.fill.seconds)} s ` +
      `(${st.fill.exchanges} token exchanges, statuses ${JSON.stringify(st.fill.statuses)}, cpu s ${JSON.stringify(st.fill.cpuS)}); set-up in all ${fmt(st.setupS)} s`,
  );
}

async function tearDown({ procs }: Bench, st: State): Promise<void> {
  for (const p of Object.values(st.byTarget)) await procs.stop(p.proc);
}

function build(b: Bench): ScenarioSpec {
  const { opts, clients } = b;
  const st: State = { byTarget: {}, fill: undefined, setupS: NaN };
  const big = `proxy-${SCALE_CONNECTORS}`;
  const wrk = (t: string, seconds: number) => clients.wrk(`${st.byTarget[t]!.url}/v2/bench/image/manifests/v1`, { accept: MT.manifest }, seconds);
  return {
    title: `manifest GET by tag, ${CONNS} connections: 1 connector vs ${SCALE_CONNECTORS} connectors and ${opts.sizes.scaleTokens} cached tokens`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: ['proxy-1', big],
    client: `wrk -t1 -c${CONNS} --latency`,
    compare: [[big, 'proxy-1']],
    // Per-round pairs: the two proxies run back to back, and the machine drifts by more than the
    // 5% this goal allows between rounds (the ratio of the medians takes values from different rounds).
    goals: [pairedAtLeast(big, 'proxy-1', 0.95)],
    setUp: () => setUp(b, st),
    tearDown: () => tearDown(b, st),
    proxies: () => Object.values(st.byTarget),
    // Fresh processes: at least 1 s of warm-up each, also with --quick (its warmSec is 0).
    warmup: async (t) => void (await wrk(t, Math.max(1, opts.sizes.warmSec))),
    run: async (t) => load(await wrk(t, opts.sizes.loadSec)),
    summary: () => ({
      connectors: SCALE_CONNECTORS,
      tokens: opts.sizes.scaleTokens,
      tokensNote: opts.sizes.scaleTokens < FULL_TOKENS ? `--quick: ${opts.sizes.scaleTokens} tokens instead of ${FULL_TOKENS}` : undefined,
      tokenFill: st.fill ? { ...st.fill, seconds: round(st.fill.seconds, 1) } : undefined,
      setupS: round(st.setupS, 1),
      note: `both proxies: --health-interval 0; ${big}: the configuration has ${SCALE_CONNECTORS} connectors, and its token cache was filled by one manifest GET per repository through its token-auth connector (the registry answers 404: the token is cached anyway)`,
    }),
  };
}

export const manifestGet1000: Scenario = { id: 'manifest-get-1000', build };
