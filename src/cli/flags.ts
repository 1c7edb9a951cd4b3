/**
 * The command line: every flag with its environment variable, default and meaning, in one
 * table from which the usage text is printed; and the small parsers that check their values.
 * A bad value is a UsageError naming the flag (exit 2 with one line).
 */
import { ACCESS_TOKEN_SECRET_TYPE } from '../access/tokens.ts';
import { ACCESS_MODES } from '../connectors/params.ts';
import { MIRROR_FILES } from '../configurations/mirrors.ts';
import { CONFIGURATION_FILES } from '../configurations/render.ts';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Flags that do not parse at all (an unknown one, a missing value): the usage text follows the message. */
export class FlagError extends UsageError {}

interface Flag {
  env: string;
  /** `<arg>` shown in the usage. */
  arg: string;
  help: string;
}

export const FLAGS = {
  config: { env: 'OCP_CONFIG', arg: '<file>', help: 'Connector and Secret YAML documents' },
  upstream: { env: 'OCP_UPSTREAM', arg: '<url>', help: 'one anonymous connector for this registry' },
  listen: { env: 'OCP_LISTEN', arg: '<host:port>', help: 'address to listen on, default 127.0.0.1:5000' },
  'tls-cert': { env: 'OCP_TLS_CERT', arg: '<file>', help: 'serve HTTPS with this PEM certificate (chain), re-read when it changes; with --tls-key' },
  'tls-key': { env: 'OCP_TLS_KEY', arg: '<file>', help: 'the PEM private key of --tls-cert' },
  'log-level': { env: 'OCP_LOG_LEVEL', arg: '<level>', help: 'trace|debug|info|warn|error, default info' },
  'connect-timeout': { env: 'OCP_CONNECT_TIMEOUT', arg: '<ms>', help: 'upstream connect timeout, default 10000' },
  'headers-timeout': { env: 'OCP_HEADERS_TIMEOUT', arg: '<ms>', help: 'upstream response-header timeout, default 30000' },
  'body-timeout': { env: 'OCP_BODY_TIMEOUT', arg: '<ms>', help: 'upstream body idle timeout, default 300000' },
  'token-timeout': { env: 'OCP_TOKEN_TIMEOUT', arg: '<ms>', help: 'token server exchange timeout, default 15000' },
  'client-idle-timeout': { env: 'OCP_CLIENT_IDLE_TIMEOUT', arg: '<ms>', help: 'a client that reads nothing, or sends nothing of its body, this long is cut; default 60000' },
  'bulk-connections': { env: 'OCP_BULK_CONNECTIONS', arg: '<n>', help: 'upstream connections for blob transfers, per connector, default 128' },
  'small-connections': { env: 'OCP_SMALL_CONNECTIONS', arg: '<n>', help: 'upstream connections for all other requests, per connector, default 64' },
  'queue-timeout': { env: 'OCP_QUEUE_TIMEOUT', arg: '<ms>', help: 'wait for a free upstream connection before 503, default 10000' },
  'max-manifest-bytes': { env: 'OCP_MAX_MANIFEST_BYTES', arg: '<n>', help: 'largest manifest a client may PUT, default 4194304' },
  'manifest-buffer-bytes': { env: 'OCP_MANIFEST_BUFFER_BYTES', arg: '<n>', help: 'manifest bytes all PUTs in flight may hold, default 67108864' },
  'cache-dir': { env: 'OCP_CACHE_DIR', arg: '<dir>', help: 'turns the pull-through cache on, storing blobs and manifests here' },
  'cache-max-bytes': { env: 'OCP_CACHE_MAX_BYTES', arg: '<n>', help: 'the store bound, least recently used evicted, default 10737418240 (10 GiB)' },
  'cache-stale-on-error': { env: 'OCP_CACHE_STALE_ON_ERROR', arg: '<bool>', help: "serve a tag's last manifest when the upstream fails, default true" },
  'cache-confirm-ttl': { env: 'OCP_CACHE_CONFIRM_TTL', arg: '<ms>', help: "how long an upstream's word that a repository holds a digest is taken, default 600000" },
  'shutdown-grace': { env: 'OCP_SHUTDOWN_GRACE', arg: '<ms>', help: 'time in-flight requests get on SIGTERM, default 30000' },
  'default-connector': { env: 'OCP_DEFAULT_CONNECTOR', arg: '<ns>/<name>', help: 'connector for plain /v2/<repo> requests; default: the only connector' },
  access: { env: 'OCP_ACCESS', arg: '<mode>', help: `who may use the connectors: ${ACCESS_MODES.join('|')}, default none` },
  'access-tokens': { env: 'OCP_ACCESS_TOKENS', arg: '<file>', help: `${ACCESS_TOKEN_SECRET_TYPE} Secrets for --access static` },
  'health-interval': { env: 'OCP_HEALTH_INTERVAL', arg: '<ms>', help: 'connector health checks, default 60000; 0: only on changes' },
  'health-timeout': { env: 'OCP_HEALTH_TIMEOUT', arg: '<ms>', help: "one health check's time limit, default 10000" },
  'address-mode': { env: 'OCP_ADDRESS_MODE', arg: '<mode>', help: 'proxy addresses in status and rendered files: path|host, default path' },
  'proxy-host': { env: 'OCP_PROXY_HOST', arg: '<host:port>', help: 'how clients reach the proxy, for path-mode addresses; default: the Host of the request' },
  'service-port': { env: 'OCP_SERVICE_PORT', arg: '<port>', help: "connector Services' port, for host-mode addresses, default 80 (443 with --tls-cert)" },
  source: { env: 'OCP_SOURCE', arg: '<source>', help: 'where connectors come from: file|kubernetes, default file' },
  kubeconfig: { env: 'OCP_KUBECONFIG', arg: '<file>', help: 'kubernetes source outside a cluster; default: in-cluster, else $KUBECONFIG' },
  namespaces: { env: 'OCP_NAMESPACES', arg: '<a,b>', help: 'kubernetes source: namespaces to watch, default all' },
  'proxy-service': {
    env: 'OCP_PROXY_SERVICE',
    arg: '<host>',
    help: "kubernetes source: the proxy's own Service host, default oci-connector-proxy.<POD_NAMESPACE>.svc.cluster.local",
  },
  'leader-election': { env: 'OCP_LEADER_ELECTION', arg: '<bool>', help: 'kubernetes source: one replica writes status and Services, default true' },
  'lease-namespace': { env: 'OCP_LEASE_NAMESPACE', arg: '<ns>', help: 'namespace of the leader Lease, default $POD_NAMESPACE or default' },
  'access-proxy-subresource': { env: 'OCP_ACCESS_PROXY_SUBRESOURCE', arg: '<bool>', help: 'kubernetes access: also require get on connectors/proxy, default false' },
  'allow-cross-namespace-secrets': {
    env: 'OCP_ALLOW_CROSS_NAMESPACE_SECRETS',
    arg: '<bool>',
    help: 'kubernetes source: let a Connector use a Secret of another namespace, default false',
  },
  'allow-connector-hosts': { env: 'OCP_ALLOW_CONNECTOR_HOSTS', arg: '<bool>', help: 'kubernetes source: honour spec.params hosts, default false' },
} as const satisfies Record<string, Flag>;

