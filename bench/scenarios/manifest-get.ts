/** Manifest GET by tag under load: wrk at CONNS connections, with and without the warn log level. */
import { CONNS } from '../lib/constants.ts';
import type { Scenario } from '../lib/types.ts';
import { latencyGoals, load, manifestRequest, withWarn } from './common.ts';

export const manifestGet: Scenario = {
  id: 'manifest-get',
  build: ({ opts: { sizes }, clients, env }) => ({
    title: `manifest GET by tag, ${CONNS} connections, ${sizes.loadSec} s`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: withWarn(env),
    compare: [['proxy-warn', 'proxy']],
    client: `wrk -t1 -c${CONNS} --latency`,
    goals: latencyGoals,
    warmup: async (t) => {
      const m = manifestRequest(env, t);
      if (sizes.warmSec > 0) await clients.wrk(m.url, m.headers, sizes.warmSec);
    },
    run: async (t) => {
      const m = manifestRequest(env, t);
      return load(await clients.wrk(m.url, m.headers, sizes.loadSec));
    },
  }),
};
