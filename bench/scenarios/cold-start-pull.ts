/** One image pull as a registry client does it: GET /v2/, a token when challenged, manifest, blobs. */
import { type Agent, request } from 'undici';
import { MT } from '../../test/helpers/oci.ts';
import { USER } from '../lib/constants.ts';

const BASIC = 'Basic ' + Buffer.from(`${USER.username}:${USER.password}`).toString('base64');

/** Follows a Bearer challenge: a token for pulling bench/image from its realm, as a header. */
async function tokenFor(challenge: string, agent: Agent): Promise<Record<string, string>> {
  const realm = /realm="([^"]+)"/.exec(challenge)?.[1];
  const service = /service="([^"]+)"/.exec(challenge)?.[1];
  if (!realm) throw new Error(`no realm in ${challenge}`);
  const u = new URL(realm);
  if (service) u.searchParams.set('service', service);
  u.searchParams.set('scope', 'repository:bench/image:pull');
  const tr = await request(u, { dispatcher: agent, headers: { authorization: BASIC } });
  const tb = (await tr.body.json()) as { token?: string; access_token?: string };
  return { authorization: `Bearer ${tb.token ?? tb.access_token}` };
}

/** Pulls bench/image:v1 (manifest, then config and layers at once); returns the blob bytes read. */
export async function pullImage(origin: string, prefix: string, agent: Agent): Promise<number> {
  const ping = await request(`${origin}/v2/`, { dispatcher: agent });
  await ping.body.dump();
  let auth: Record<string, string> = {};
  if (ping.statusCode === 401) auth = await tokenFor(String(ping.headers['www-authenticate'] ?? ''), agent);
  else if (ping.statusCode !== 200) throw new Error(`GET /v2/: ${ping.statusCode}`);
  const m = await request(`${origin}/v2/${prefix}bench/image/manifests/v1`, { dispatcher: agent, headers: { accept: MT.manifest, ...auth } });
  if (m.statusCode !== 200) throw new Error(`manifest: ${m.statusCode} ${(await m.body.text()).slice(0, 200)}`);
  const manifest = (await m.body.json()) as { config: { digest: string }; layers: { digest: string }[] };
  let bytes = 0;
  await Promise.all(
    [manifest.config, ...manifest.layers].map(async (d) => {
      const r = await request(`${origin}/v2/${prefix}bench/image/blobs/${d.digest}`, { dispatcher: agent, headers: auth });
      if (r.statusCode !== 200) throw new Error(`blob: ${r.statusCode} ${(await r.body.text()).slice(0, 200)}`);
      for await (const c of r.body) bytes += (c as Buffer).length;
    }),
  );
  return bytes;
}
