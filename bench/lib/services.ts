/**
 * The set of upstreams, anchors and proxies a run starts (shared by the table and the profiles),
 * their configuration files, and how each target reaches an upstream. The test data is in
 * lib/seed.ts, the anchors in lib/anchors.ts.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configYaml } from '../../test/helpers/config-files.ts';
import { type Image, makeImage } from '../../test/helpers/oci.ts';
import type { TokenServer } from '../../test/helpers/token-server.ts';
import { type Anchor, startAnchors } from './anchors.ts';
import { type AnchorId, CACHE_MAX_BYTES, MiB, USER } from './constants.ts';
import { mib } from './numbers.ts';
import type { Sizes } from './options.ts';
import type { Processes } from './processes.ts';
import { type Digests, makeData, seedImages } from './seed.ts';
import { type ProxyProcess, type Registry, startProxy, startRegistry, startTokens } from './servers.ts';
import { cacheDirFor, cacheNeed, workNeed } from './workdir.ts';

export { seedGetBlobs, writeBlobFile } from './seed.ts';

export interface Env {
  ts: TokenServer;
  open: Registry;
  secure: Registry;
  cold: Registry;
  /** Open, with its access log on: the upstream of cache-cold-concurrent, whose bytes it counts. */
  openLog: Registry;
  /** The anchors in front of open, secure and cold (none in --profile). */
  anchors: Partial<Record<AnchorId, Anchor>>;
  proxy: ProxyProcess;
  proxyWarn: ProxyProcess | undefined;
  /** The main proxy plus --cache-dir and --cache-max-bytes. */
  proxyCache: ProxyProcess | undefined;
  data: Buffer;
  digests: Digests;
  image: Image;
  bearer: string;
  coldConfig: string;
  mainConfig: string;
  /** Where writeBlobFile puts the mono blob, for curl -T. */
  blobFile: string;
}

/** What setUp starts besides the upstreams and the main proxy. */
export interface SetUpOptions {
  anchors: boolean;
  warn: boolean;
  cache: boolean;
  /** Rounds of the run: how many fresh blobs the cache will store. */
  rounds: number;
}

/** The long-lived proxies of a run (the ones whose RSS the table reports). */
export const proxiesOf = (env: Env): ProxyProcess[] => [env.proxy, env.proxyWarn, env.proxyCache].filter((p) => p !== undefined);

/** The proxies' Connector + Secret files: open, secure and openlog for the main proxies, cold alone. */
function writeConfigs(work: string, open: Registry, secure: Registry, openLog: Registry, cold: Registry): { mainConfig: string; coldConfig: string } {
  const mainConfig = join(work, 'connectors.yaml');
  writeFileSync(
    mainConfig,
    configYaml([
      { namespace: 'default', name: 'open', address: open.url },
      { namespace: 'default', name: 'secure', address: secure.url, secret: USER },
      { namespace: 'default', name: 'openlog', address: openLog.url },
    ]),
  );
  const coldConfig = join(work, 'connectors-cold.yaml');
  writeFileSync(coldConfig, configYaml([{ namespace: 'default', name: 'cold', address: cold.url, secret: USER }]));
  return { mainConfig, coldConfig };
}

/** proxy-cache: the main proxy's flags plus a store that holds all a run puts in it. */
async function startProxyCache(procs: Processes, mainConfig: string, sizes: Sizes, rounds: number): Promise<ProxyProcess> {
  const need = cacheNeed(sizes, rounds);
  const { dir, inWork } = cacheDirFor(procs.work, workNeed(sizes, rounds), need);
  if (!inWork) procs.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  console.log(`proxy-cache store: ${dir} (${inWork ? 'in the work directory' : 'on disk: the work directory has no room for it'}; ${mib(need)} needed)`);
  const args = ['--default-connector', 'default/open', '--cache-dir', dir, '--cache-max-bytes', String(CACHE_MAX_BYTES)];
  return startProxy(procs, 'proxy-cache', mainConfig, args);
}

/**
 * Starts the token server, the four registries (open, token-auth, token-auth with an access log
 * for the cold-start scenario, open with an access log; one storage), the anchors and the
 * proxies, and seeds them.
 */
export async function setUp(procs: Processes, sizes: Sizes, o: SetUpOptions): Promise<Env> {
  const ts = await startTokens(procs);
  const open = await startRegistry(procs, 'registry-open', '', 200, false);
  const secure = await startRegistry(procs, 'registry-token', ts.registryConfig(), 401, false);
  const cold = await startRegistry(procs, 'registry-cold', ts.registryConfig(), 401, true);
  const openLog = await startRegistry(procs, 'registry-open-log', '', 200, true);
  const anchors = o.anchors ? await startAnchors(procs, { open: open.port, secure: secure.port, cold: cold.port }) : {};
  const { mainConfig, coldConfig } = writeConfigs(procs.work, open, secure, openLog, cold);

  const main = ['--default-connector', 'default/open'];
  const proxy = await startProxy(procs, 'proxy', mainConfig, main);
  const proxyWarn = o.warn ? await startProxy(procs, 'proxy-warn', mainConfig, [...main, '--log-level', 'warn']) : undefined;
  const proxyCache = o.cache ? await startProxyCache(procs, mainConfig, sizes, o.rounds) : undefined;

  const { data, digests } = makeData(sizes);
  const image = makeImage('amd64', [1 * MiB]);
  const bearer = await seedImages(ts, open, image, procs.work);
  const blobFile = join(procs.work, 'blob-mono.bin');
  return { ts, open, secure, cold, openLog, anchors, proxy, proxyWarn, proxyCache, data, digests, image, bearer, coldConfig, mainConfig, blobFile };
}

export type Upstream = 'open' | 'secure' | 'cold' | 'openlog';

/** The long-lived proxy `target` names, if it is one. */
function proxyNamed(env: Env, target: string): ProxyProcess | undefined {
  return proxiesOf(env).find((p) => p.name === target);
}

/**
 * How `target` (direct, an anchor, proxy, proxy-warn, proxy-cache) reaches `upstream`: origin,
 * path prefix after /v2/, headers. The proxies reach open as their default connector, secure
 * and openlog by connector path; cold only through the cold-start scenario's own proxy.
 */
export function endpoint(env: Env, target: string, upstream: Upstream): { origin: string; prefix: string; headers: Record<string, string> } {
  const reg = { open: env.open, secure: env.secure, cold: env.cold, openlog: env.openLog }[upstream];
  const auth: Record<string, string> = upstream === 'secure' || upstream === 'cold' ? { authorization: `Bearer ${env.bearer}` } : {};
  if (target === 'direct') return { origin: reg.url, prefix: '', headers: auth };
  const anchor = env.anchors[target as AnchorId];
  if (anchor) {
    const url = anchor.urls[upstream];
    if (!url) throw new Error(`${target} does not front ${upstream}`);
    return { origin: url, prefix: '', headers: auth };
  }
  const p = proxyNamed(env, target);
  if (!p) throw new Error(`unknown target ${target}`);
  return { origin: p.url, prefix: upstream === 'secure' || upstream === 'openlog' ? `namespaces/default/connectors/${upstream}/` : '', headers: {} };
}
