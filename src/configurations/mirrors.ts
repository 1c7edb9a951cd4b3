/**
 * Mirror configurations: a node's runtime keeps images under their own names
 * (`docker.io/library/ubuntu`, `harbor.example.com/team/app`) and sends their pulls to the proxy
 * as a mirror, which adds the credentials. Rendered per connector (pure), for the registry the
 * connector serves:
 *
 * - `mirror-hosts.toml`: containerd, /etc/containerd/certs.d/<registry>/hosts.toml: the proxy as
 *   a pull/resolve host in front of the registry itself (the fallback `server`);
 * - `mirror-registries.conf`: CRI-O, podman, buildah: the registry with the proxy as its mirror;
 * - `mirror-daemon.json`, `mirror-buildkitd.toml`: dockerd and BuildKit mirror only Docker Hub,
 *   and only at a root address: the connector's Service name;
 * - `mirror-config.json`: the credentials dockerd sends to a Docker Hub mirror are those of
 *   Docker Hub itself (`https://index.docker.io/v1/`), so the proxy token goes there too.
 */
import type { Connector } from '../connectors/model.ts';
import { mirrorRegistries } from '../connectors/params.ts';
import { basicCredentials } from '../util/basic.ts';
import { type AddressOptions, CA_PATHS, type ProxyAddress, proxyAddress } from './render.ts';

export const MIRROR_FILES = ['mirror-hosts.toml', 'mirror-registries.conf', 'mirror-daemon.json', 'mirror-buildkitd.toml', 'mirror-config.json'] as const;
export type MirrorFile = (typeof MIRROR_FILES)[number];

/** Where a connector's mirror lives and what it stands in front of. */
export interface Mirror {
  /** The registry as image names spell it: `docker.io`, `harbor.example.com:5000`. */
  registry: string;
  dockerHub: boolean;
  /** The registry's own origin, the runtime's fallback when the proxy does not answer. */
  server: string;
  /** The connector's proxy address (path or host mode). */
  address: ProxyAddress;
  /** A root address for the connector (its Service name): what dockerd and BuildKit need. */
  root: ProxyAddress;
}

/** Credentials dockerd sends to a Docker Hub mirror: the ones it has for Docker Hub. */
const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export class MirrorError extends Error {
  override readonly name = 'MirrorError';
}

export function isMirrorFile(name: string): name is MirrorFile {
  return (MIRROR_FILES as readonly string[]).includes(name);
}

/** The mirrors a connector offers: one per registry it serves (its own, or its `mirrorFor` list). */
export function mirrorsOf(c: Connector, o: AddressOptions): Mirror[] {
  const address = proxyAddress(c, o);
  const root = proxyAddress(c, { ...o, mode: 'host' });
  return mirrorRegistries(c).map((registry) => ({
    registry,
    dockerHub: registry === 'docker.io',
    server: registry === 'docker.io' ? 'https://registry-1.docker.io' : c.upstreamOrigin,
    address,
    root,
  }));
}

/** A TOML basic string. */
const q = (s: string): string => JSON.stringify(s);

/** The proxy's URL for containerd: path mode names the /v2 prefix itself (override_path). */
function containerdHost(m: Mirror): { url: string; overridePath: boolean } {
  const scheme = m.address.tls ? 'https' : 'http';
  if (m.address.registry === m.root.registry) return { url: `${scheme}://${m.address.registry}`, overridePath: false };
  return { url: `${scheme}://${m.address.imagePrefix.replace(m.address.registry, `${m.address.registry}/v2`)}`, overridePath: true };
}

export function renderMirror(file: MirrorFile, m: Mirror, credential?: { username: string; password: string }): string {
  const auth = credential && basicCredentials(credential.username, credential.password);
  switch (file) {
    case 'mirror-hosts.toml': {
      const host = containerdHost(m);
      const lines = [
        `# /etc/containerd/certs.d/${m.registry}/hosts.toml`,
        `server = ${q(m.server)}`,
        '',
        `[host.${q(host.url)}]`,
        '  capabilities = ["pull", "resolve"]',
        '  dial_timeout = "2s"',
      ];
      if (host.overridePath) lines.push('  override_path = true');
      if (m.address.tls) lines.push(`  ca = ${q(CA_PATHS.containerdMirror)}`);
      if (auth) lines.push(`  [host.${q(host.url)}.header]`, `    Authorization = [${q(`Basic ${auth}`)}]`);
      return lines.join('\n') + '\n';
    }
    case 'mirror-registries.conf':
      return `[[registry]]\nprefix = ${q(m.registry)}\nlocation = ${q(m.registry)}\n\n[[registry.mirror]]\nlocation = ${q(m.address.imagePrefix)}\n${m.address.tls ? '' : 'insecure = true\n'}`;
    case 'mirror-daemon.json':
      hubOnly(m, file);
      if (m.root.tls) return JSON.stringify({ 'registry-mirrors': [`https://${m.root.registry}`] }, null, 2) + '\n';
      return JSON.stringify({ 'registry-mirrors': [`http://${m.root.registry}`], 'insecure-registries': [`http://${m.root.registry}`] }, null, 2) + '\n';
    case 'mirror-buildkitd.toml':
      hubOnly(m, file);
      return `[registry."docker.io"]\n  mirrors = [${q(m.root.registry)}]\n\n[registry.${q(m.root.registry)}]\n  ${m.root.tls ? `ca = [${q(CA_PATHS.buildkit(m.root.registry))}]` : 'http = true'}\n`;
    case 'mirror-config.json': {
      const entry = auth ? { auth } : {};
      const keys = m.dockerHub ? [DOCKER_HUB_AUTH_KEY, m.root.registry] : [m.address.registry];
      return JSON.stringify({ auths: Object.fromEntries(keys.map((k) => [k, entry])) }, null, 2) + '\n';
    }
  }
}

function hubOnly(m: Mirror, file: MirrorFile): void {
  if (!m.dockerHub)
    throw new MirrorError(
      `${file}: dockerd and BuildKit use mirrors only for Docker Hub; this connector serves ${m.registry} (use hosts.toml, registries.conf or daemon.json instead)`,
    );
}
