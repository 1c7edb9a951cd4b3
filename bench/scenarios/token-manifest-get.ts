/**
 * Manifest GET against the token-auth upstream, cycling over TOKEN_REPOS repositories: direct
 * and the anchors present a token issued up front; the proxy gets its own, one exchange per repository.
 */
import { MT } from '../../test/helpers/oci.ts';
import type { LoadResult } from '../lib/clients.ts';
import { CONNS, TOKEN_REPOS } from '../lib/constants.ts';
import { endpoint } from '../lib/services.ts';
import type { Bench, Scenario, ScenarioSpec } from '../lib/types.ts';
import { ANCHORED, atLeast, load } from './common.ts';

function build({ opts: { sizes }, clients, env }: Bench): ScenarioSpec {
  let exchangesBefore = 0;
  let scopesBefore: Record<string, number> = {};
  let tokenSummary: Record<string, unknown> = {};
  const repos = Array.from({ length: TOKEN_REPOS }, (_, i) => `bench/image-${i}`);
  const tokenRun = async (t: string, seconds: number): Promise<LoadResult> => {
    const e = endpoint(env, t, 'secure');
    const paths = repos.map((r) => `/v2/${e.prefix}${r}/manifests/v1`);
    return clients.wrk(`${e.origin}/`, { accept: MT.manifest, ...e.headers }, seconds, paths);
  };
  return {
    title: `manifest GET against the token-auth upstream, ${TOKEN_REPOS} repositories in turn, ${CONNS} connections, ${sizes.loadSec} s`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: ANCHORED,
    client: `wrk -t1 -c${CONNS} --latency, Lua script cycling over the repositories`,
    goals: [
      atLeast('proxy', 'strongest', 0.9),
      { text: `token exchanges = 1 per repository (${TOKEN_REPOS})`, check: () => (tokenSummary['exchanges'] === undefined ? null : tokenSummary['exchanges'] === TOKEN_REPOS) },
    ],
    warmup: async (t) => {
      // The first target's warm-up starts the count, so it covers the whole scenario.
      if (t === 'direct') {
        exchangesBefore = env.ts.counts.total;
        scopesBefore = { ...env.ts.counts.byScope };
      }
      if (sizes.warmSec > 0) await tokenRun(t, sizes.warmSec);
    },
    run: async (t) => load(await tokenRun(t, sizes.loadSec)),
    summary() {
      const byScope: Record<string, number> = {};
      for (const [k, v] of Object.entries(env.ts.counts.byScope)) if (v - (scopesBefore[k] ?? 0) > 0) byScope[k] = v - (scopesBefore[k] ?? 0);
      tokenSummary = {
        exchanges: env.ts.counts.total - exchangesBefore,
        repositories: TOKEN_REPOS,
        byScope,
        note: 'token server requests during the whole scenario (warm-up included); direct and the anchors use a token issued up front',
      };
      return tokenSummary;
    },
  };
}

export const tokenManifestGet: Scenario = { id: 'token-manifest-get', build };
