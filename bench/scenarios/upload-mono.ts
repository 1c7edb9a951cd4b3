/** A monolithic blob upload: POST, then one PUT of the whole blob (curl -T from tmpfs). */
import type { Clients } from '../lib/clients.ts';
import { headerArgs } from '../lib/clients.ts';
import { MiB } from '../lib/constants.ts';
import { mib } from '../lib/numbers.ts';
import { startUpload, withDigest } from '../lib/registry-api.ts';
import { endpoint } from '../lib/services.ts';
import type { Scenario } from '../lib/types.ts';
import { ANCHORED, atLeast } from './common.ts';

/** POST + PUT of `file` (`size` bytes, `digest`) to `origin`/v2/<prefix>bench/upload; MiB/s and curl's CPU. */
export async function monolithicUpload(
  clients: Clients,
  e: { origin: string; prefix: string; headers: Record<string, string> },
  file: string,
  size: number,
  digest: string,
): Promise<{ value: number; clientCpuS: number }> {
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
    file,
    '-H',
    'Content-Type: application/octet-stream',
    '-H',
    'Expect:',
    ...headerArgs(e.headers),
    withDigest(loc, e.origin, digest),
  ]);
  const seconds = (performance.now() - t0) / 1000;
  const [status, sent] = r.stdout.trim().split(' ').map(Number);
  if (status !== 201 || sent !== size) throw new Error(`PUT: status ${status}, sent ${sent}`);
  return { value: size / MiB / seconds, clientCpuS: r.cpuS };
}

export const uploadMono: Scenario = {
  id: 'upload-mono',
  build: ({ opts: { sizes }, clients, env }) => ({
    title: `${mib(sizes.mono)} monolithic blob upload (POST + PUT)`,
    unit: 'MiB/s',
    higherIsBetter: true,
    targets: ANCHORED,
    client: 'POST: undici; PUT: curl -T from a tmpfs file',
    goals: [atLeast('proxy', 'strongest', 1.0)],
    run: (target) => monolithicUpload(clients, endpoint(env, target, 'open'), env.blobFile, sizes.mono, env.digests.mono),
  }),
};
