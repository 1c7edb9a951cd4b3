/** A monolithic blob upload: POST, then one PUT of the whole blob (curl -T from tmpfs). */
import { headerArgs } from '../lib/clients.ts';
import { MiB } from '../lib/constants.ts';
import { mib } from '../lib/numbers.ts';
import { startUpload, withDigest } from '../lib/registry-api.ts';
import { endpoint } from '../lib/services.ts';
import type { Scenario } from '../lib/types.ts';
import { ANCHORED, atLeast } from './common.ts';

export const uploadMono: Scenario = {
  id: 'upload-mono',
  build: ({ opts: { sizes }, clients, env }) => ({
    title: `${mib(sizes.mono)} monolithic blob upload (POST + PUT)`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ANCHORED,
    client: 'POST: undici; PUT: curl -T from a tmpfs file',
    goals: [atLeast('proxy', 'strongest', 1.0)],
    async run(target) {
      const e = endpoint(env, target, 'open');
      const t0 = performance.now();
      const loc = await startUpload(e.origin, `/v2/${e.prefix}bench/upload`, e.headers);
      // 'Expect:' (empty): curl would otherwise send Expect: 100-continue and wait for the 100.
      const r = await clients.timed('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{size_upload}',
        '-X',
        'PUT',
        '-T',
        env.blobFile,
        '-H',
        'Content-Type: application/octet-stream',
        '-H',
        'Expect:',
        ...headerArgs(e.headers),
        withDigest(loc, e.origin, env.digests.mono),
      ]);
      const seconds = (performance.now() - t0) / 1000;
      const [status, sent] = r.stdout.trim().split(' ').map(Number);
      if (status !== 201 || sent !== sizes.mono) throw new Error(`PUT: status ${status}, sent ${sent}`);
      return { value: sizes.mono / MiB / seconds, clientCpuS: r.cpuS };
    },
  }),
};