export type FlagName = keyof typeof FLAGS;

function usageLine(name: string, f: Flag): string {
  const left = `  --${name} ${f.arg}`;
  return `${left.padEnd(36)}${f.help} (${f.env})`;
}

export const USAGE = `Usage: oci-connector-proxy [options]

${Object.entries(FLAGS)
  .map(([name, f]) => usageLine(name, f))
  .join('\n')}
  --trust-proxy                     honour X-Forwarded-Proto/Host from a fronting proxy (OCP_TRUST_PROXY=true)
  -h, --help                        this text

With neither --config nor --upstream the proxy serves Docker Hub anonymously. The --config and
--access-tokens files are watched: a valid change is applied at once, an invalid one is logged
and the previous configuration keeps serving.

       oci-connector-proxy render <file> --config <file> [--connector <ns>/<name>]
                          [--mode host|path] [--proxy-host <host:port>] [--service-port <port>]
                          [--token-file <file>] [--username <name>] [--tls]
       oci-connector-proxy render mirrors --dir <dir> --config <file> [same options]
       oci-connector-proxy health [--listen <host:port>]

  Prints one client configuration for a connector (default: the first in the file), one of
  ${[...CONFIGURATION_FILES, ...MIRROR_FILES].join(', ')}.
  \`render mirrors\` writes containerd's <dir>/<registry>/hosts.toml for every connector.
  Host mode (default) uses the connector's Service name
  c-<name>.<ns>.svc.cluster.local; path mode uses --proxy-host (default 127.0.0.1:5000)
  with the /namespaces/<ns>/connectors/<name> prefix. With --token-file, config.json holds
  that proxy token (as the password of --username, default "token"). With --tls the files
  are for a proxy serving HTTPS (--tls-cert): https://, the CA paths, no insecure entries.
  \`health\` asks /healthz where the proxy listens (--listen, OCP_LISTEN) and exits 0 on 200: the
  image's HEALTHCHECK.`;

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen: ${JSON.stringify(value)} must be host:port, e.g. 127.0.0.1:5000 or [::1]:5000`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function positiveInt(name: string, value: string | undefined, fallback: number, unit = 'milliseconds'): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name}: ${JSON.stringify(value)} must be a positive number of ${unit}`);
  return n;
}

export function parseBool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`--${name}: must be true or false, got ${JSON.stringify(value)}`);
}
