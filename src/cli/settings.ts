/**
 * Everything the flags, the environment and the configuration files say, checked, as one
 * Settings value: `readSettings(argv, env)` is pure apart from reading the files it is told to
 * (and loading the Kubernetes client for --source kubernetes). Throws UsageError or ConfigError.
 */
import { parseArgs } from 'node:util';
import { ACCESS_MODES, ACCESS_TOKEN_SECRET_TYPE, AccessControl, type AccessMode } from '../access/control.ts';
import { connectorKey } from '../connectors/model.ts';
import { type Configuration, loadConfiguration } from '../sources/file.ts';
import { commaList } from '../util/list.ts';
import { type ListenerTls, type ListenerTlsFiles, readListenerTls } from '../http/listener-tls.ts';
import { FlagError, FLAGS, type FlagName, parseBool, parseListen, positiveInt, UsageError } from './flags.ts';

type Kubernetes = typeof import('../sources/kubernetes/index.ts');
type Env = Record<string, string | undefined>;

export interface Settings {
  cfg: Configuration;
  configFile: string | undefined;
  upstream: string | undefined;
  tokensFile: string | undefined;
  /** What to call the configuration in messages. */
  source: string;
  defaultConnector: string | undefined;
  listen: { host: string; port: number };
  /** HTTPS on the listener: the files (watched) and the pair read from them at start-up. */
  listenerTls: { files: ListenerTlsFiles; material: ListenerTls } | undefined;
  upstreamOptions: {
    connectTimeout: number;
    headersTimeout: number;
    bodyTimeout: number;
    tokenTimeout: number;
    bulkConnections: number;
    smallConnections: number;
    queueTimeout: number;
  };
  clientIdleTimeout: number;
  cache: { dir: string; maxBytes: number; staleOnError: boolean; confirmMs: number } | undefined;
  manifestMaxBytes: number;
  manifestBufferBytes: number;
  grace: number;
  access: AccessControl;
  health: { intervalMs: number; timeoutMs: number };
  addressMode: 'host' | 'path';
  proxyHost: string | undefined;
  servicePort: number;
  level: string;
  trustProxy: boolean;
  kube: KubernetesSettings | undefined;
}

export type KubernetesSettings = ReturnType<typeof kubernetesSettings>;

/** The flags given, or undefined for --help; a flag not given falls back to its environment variable. */
export function parseFlags(argv: readonly string[], env: Env): (((name: FlagName) => string | undefined) & { trustProxy: boolean }) | undefined {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }])),
        'trust-proxy': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
  if (values['help']) return undefined;
  const opt = (name: FlagName): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : env[FLAGS[name].env] || undefined;
  };
  return Object.assign(opt, { trustProxy: values['trust-proxy'] === true || env['OCP_TRUST_PROXY'] === 'true' });
}

/** The settings for `argv`, or undefined when --help was asked for. */
export async function readSettings(argv: readonly string[], env: Env): Promise<Settings | undefined> {
  const opt = parseFlags(argv, env);
  if (!opt) return undefined;
  const configFile = opt('config');
  const upstream = opt('upstream');
  const tokensFile = opt('access-tokens');
  const defaultConnector = opt('default-connector');
  const source = configFile ?? (upstream ? '--upstream' : 'the default connector');
  if (configFile && upstream) throw new UsageError('--config and --upstream are exclusive; give one');
  const kube = await kubernetesSource(opt, env, configFile, upstream);
  const cfg = loadConfiguration({ configFile, upstream, tokensFile, tokensOnly: kube !== undefined });
  const access = accessControl(opt, cfg, tokensFile, kube);
  const problems = configurationProblems(cfg, access, kube ? undefined : defaultConnector, source);
  if (problems.length) throw new UsageError(problems[0]!);
  return {
    cfg,
    configFile,
    upstream,
    tokensFile,
    source,
    defaultConnector,
    listen: parseListen(opt('listen') ?? '127.0.0.1:5000'),
    listenerTls: listenerTls(opt),
    upstreamOptions: upstreamOptions(opt),
    clientIdleTimeout: positiveInt('client-idle-timeout', opt('client-idle-timeout'), 60_000),
    cache: cacheSettings(opt),
    manifestMaxBytes: positiveInt('max-manifest-bytes', opt('max-manifest-bytes'), 4 * 1024 * 1024, 'bytes'),
    manifestBufferBytes: positiveInt('manifest-buffer-bytes', opt('manifest-buffer-bytes'), 64 * 1024 * 1024, 'bytes'),
    grace: positiveInt('shutdown-grace', opt('shutdown-grace'), 30_000),
    access,
    health: healthSettings(opt),
    addressMode: addressMode(opt, kube !== undefined),
    proxyHost: opt('proxy-host'),
    servicePort: servicePort(opt, opt('tls-cert') !== undefined),
    level: logLevel(opt),
    trustProxy: opt.trustProxy,
    kube,
  };
}

