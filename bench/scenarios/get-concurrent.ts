/** Concurrent blob GETs, one curl process each; aggregate throughput. */
import { MiB } from '../lib/constants.ts';
import { mib } from '../lib/numbers.ts';
import { endpoint } from '../lib/services.ts';
import type { Scenario } from '../lib/types.ts';
import { ANCHORED, atLeast } from './common.ts';

export const getConcurrent: Scenario = {
  id: 'get-concurrent',
  build: ({ opts: { sizes }, clients, env }) => ({
    title: `${sizes.conc} concurrent ${mib(sizes.concEach)} blob GETs`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ANCHORED,
    client: `${sizes.conc} curl processes; aggregate = bytes / wall time of the slowest`,
    goals: [atLeast('proxy', 'strongest', 1.0)],
    async run(target) {
      const e = endpoint(env, target, 'open');
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: sizes.conc }, () => clients.curlGet(`${e.origin}/v2/${e.prefix}bench/upload/blobs/${env.digests.conc}`, e.headers)));
      const seconds = (performance.now() - t0) / 1000;
      for (const r of rs) if (r.status !== 200 || r.bytes !== sizes.concEach) throw new Error(`GET: status ${r.status}, ${r.bytes} bytes`);
      return { value: (sizes.conc * sizes.concEach) / MiB / seconds, clientCpuS: rs.reduce((a, r) => a + r.cpuS, 0) };
    },
  }),
};
