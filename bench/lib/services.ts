/**
 * The set of upstreams and proxies a run starts (shared by the table and the profiles), their
 * configuration files, the test data seeded into them, and how each target reaches an upstream.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configYaml } from '../../test/helpers/config-files.ts';
import { type Image, makeImage } from '../../test/helpers/oci.ts';
import type { TokenServer } from '../../test/helpers/token-server.ts';
import { MiB, TOKEN_REPOS, USER } from './constants.ts';
import type { Sizes } from './options.ts';
import type { Processes } from './processes.ts';
import { ensureBlob, pushImage } from './registry-api.ts';
import { type Nginx, type ProxyProcess, type Registry, startNginx, startProxy, startRegistry, startTokens } from './servers.ts';

export interface Env {
  ts: TokenServer;
  open: Registry;
  secure: Registry;
  cold: Registry;
  nginx: Nginx | undefined;
  proxy: ProxyProcess;
  proxyWarn: ProxyProcess | undefined;
  data: Buffer;
  digests: { mono: string; chunked: string; conc: string; small: string };
  image: Image;
  bearer: string;
  coldConfig: string;
  mainConfig: string;
  /** Where writeBlobFile puts the mono blob, for curl -T. */
  blobFile: string;
}

/** The long-lived proxies of a run (the ones whose RSS the table reports). */
export const proxiesOf = (env: Env): ProxyProcess[] => (env.proxyWarn ? [env.proxy, env.proxyWarn] : [env.proxy]);

/**
 * `sizes.mono` bytes: a 64 MiB random tile repeated (random so that nothing compresses it,
 * tiled so that making it is quick); the prefixes of each blob size are the other blobs.
 */
function makeData(sizes: Sizes): { data: Buffer; digests: Env['digests'] } {
  const size = sizes.mono;
  const t0 = performance.now();
  const tile = randomBytes(64 * MiB);
  const data = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += tile.length) tile.copy(data, off, 0, Math.min(tile.length, size - off));
  const h = createHash('sha256');
  const at: Record<number, string> = {};
  const marks = [sizes.small, sizes.concEach, sizes.chunked, sizes.mono].sort((a, b) => a - b);
  let pos = 0;
  for (const m of marks) {
    if (m > pos) h.update(data.subarray(pos, m));
    pos = Math.max(pos, m);
    at[m] = 'sha256:' + h.copy().digest('hex');
  }
  console.log(`data: ${size / MiB} MiB of random bytes (a 64 MiB random tile repeated), hashed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { data, digests: { mono: at[sizes.mono]!, chunked: at[sizes.chunked]!, conc: at[sizes.concEach]!, small: at[sizes.small]! } };
}

/** The proxies' Connector + Secret files: open and secure for the main proxies, cold alone. */
function writeConfigs(work: string, open: Registry, secure: Registry, cold: Registry): { mainConfig: string; coldConfig: string } {
  const mainConfig = join(work, 'connectors.yaml');
  writeFileSync(
    mainConfig,
    configYaml([
      { namespace: 'default', name: 'open', address: open.url },
      { namespace: 'default', name: 'secure', address: secure.url, secret: USER },
    ]),
  );
  const coldConfig = join(work, 'connectors-cold.yaml');
  writeFileSync(coldConfig, configYaml([{ namespace: 'default', name: 'cold', address: cold.url, secret: USER }]));
  return { mainConfig, coldConfig };
}

/** Seeds the image (bench/image and the token scenario's repositories); returns a bearer for them. */
async function seedImages(ts: TokenServer, open: Registry, image: Image, work: string): Promise<string> {
  const t0 = performance.now();
  await pushImage(open.url, 'bench/image', image);
  for (let i = 0; i < TOKEN_REPOS; i++) await pushImage(open.url, `bench/image-${i}`, image);
  const bearer = ts.issueToken({
    subject: USER.username,
    expiresIn: 3600,
    access: ['bench/image', 'bench/upload', ...Array.from({ length: TOKEN_REPOS }, (_, i) => `bench/image-${i}`)].map((name) => ({
      type: 'repository',
      name,
      actions: ['pull', 'push'],
    })),
  });
  console.log(`seeded images in ${((performance.now() - t0) / 1000).toFixed(1)} s; work directory ${work}`);
  return bearer;
}

/**
 * Starts the token server, the three registries (open, token-auth, and token-auth with an
 * access log for the cold-start scenario; one storage), nginx and the proxies, and seeds them.
 */
export async function setUp(procs: Processes, sizes: Sizes, withNginx: boolean, withWarn: boolean): Promise<Env> {
  const ts = await startTokens(procs);
  const open = await startRegistry(procs, 'registry-open', '', 200, false);
  const secure = await startRegistry(procs, 'registry-token', ts.registryConfig(), 401, false);
  const cold = await startRegistry(procs, 'registry-cold', ts.registryConfig(), 401, true);
  const nginx = withNginx ? await startNginx(procs, { open: open.port, secure: secure.port, cold: cold.port }) : undefined;
  const { mainConfig, coldConfig } = writeConfigs(procs.work, open, secure, cold);

  const proxy = await startProxy(procs, 'proxy', mainConfig, ['--default-connector', 'default/open']);
  const proxyWarn = withWarn ? await startProxy(procs, 'proxy-warn', mainConfig, ['--default-connector', 'default/open', '--log-level', 'warn']) : undefined;

  const { data, digests } = makeData(sizes);
  const image = makeImage('amd64', [1 * MiB]);
  const bearer = await seedImages(ts, open, image, procs.work);
  const blobFile = join(procs.work, 'blob-mono.bin');
  return { ts, open, secure, cold, nginx, proxy, proxyWarn, data, digests, image, bearer, coldConfig, mainConfig, blobFile };
}

/** Writes the mono blob to a file (tmpfs) for the upload scenario's curl -T. */
export function writeBlobFile(env: Env): void {
  writeFileSync(env.blobFile, env.data);
}

/** Seeds the blobs the GET scenarios read (the mono and concurrent ones) unless present. */
export async function seedGetBlobs(env: Env, sizes: Sizes): Promise<void> {
  await ensureBlob(env.open.url, 'bench/upload', env.data, env.digests.mono);
  await ensureBlob(env.open.url, 'bench/upload', env.data.subarray(0, sizes.concEach), env.digests.conc);
}

export type Upstream = 'open' | 'secure' | 'cold';

/** How `target` (direct, nginx, proxy, proxy-warn) reaches `upstream`: origin, path prefix after /v2/, headers. */
export function endpoint(env: Env, target: string, upstream: Upstream): { origin: string; prefix: string; headers: Record<string, string> } {
  const reg = upstream === 'open' ? env.open : upstream === 'secure' ? env.secure : env.cold;
  const auth: Record<string, string> = upstream === 'open' ? {} : { authorization: `Bearer ${env.bearer}` };
  switch (target) {
    case 'direct':
      return { origin: reg.url, prefix: '', headers: auth };
    case 'nginx':
      return { origin: env.nginx!.urls[upstream]!, prefix: '', headers: auth };
    case 'proxy':
    case 'proxy-warn': {
      const p = target === 'proxy' ? env.proxy : env.proxyWarn!;
      return { origin: p.url, prefix: upstream === 'secure' ? 'namespaces/default/connectors/secure/' : '', headers: {} };
    }
    default:
      throw new Error(`unknown target ${target}`);
  }
}