type Opt = (name: FlagName) => string | undefined;

function listenerTls(opt: Opt): Settings['listenerTls'] {
  const cert = opt('tls-cert');
  const key = opt('tls-key');
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new UsageError(`--${cert === undefined ? 'tls-cert' : 'tls-key'}: missing (HTTPS needs both --tls-cert and --tls-key)`);
  const files = { cert, key };
  return { files, material: readListenerTls(files) };
}

function upstreamOptions(opt: Opt): Settings['upstreamOptions'] {
  return {
    connectTimeout: positiveInt('connect-timeout', opt('connect-timeout'), 10_000),
    headersTimeout: positiveInt('headers-timeout', opt('headers-timeout'), 30_000),
    bodyTimeout: positiveInt('body-timeout', opt('body-timeout'), 300_000),
    tokenTimeout: positiveInt('token-timeout', opt('token-timeout'), 15_000),
    bulkConnections: positiveInt('bulk-connections', opt('bulk-connections'), 128, 'connections'),
    smallConnections: positiveInt('small-connections', opt('small-connections'), 64, 'connections'),
    queueTimeout: positiveInt('queue-timeout', opt('queue-timeout'), 10_000),
  };
}

function cacheSettings(opt: Opt): Settings['cache'] {
  const dir = opt('cache-dir');
  const given = (['cache-max-bytes', 'cache-stale-on-error', 'cache-confirm-ttl'] as const).find((f) => opt(f) !== undefined);
  if (!dir) {
    if (given) throw new UsageError(`--${given}: given, but the cache is off; add --cache-dir <dir>`);
    return undefined;
  }
  return {
    dir,
    maxBytes: positiveInt('cache-max-bytes', opt('cache-max-bytes'), 10 * 1024 ** 3, 'bytes'),
    staleOnError: parseBool('cache-stale-on-error', opt('cache-stale-on-error'), true),
    confirmMs: positiveInt('cache-confirm-ttl', opt('cache-confirm-ttl'), 600_000),
  };
}

function healthSettings(opt: Opt): Settings['health'] {
  const interval = opt('health-interval');
  return {
    intervalMs: interval === '0' ? 0 : positiveInt('health-interval', interval, 60_000),
    timeoutMs: positiveInt('health-timeout', opt('health-timeout'), 10_000),
  };
}

function addressMode(opt: Opt, inCluster: boolean): 'host' | 'path' {
  const mode = opt('address-mode') ?? (inCluster ? 'host' : 'path');
  if (mode !== 'host' && mode !== 'path') throw new UsageError(`--address-mode: must be host or path, got ${JSON.stringify(mode)}`);
  return mode;
}

function servicePort(opt: Opt, tls: boolean): number {
  const port = positiveInt('service-port', opt('service-port'), tls ? 443 : 80, 'port');
  if (port > 65535) throw new UsageError('--service-port: must be a port number');
  return port;
}

function logLevel(opt: Opt): string {
  const level = opt('log-level') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) throw new UsageError(`--log-level: unknown level ${JSON.stringify(level)}`);
  return level;
}

