/**
 * Client configuration files for a connector, rendered from its proxy address (pure):
 * docker's config.json, dockerd's daemon.json, buildkitd.toml (as the product renders them),
 * and beyond the product containerd's hosts.toml and a podman/skopeo/buildah registries.conf.
 */
import type { Connector } from '../connectors/model.ts';
import { basicCredentials } from '../util/basic.ts';

export const CONFIGURATION_FILES = ['config.json', 'daemon.json', 'buildkitd.toml', 'hosts.toml', 'registries.conf'] as const;
export type ConfigurationFile = (typeof CONFIGURATION_FILES)[number];

export type AddressMode = 'host' | 'path';

export interface ProxyAddress {
  /** What image references start with (and, over plain HTTP, what clients must treat as insecure): host[:port]. */
  registry: string;
  /** `status.proxy.httpAddress.url`: http(s)://registry, plus the connector prefix in path mode. */
  url: string;
  /** The image-reference prefix: registry, plus `/namespaces/<ns>/connectors/<name>` in path mode. */
  imagePrefix: string;
  /** The proxy listens with HTTPS (--tls-cert): clients verify it instead of treating it as insecure. */
  tls: boolean;
}

/** Where the proxy is reached: how addresses are written, its own host[:port], the Services' port, HTTPS. */
export interface AddressOptions {
  mode: AddressMode;
  /** Path mode: the host[:port] clients use to reach the proxy. */
  proxyHost: string;
  /** Host mode: the connector Services' port (default 80, or 443 with TLS). */
  servicePort?: number | undefined;
  tls?: boolean | undefined;
}

/**
 * The connector's proxy address. Host mode: its Service name `c-<name>.<ns>.svc.cluster.local`
 * (with `:port` when the proxy does not listen on 80). Path mode: the proxy's own host[:port]
 * with the connector prefix.
 */
export function proxyAddress(c: Pick<Connector, 'name' | 'namespace'>, o: AddressOptions): ProxyAddress {
  const tls = o.tls ?? false;
  const scheme = tls ? 'https' : 'http';
  if (o.mode === 'host') {
    const port = o.servicePort ?? (tls ? 443 : 80);
    const registry = `c-${c.name}.${c.namespace}.svc.cluster.local${port === (tls ? 443 : 80) ? '' : `:${port}`}`;
    return { registry, url: `${scheme}://${registry}`, imagePrefix: registry, tls };
  }
  const prefix = `/namespaces/${c.namespace}/connectors/${c.name}`;
  return { registry: o.proxyHost, url: `${scheme}://${o.proxyHost}${prefix}`, imagePrefix: `${o.proxyHost}${prefix}`, tls };
}

/** A TOML basic string. */
const q = (s: string): string => JSON.stringify(s);

/**
 * Where clients find the CA that signed the proxy's certificate (with --tls-cert): the rendered
 * files name these paths and the operator puts the CA there. containerd reads a relative `ca`
 * from the hosts.toml's own directory (certs.d/<host>/), wherever certs.d lives.
 */
export const CA_PATHS = {
  containerd: 'ca.crt',
  /** A mirror's hosts.toml sits in the upstream registry's directory: the proxy's CA beside it, by another name. */
  containerdMirror: 'proxy-ca.crt',
  buildkit: (registry: string) => `/etc/buildkit/certs/${registry}/ca.crt`,
};

/**
 * Renders one file. `credential` is the caller's own credential for the proxy (when access
 * control is on); it goes into config.json as `auth` and nowhere else.
 */
export function renderConfiguration(file: ConfigurationFile, address: ProxyAddress, credential?: { username: string; password: string }): string {
  const r = address.registry;
  switch (file) {
    case 'config.json': {
      const entry = credential ? { auth: basicCredentials(credential.username, credential.password) } : {};
      return JSON.stringify({ auths: { [r]: entry } }, null, 2) + '\n';
    }
    case 'daemon.json':
      // With TLS dockerd needs nothing here: the CA goes to /etc/docker/certs.d/<registry>/ca.crt.
      // Without, the http:// form: dockerd takes it (and strips the scheme), and its builtin
      // BuildKit honours only this form for a name it cannot see is loopback.
      return JSON.stringify(address.tls ? {} : { 'insecure-registries': [`http://${r}`] }, null, 2) + '\n';
    case 'buildkitd.toml': {
      const registry = address.tls ? `  ca = [${q(CA_PATHS.buildkit(r))}]` : '  http = true';
      return `insecure-entitlements = ["network.host", "security.insecure"]\n\n[registry.${q(r)}]\n${registry}\n`;
    }
    case 'hosts.toml': {
      // /etc/containerd/certs.d/<registry>/hosts.toml
      const url = `${address.tls ? 'https' : 'http'}://${r}`;
      const ca = address.tls ? `  ca = ${q(CA_PATHS.containerd)}\n` : '';
      return `server = ${q(url)}\n\n[host.${q(url)}]\n  capabilities = ["pull", "resolve", "push"]\n${ca}`;
    }
    case 'registries.conf':
      // With TLS podman and buildah verify the proxy with /etc/containers/certs.d/<registry>/ca.crt.
      return `[[registry]]\nlocation = ${q(r)}\n${address.tls ? '' : 'insecure = true\n'}`;
  }
}

export function isConfigurationFile(name: string): name is ConfigurationFile {
  return (CONFIGURATION_FILES as readonly string[]).includes(name);
}
