/**
 * Manifest GET at CONNS connections through proxy-cache, by tag (each request: an upstream HEAD
 * for the tag, then the store) and by digest (the store alone, never upstream), against direct,
 * nginx-tuned and the proxy without a cache. Each proxy-cache run's cache results come from
 * its /metrics.
 */
import { sha256 } from '../../test/helpers/oci.ts';
import { CONNS } from '../lib/constants.ts';
import { cacheDelta, type Sample, scrape } from '../lib/metrics.ts';
import type { Bench, Scenario, ScenarioSpec } from '../lib/types.ts';
import { load, manifestRequest } from './common.ts';

interface State {
  before: Sample[];
  runs: { bytes: Record<string, number>; results: Record<string, number> }[];
}

async function warmup({ opts: { sizes }, clients, env }: Bench, ref: string, t: string): Promise<void> {
  const m = manifestRequest(env, t, 'bench/image', ref);
  if (t === 'proxy-cache') {
    // The first GET stores the manifest (and, by tag, the tag's record).
    const r = await clients.curlGet(m.url, m.headers);
    if (r.status !== 200) throw new Error(`GET ${m.url}: ${r.status}`);
  }
  if (sizes.warmSec > 0) await clients.wrk(m.url, m.headers, sizes.warmSec);
}

function build(byDigest: boolean): (b: Bench) => ScenarioSpec {
  return (b) => {
    const { opts, clients, env } = b;
    const ref = byDigest ? sha256(env.image.manifest) : 'v1';
    const st: State = { before: [], runs: [] };
    return {
      title: `manifest GET by ${byDigest ? 'digest: proxy-cache answers from its store alone' : 'tag: proxy-cache asks upstream with a HEAD, answers from its store'}, ${CONNS} connections, ${opts.sizes.loadSec} s`,
      unit: 'req/s',
      higherIsBetter: true,
      targets: ['direct', 'nginx-tuned', 'proxy', 'proxy-cache'],
      client: `wrk -t1 -c${CONNS} --latency`,
      goals: [],
      warmup: (t) => warmup(b, ref, t),
      prepare: async (t) => {
        if (t === 'proxy-cache') st.before = await scrape(env.proxyCache!.url);
      },
      run: async (t) => {
        const m = manifestRequest(env, t, 'bench/image', ref);
        return load(await clients.wrk(m.url, m.headers, opts.sizes.loadSec));
      },
      finish: async (t, r) => {
        if (t !== 'proxy-cache') return;
        const d = cacheDelta(st.before, await scrape(env.proxyCache!.url), 'default/open');
        st.runs.push(d);
        r.extra = { cache: d };
      },
      summary: () => ({ proxyCacheRuns: st.runs, note: 'per proxy-cache run, from its /metrics: ocp_cache_requests_total by result, ocp_cache_bytes_total by source' }),
    };
  };
}

export const cacheManifestTag: Scenario = { id: 'cache-manifest-tag', build: build(false) };
export const cacheManifestDigest: Scenario = { id: 'cache-manifest-digest', build: build(true) };
