/** Manifest HEAD by tag under load: ApacheBench, as wrk 4.1 cannot do HEAD. */
import { CONNS } from '../lib/constants.ts';
import type { Scenario } from '../lib/types.ts';
import { latencyGoals, load, manifestRequest, withWarn } from './common.ts';

export const manifestHead: Scenario = {
  id: 'manifest-head',
  build: ({ opts: { sizes }, clients, env }) => ({
    title: `manifest HEAD by tag, ${CONNS} connections, ${sizes.loadSec} s`,
    unit: 'req/s',
    higherIsBetter: true,
    targets: withWarn(env),
    compare: [['proxy-warn', 'proxy']],
    client: `ab -k -i -c${CONNS} (wrk 4.1 cannot do HEAD)`,
    goals: latencyGoals,
    warmup: async (t) => {
      const m = manifestRequest(env, t);
      if (sizes.warmSec > 0) await clients.abHead(m.url, m.headers, sizes.warmSec);
    },
    run: async (t) => {
      const m = manifestRequest(env, t);
      return load(await clients.abHead(m.url, m.headers, sizes.loadSec));
    },
  }),
};