function accessControl(opt: Opt, cfg: Configuration, tokensFile: string | undefined, kube: KubernetesSettings | undefined): AccessControl {
  const mode = opt('access') ?? 'none';
  if (!(ACCESS_MODES as readonly string[]).includes(mode)) throw new UsageError(`--access: must be one of ${ACCESS_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  if (tokensFile && mode === 'none' && !cfg.connectors.some((c) => c.params['access'] === 'static')) {
    throw new UsageError('--access-tokens: given, but --access is none and no connector sets spec.params[access]=static; add --access static');
  }
  return new AccessControl({
    mode: mode as AccessMode,
    tokens: cfg.accessTokens,
    reviewer: kube
      ? new kube.k8s.KubernetesReviewer({ kubeConfig: kube.kc, checkProxySubresource: parseBool('access-proxy-subresource', opt('access-proxy-subresource'), false) })
      : undefined,
  });
}

async function kubernetesSource(opt: Opt, env: Env, configFile: string | undefined, upstream: string | undefined): Promise<KubernetesSettings | undefined> {
  const kind = opt('source') ?? 'file';
  if (kind !== 'file' && kind !== 'kubernetes') throw new UsageError(`--source: must be file or kubernetes, got ${JSON.stringify(kind)}`);
  if (kind === 'file') return undefined;
  if (configFile || upstream) throw new UsageError(`${configFile ? '--config' : '--upstream'}: not with --source kubernetes (connectors come from the cluster)`);
  // Loaded only here: @kubernetes/client-node costs ~60 MiB of memory.
  return kubernetesSettings(await import('../sources/kubernetes/index.ts'), opt, env);
}

/** The kubernetes source's settings: a KubeConfig (in-cluster, --kubeconfig or $KUBECONFIG) and where to write. */
function kubernetesSettings(k8s: Kubernetes, opt: Opt, env: Env) {
  const kc = new k8s.KubeConfig();
  const file = opt('kubeconfig');
  try {
    if (file) kc.loadFromFile(file);
    else if (env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    throw new UsageError(`--kubeconfig${file ? ` ${file}` : ''}: cannot load: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!kc.getCurrentCluster()) throw new UsageError(`--source kubernetes: no cluster: run in a cluster, or give --kubeconfig <file>`);
  const namespaces = commaList(opt('namespaces'));
  for (const n of namespaces) if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n)) throw new UsageError(`--namespaces: ${JSON.stringify(n)} is not a namespace name`);
  const podNamespace = env['POD_NAMESPACE'] || 'default';
  return {
    k8s,
    kc,
    namespaces,
    proxyService: opt('proxy-service') ?? `oci-connector-proxy.${podNamespace}.svc.cluster.local`,
    leaderElection: parseBool('leader-election', opt('leader-election'), true),
    translate: {
      allowCrossNamespaceSecrets: parseBool('allow-cross-namespace-secrets', opt('allow-cross-namespace-secrets'), false),
      allowHosts: parseBool('allow-connector-hosts', opt('allow-connector-hosts'), false),
    },
    leaseNamespace: opt('lease-namespace') ?? podNamespace,
  };
}

/** Checks a configuration against the process settings; the problems that make it unusable. */
export function configurationProblems(cfg: Configuration, access: AccessControl, defaultConnector: string | undefined, source: string): string[] {
  const problems = access.problems(cfg.connectors);
  if (access.mode === 'static' && cfg.accessTokens.length === 0) {
    problems.push(`--access static: no access tokens: give --access-tokens <file> or put Secrets of type ${ACCESS_TOKEN_SECRET_TYPE} in ${source}`);
  }
  if (defaultConnector !== undefined && !cfg.connectors.some((c) => connectorKey(c) === defaultConnector)) {
    problems.push(`--default-connector: ${defaultConnector} is not in ${source} (have ${cfg.connectors.map(connectorKey).join(', ')})`);
  }
  return problems;
}
