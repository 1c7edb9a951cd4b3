/**
 * What the status page shows of the connectors a caller may use: routing, conditions (failing
 * first), access mode, proxy address, charts, the client files and commands to try it. The
 * files are rendered without any credential: the page and its data never hold a secret (a
 * caller adds its own token, as the commands say).
 */
import { MIRROR_FILES, MirrorError, mirrorsOf, renderMirror } from '../configurations/mirrors.ts';
import { type AddressOptions, CONFIGURATION_FILES, proxyAddress, renderConfiguration } from '../configurations/render.ts';
import { type Connector, connectorKey } from '../connectors/model.ts';
import { extraHostNames, mirrorRegistries } from '../connectors/params.ts';
import type { ProxyCore } from '../core.ts';
import type { Condition } from '../health/conditions.ts';
import type { SeriesPoint, StatusSeries } from './series.ts';

export interface ConnectorStatusView {
  namespace: string;
  name: string;
  upstream: string;
  routing: { pathPrefix: string; hosts: string[]; mirrorFor: string[] };
  access: string;
  proxyAddress: string;
  /** The aggregate: True, False, or Unknown (not checked yet). */
  ready: 'True' | 'False' | 'Unknown';
  /** Failing ones first. */
  conditions: Condition[];
  checkedAt: string | undefined;
  series: readonly SeriesPoint[];
  cache: { objects: number; bytes: number } | undefined;
  files: { name: string; text: string }[];
  commands: string[];
}

export interface StatusData {
  generatedAt: string;
  intervalMs: number;
  connectors: ConnectorStatusView[];
}

const RANK: Record<string, number> = { False: 0, Unknown: 1, True: 2 };

export async function statusData(core: ProxyCore, connectors: readonly Connector[], where: AddressOptions, series: StatusSeries): Promise<StatusData> {
  const views = await Promise.all(connectors.map((c) => connectorView(core, c, where, series)));
  views.sort((a, b) => RANK[a.ready]! - RANK[b.ready]! || `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  return { generatedAt: new Date().toISOString(), intervalMs: series.intervalMs, connectors: views };
}

async function connectorView(core: ProxyCore, c: Connector, where: AddressOptions, series: StatusSeries): Promise<ConnectorStatusView> {
  const key = connectorKey(c);
  const health = core.health?.status(key);
  const conditions = [...(health?.conditions ?? [])].sort((a, b) => RANK[a.status]! - RANK[b.status]!);
  const ready = (health?.conditions.find((x) => x.type === 'Ready')?.status ?? 'Unknown') as ConnectorStatusView['ready'];
  const address = proxyAddress(c, where);
  const service = `c-${c.name}.${c.namespace}`;
  return {
    namespace: c.namespace,
    name: c.name,
    upstream: c.upstreamOrigin,
    routing: {
      pathPrefix: `/v2/namespaces/${c.namespace}/connectors/${c.name}/`,
      hosts: [service, `${service}.svc`, `${service}.svc.cluster.local`, ...extraHostNames(c)],
      mirrorFor: mirrorRegistries(c),
    },
    access: core.access.modeFor(c),
    proxyAddress: address.url,
    ready,
    conditions,
    checkedAt: health?.checkedAt,
    series: series.points(key),
    cache: core.cache && (await core.cache.usage(key)),
    files: files(c, where),
    commands: commands(c, address.imagePrefix, address.registry, where.tls ?? false, core.access.modeFor(c) !== 'none'),
  };
}

/** Every client and mirror file the connector has, credential-free. */
function files(c: Connector, where: AddressOptions): { name: string; text: string }[] {
  const address = proxyAddress(c, where);
  const out: { name: string; text: string }[] = CONFIGURATION_FILES.map((name) => ({ name, text: renderConfiguration(name, address) }));
  const mirror = mirrorsOf(c, where)[0];
  for (const name of MIRROR_FILES) {
    if (!mirror) continue;
    try {
      out.push({ name, text: renderMirror(name, mirror) });
    } catch (err) {
      if (!(err instanceof MirrorError)) throw err; // Docker Hub-only files of other connectors
    }
  }
  return out;
}

function commands(c: Connector, prefix: string, registry: string, tls: boolean, withToken: boolean): string[] {
  const image = `${prefix}/${c.healthRepository ?? (c.dockerHub ? 'library/alpine' : '<repository>')}:latest`;
  const verify = tls ? '' : ' --tls-verify=false';
  return [
    ...(withToken ? [`docker login ${registry} -u "$USER" -p "$TOKEN"`] : []),
    `docker pull ${image}`,
    `skopeo inspect${verify}${withToken ? ' --creds "$USER:$TOKEN"' : ''} docker://${image}`,
  ];
}
