/** A chunked blob upload: POST, PATCHes of sizes.chunk bytes on one connection, closing PUT. */
import { Agent, request } from 'undici';
import { MiB } from '../lib/constants.ts';
import { mib } from '../lib/numbers.ts';
import { startUpload, withDigest } from '../lib/registry-api.ts';
import { endpoint } from '../lib/services.ts';
import type { Scenario } from '../lib/types.ts';
import { ANCHORED, atLeast } from './common.ts';

export const uploadChunked: Scenario = {
  id: 'upload-chunked',
  build: ({ opts: { sizes }, env }) => ({
    title: `${mib(sizes.chunked)} chunked upload (PATCH ${mib(sizes.chunk)} chunks)`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ANCHORED,
    client: 'undici, one keep-alive connection, Buffer bodies',
    goals: [atLeast('proxy', 'strongest', 1.0)],
    async run(target) {
      const e = endpoint(env, target, 'open');
      const agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 });
      try {
        const t0 = performance.now();
        let loc = await startUpload(e.origin, `/v2/${e.prefix}bench/upload`, e.headers, agent);
        for (let off = 0; off < sizes.chunked; off += sizes.chunk) {
          const end = Math.min(off + sizes.chunk, sizes.chunked);
          const res = await request(loc, {
            method: 'PATCH',
            dispatcher: agent,
            body: env.data.subarray(off, end),
            headers: { ...e.headers, 'content-type': 'application/octet-stream', 'content-range': `${off}-${end - 1}`, 'content-length': String(end - off) },
          });
          const text = await res.body.text();
          const next = res.headers['location'];
          if (res.statusCode !== 202 || typeof next !== 'string') throw new Error(`PATCH at ${off}: ${res.statusCode} ${text.slice(0, 300)}`);
          loc = new URL(next, e.origin).toString();
        }
        const res = await request(withDigest(loc, e.origin, env.digests.chunked), { method: 'PUT', dispatcher: agent, headers: { ...e.headers, 'content-length': '0' } });
        const text = await res.body.text();
        if (res.statusCode !== 201) throw new Error(`PUT: ${res.statusCode} ${text.slice(0, 300)}`);
        return { value: sizes.chunked / MiB / ((performance.now() - t0) / 1000), clientCpuS: 0 };
      } finally {
        await agent.close();
      }
    },
  }),
};
