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
  /** What image references start with and what clients must treat as insecure: host[:port]. */
  registry: string;
  /** `status.proxy.httpAddress.url`: http://registry, plus the connector prefix in path mode. */
  url: string;
  /** The image-reference prefix: registry, plus `/namespaces/<ns>/connectors/<name>` in path mode. */
  imagePrefix: string;
}

/**
 * The connector's proxy address. Host mode: its Service name `c-<name>.<ns>.svc.cluster.local`
 * (with `:port` when the proxy does not listen on 80). Path mode: the proxy's own host[:port]
 * with the connector prefix.
 */
export function proxyAddress(c: Pick<Connector, 'name' | 'namespace'>, mode: AddressMode, proxyHost: string, servicePort = 80): ProxyAddress {
  if (mode === 'host') {
    const registry = `c-${c.name}.${c.namespace}.svc.cluster.local${servicePort === 80 ? '' : `:${servicePort}`}`;
    return { registry, url: `http://${registry}`, imagePrefix: registry };
  }
  const prefix = `/namespaces/${c.namespace}/connectors/${c.name}`;
  return { registry: proxyHost, url: `http://${proxyHost}${prefix}`, imagePrefix: `${proxyHost}${prefix}` };
}

/** A TOML basic string. */
const q = (s: string): string => JSON.stringify(s);

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
      // The http:// form: dockerd takes it (and strips the scheme), and its builtin BuildKit
      // honours only this form for a name it cannot see is loopback.
      return JSON.stringify({ 'insecure-registries': [`http://${r}`] }, null, 2) + '\n';
    case 'buildkitd.toml':
      return `insecure-entitlements = ["network.host", "security.insecure"]\n\n[registry.${q(r)}]\n  http = true\n`;
    case 'hosts.toml':
      // /etc/containerd/certs.d/<registry>/hosts.toml
      return `server = ${q(`http://${r}`)}\n\n[host.${q(`http://${r}`)}]\n  capabilities = ["pull", "resolve", "push"]\n`;
    case 'registries.conf':
      return `[[registry]]\nlocation = ${q(r)}\ninsecure = true\n`;
  }
}

export function isConfigurationFile(name: string): name is ConfigurationFile {
  return (CONFIGURATION_FILES as readonly string[]).includes(name);
}
