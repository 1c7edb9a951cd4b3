#!/usr/bin/env node
/**
 * Start-up: flags and environment, the connector file, the server, signals.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ACCESS_MODES, ACCESS_TOKEN_SECRET_TYPE, AccessControl, type AccessMode } from './access/control.ts';
import { CONFIGURATION_FILES, isConfigurationFile, proxyAddress, renderConfiguration } from './configurations/render.ts';
import { type Connector, connectorKey } from './connectors/model.ts';
import { ConfigError } from './connectors/parse.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { buildServer, type ProxyServer } from './server.ts';
import { hostname } from 'node:os';
import { type Configuration, loadConfiguration, watchFiles } from './sources/file.ts';
import type { KubernetesController } from './sources/kubernetes/controller.ts';

type Kubernetes = typeof import('./sources/kubernetes/index.ts');

const USAGE = `Usage: oci-connector-proxy [options]

  --config <file>           Connector and Secret YAML documents          (OCP_CONFIG)
  --upstream <url>          one anonymous connector for this registry     (OCP_UPSTREAM)
  --listen <host:port>      address to listen on, default 127.0.0.1:5000  (OCP_LISTEN)
  --log-level <level>       trace|debug|info|warn|error, default info     (OCP_LOG_LEVEL)
  --connect-timeout <ms>    upstream connect timeout, default 10000        (OCP_CONNECT_TIMEOUT)
  --headers-timeout <ms>    upstream response-header timeout, default 30000 (OCP_HEADERS_TIMEOUT)
  --body-timeout <ms>       upstream body idle timeout, default 300000     (OCP_BODY_TIMEOUT)
  --token-timeout <ms>      token server exchange timeout, default 15000  (OCP_TOKEN_TIMEOUT)
  --max-manifest-bytes <n>  largest manifest a client may PUT, default 4194304 (OCP_MAX_MANIFEST_BYTES)
  --shutdown-grace <ms>     time in-flight requests get on SIGTERM, default 30000 (OCP_SHUTDOWN_GRACE)
  --trust-proxy             honour X-Forwarded-Proto/Host from a fronting proxy (OCP_TRUST_PROXY=true)
  --default-connector <ns>/<name>  connector for plain /v2/<repo> requests;
                            default: the only connector                   (OCP_DEFAULT_CONNECTOR)
  --access <mode>           who may use the connectors: ${ACCESS_MODES.join('|')}, default none (OCP_ACCESS)
  --access-tokens <file>    ${ACCESS_TOKEN_SECRET_TYPE} Secrets for --access static (OCP_ACCESS_TOKENS)
  --health-interval <ms>    connector health checks, default 60000; 0: only on changes (OCP_HEALTH_INTERVAL)
  --health-timeout <ms>     one health check's time limit, default 10000  (OCP_HEALTH_TIMEOUT)
  --address-mode <mode>     proxy addresses in status and rendered files: path|host, default path (OCP_ADDRESS_MODE)
  --proxy-host <host:port>  how clients reach the proxy, for path-mode addresses;
                            default: the Host of the request               (OCP_PROXY_HOST)
  --service-port <port>     connector Services' port, for host-mode addresses, default 80 (OCP_SERVICE_PORT)
  --source <source>         where connectors come from: file|kubernetes, default file (OCP_SOURCE)
  --kubeconfig <file>       kubernetes source outside a cluster; default: in-cluster, else $KUBECONFIG (OCP_KUBECONFIG)
  --namespaces <a,b>        kubernetes source: namespaces to watch, default all (OCP_NAMESPACES)
  --proxy-service <host>    kubernetes source: the proxy's own Service host the connector
                            Services point at, default oci-connector-proxy.<POD_NAMESPACE>.svc.cluster.local (OCP_PROXY_SERVICE)
  --leader-election <bool>  kubernetes source: one replica writes status and Services, default true (OCP_LEADER_ELECTION)
  --lease-namespace <ns>    namespace of the leader Lease, default $POD_NAMESPACE or default (OCP_LEASE_NAMESPACE)
  --access-proxy-subresource <bool>  kubernetes access: also require get on connectors/proxy, default false
                                                                           (OCP_ACCESS_PROXY_SUBRESOURCE)
  --allow-cross-namespace-secrets <bool>  kubernetes source: let a Connector use a Secret of
                            another namespace, default false (OCP_ALLOW_CROSS_NAMESPACE_SECRETS)
  --allow-connector-hosts <bool>  kubernetes source: honour spec.params hosts, default false
                                                                           (OCP_ALLOW_CONNECTOR_HOSTS)
  -h, --help                this text

With neither --config nor --upstream the proxy serves Docker Hub anonymously. The --config and
--access-tokens files are watched: a valid change is applied at once, an invalid one is logged
and the previous configuration keeps serving.

       oci-connector-proxy render <file> --config <file> [--connector <ns>/<name>]
                          [--mode host|path] [--proxy-host <host:port>] [--service-port <port>]
                          [--token-file <file>] [--username <name>]

  Prints one client configuration for a connector (default: the first in the file), one of
  ${CONFIGURATION_FILES.join(', ')}.
  Host mode (default) uses the connector's Service name
  c-<name>.<ns>.svc.cluster.local; path mode uses --proxy-host (default 127.0.0.1:5000)
  with the /namespaces/<ns>/connectors/<name> prefix. With --token-file, config.json holds
  that proxy token (as the password of --username, default "token").`;

const FLAGS = {
  config: 'OCP_CONFIG',
  upstream: 'OCP_UPSTREAM',
  listen: 'OCP_LISTEN',
  'log-level': 'OCP_LOG_LEVEL',
  'connect-timeout': 'OCP_CONNECT_TIMEOUT',
  'headers-timeout': 'OCP_HEADERS_TIMEOUT',
  'body-timeout': 'OCP_BODY_TIMEOUT',
  'shutdown-grace': 'OCP_SHUTDOWN_GRACE',
  'token-timeout': 'OCP_TOKEN_TIMEOUT',
  'max-manifest-bytes': 'OCP_MAX_MANIFEST_BYTES',
  'default-connector': 'OCP_DEFAULT_CONNECTOR',
  access: 'OCP_ACCESS',
  'access-tokens': 'OCP_ACCESS_TOKENS',
  'health-interval': 'OCP_HEALTH_INTERVAL',
  'health-timeout': 'OCP_HEALTH_TIMEOUT',
  'address-mode': 'OCP_ADDRESS_MODE',
  'proxy-host': 'OCP_PROXY_HOST',
  'service-port': 'OCP_SERVICE_PORT',
  source: 'OCP_SOURCE',
  kubeconfig: 'OCP_KUBECONFIG',
  namespaces: 'OCP_NAMESPACES',
  'proxy-service': 'OCP_PROXY_SERVICE',
  'leader-election': 'OCP_LEADER_ELECTION',
  'lease-namespace': 'OCP_LEASE_NAMESPACE',
  'access-proxy-subresource': 'OCP_ACCESS_PROXY_SUBRESOURCE',
  'allow-cross-namespace-secrets': 'OCP_ALLOW_CROSS_NAMESPACE_SECRETS',
  'allow-connector-hosts': 'OCP_ALLOW_CONNECTOR_HOSTS',
} as const;

class UsageError extends Error {}

function fail(message: string, code = 2): never {
  process.stderr.write(`oci-connector-proxy: ${message}\n`);
  process.exit(code);
}

/** `render <file>`: prints one client configuration file of a connector. */
function render(argv: string[]): void {
  let parsed: ReturnType<typeof parseArgs<{ options: Record<string, { type: 'string' }>; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        upstream: { type: 'string' },
        connector: { type: 'string' },
        mode: { type: 'string' },
        'proxy-host': { type: 'string' },
        'service-port': { type: 'string' },
        'token-file': { type: 'string' },
        username: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    fail(`render: ${(err as Error).message}`);
  }
  const { values, positionals } = parsed;
  try {
    const file = positionals[0];
    if (!file || positionals.length > 1 || !isConfigurationFile(file)) throw new UsageError(`render: name one file of ${CONFIGURATION_FILES.join(', ')}`);
    const mode = values['mode'] ?? 'host';
    if (mode !== 'host' && mode !== 'path') throw new UsageError(`render --mode: must be host or path, got ${JSON.stringify(mode)}`);
    const { connectors } = loadConfiguration({ configFile: values['config'] ?? process.env['OCP_CONFIG'], upstream: values['upstream'] ?? process.env['OCP_UPSTREAM'], tokensFile: undefined });
    const wanted = values['connector'];
    const c = wanted ? connectors.find((x) => `${x.namespace}/${x.name}` === wanted) : connectors[0];
    if (!c) throw new UsageError(`render --connector: ${JSON.stringify(wanted)} is not in the configuration (have ${connectors.map((x) => `${x.namespace}/${x.name}`).join(', ')})`);
    const proxyHost = values['proxy-host'] ?? '127.0.0.1:5000';
    const servicePort = values['service-port'] === undefined ? 80 : Number(values['service-port']);
    if (!Number.isInteger(servicePort) || servicePort < 1 || servicePort > 65535) throw new UsageError('render --service-port: must be a port number');
    let credential: { username: string; password: string } | undefined;
    const tokenFile = values['token-file'];
    if (tokenFile !== undefined) {
      let token: string;
      try {
        token = readFileSync(tokenFile, 'utf8').trim();
      } catch (err) {
        throw new UsageError(`render --token-file: ${tokenFile}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (!token) throw new UsageError(`render --token-file: ${tokenFile} is empty`);
      credential = { username: values['username'] ?? 'token', password: token };
    }
    process.stdout.write(renderConfiguration(file, proxyAddress(c, mode, proxyHost, servicePort), credential));
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) fail(err.message);
    throw err;
  }
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen: ${JSON.stringify(value)} must be host:port, e.g. 127.0.0.1:5000 or [::1]:5000`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function positiveInt(name: string, value: string | undefined, fallback: number, unit = 'milliseconds'): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name}: ${JSON.stringify(value)} must be a positive number of ${unit}`);
  return n;
}

function parseBool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`--${name}: must be true or false, got ${JSON.stringify(value)}`);
}

/** The kubernetes source's settings: a KubeConfig (in-cluster, --kubeconfig or $KUBECONFIG) and where to write. */
function kubernetesSettings(k8s: Kubernetes, opt: (name: keyof typeof FLAGS) => string | undefined) {
  const kc = new k8s.KubeConfig();
  const file = opt('kubeconfig');
  try {
    if (file) kc.loadFromFile(file);
    else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    throw new UsageError(`--kubeconfig${file ? ` ${file}` : ''}: cannot load: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!kc.getCurrentCluster()) throw new UsageError(`--source kubernetes: no cluster: run in a cluster, or give --kubeconfig <file>`);
  const namespaces = (opt('namespaces') ?? '').split(',').map((n) => n.trim()).filter(Boolean);
  for (const n of namespaces) if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n)) throw new UsageError(`--namespaces: ${JSON.stringify(n)} is not a namespace name`);
  const podNamespace = process.env['POD_NAMESPACE'] || 'default';
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

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Checks a configuration against the process settings; the problems that make it unusable. */
function configurationProblems(cfg: Configuration, access: AccessControl, defaultConnector: string | undefined, source: string): string[] {
  const problems = access.problems(cfg.connectors);
  if (access.mode === 'static' && cfg.accessTokens.length === 0) {
    problems.push(`--access static: no access tokens: give --access-tokens <file> or put Secrets of type ${ACCESS_TOKEN_SECRET_TYPE} in ${source}`);
  }
  if (defaultConnector !== undefined && !cfg.connectors.some((c) => connectorKey(c) === defaultConnector)) {
    problems.push(`--default-connector: ${defaultConnector} is not in ${source} (have ${cfg.connectors.map(connectorKey).join(', ')})`);
  }
  return problems;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'render') {
    render(process.argv.slice(3));
    return;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        ...Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }])),
        'trust-proxy': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (values['help']) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const opt = (name: keyof typeof FLAGS): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : process.env[FLAGS[name]] || undefined;
  };

  let settings: Settings;
  try {
    settings = await readSettings(opt, values['trust-proxy'] === true || process.env['OCP_TRUST_PROXY'] === 'true');
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) fail(err.message);
    throw err;
  }
  const s = settings;
  const logger = createLogger(s.level);
  let controller: KubernetesController | undefined;
  const server = buildServer({
    connectors: s.cfg.connectors,
    logger,
    upstream: s.timeouts,
    trustProxy: s.trustProxy,
    manifestMaxBytes: s.manifestMaxBytes,
    access: s.access,
    defaultConnector: s.defaultConnector,
    health: s.health,
    addressMode: s.addressMode,
    proxyHost: s.proxyHost,
    servicePort: s.servicePort,
    ready: () => controller?.ready ?? true,
  });

  try {
    await server.app.listen({ host: s.listen.host, port: s.listen.port });
  } catch (err) {
    fail(`--listen ${s.listen.host}:${s.listen.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1);
  }
  logger.info({ listen: `${s.listen.host}:${s.listen.port}`, connectors: describeConnectors(s, s.cfg.connectors), accessTokens: s.cfg.accessTokens.length }, 'oci-connector-proxy listening');
  warnIfOpen(s, logger, s.cfg.connectors);

  if (s.kube) controller = startKubernetes(s, s.kube, server, logger);
  const watched = [s.configFile, s.tokensFile].filter((f): f is string => f !== undefined);
  const watcher = watched.length ? watchFiles(watched, reloader(s, server, logger)) : undefined;

  onSignals(s.grace, logger, () => {
    watcher?.close();
    return Promise.all([controller?.stop(), server.close()]);
  });
}

/** Everything the flags, the environment and the configuration files say, checked. Throws UsageError or ConfigError. */
interface Settings {
  cfg: Configuration;
  configFile: string | undefined;
  upstream: string | undefined;
  tokensFile: string | undefined;
  /** What to call the configuration in messages. */
  source: string;
  defaultConnector: string | undefined;
  listen: { host: string; port: number };
  timeouts: { connectTimeout: number; headersTimeout: number; bodyTimeout: number; tokenTimeout: number };
  manifestMaxBytes: number;
  grace: number;
  access: AccessControl;
  health: { intervalMs: number; timeoutMs: number };
  addressMode: 'host' | 'path';
  proxyHost: string | undefined;
  servicePort: number;
  level: string;
  trustProxy: boolean;
  kube: ReturnType<typeof kubernetesSettings> | undefined;
}

async function readSettings(opt: (name: keyof typeof FLAGS) => string | undefined, trustProxy: boolean): Promise<Settings> {
  const configFile = opt('config');
  const upstream = opt('upstream');
  const tokensFile = opt('access-tokens');
  const defaultConnector = opt('default-connector');
  const source = configFile ?? (upstream ? '--upstream' : 'the default connector');
  if (configFile && upstream) throw new UsageError('--config and --upstream are exclusive; give one');
  const sourceKind = opt('source') ?? 'file';
  if (sourceKind !== 'file' && sourceKind !== 'kubernetes') throw new UsageError(`--source: must be file or kubernetes, got ${JSON.stringify(sourceKind)}`);
  let kube: Settings['kube'];
  if (sourceKind === 'kubernetes') {
    if (configFile || upstream) throw new UsageError(`${configFile ? '--config' : '--upstream'}: not with --source kubernetes (connectors come from the cluster)`);
    kube = kubernetesSettings(await import('./sources/kubernetes/index.ts'), opt);
  }
  const cfg = loadConfiguration({ configFile, upstream, tokensFile, tokensOnly: kube !== undefined });
  const mode = opt('access') ?? 'none';
  if (!(ACCESS_MODES as readonly string[]).includes(mode)) throw new UsageError(`--access: must be one of ${ACCESS_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  if (tokensFile && mode === 'none' && !cfg.connectors.some((c) => c.params['access'] === 'static')) {
    throw new UsageError('--access-tokens: given, but --access is none and no connector sets spec.params[access]=static; add --access static');
  }
  const access = new AccessControl({
    mode: mode as AccessMode,
    tokens: cfg.accessTokens,
    reviewer: kube
      ? new kube.k8s.KubernetesReviewer({ kubeConfig: kube.kc, checkProxySubresource: parseBool('access-proxy-subresource', opt('access-proxy-subresource'), false) })
      : undefined,
  });
  const problems = configurationProblems(cfg, access, kube ? undefined : defaultConnector, source);
  if (problems.length) throw new UsageError(problems[0]!);
  const listen = parseListen(opt('listen') ?? '127.0.0.1:5000');
  const timeouts = {
    connectTimeout: positiveInt('connect-timeout', opt('connect-timeout'), 10_000),
    headersTimeout: positiveInt('headers-timeout', opt('headers-timeout'), 30_000),
    bodyTimeout: positiveInt('body-timeout', opt('body-timeout'), 300_000),
    tokenTimeout: positiveInt('token-timeout', opt('token-timeout'), 15_000),
  };
  const manifestMaxBytes = positiveInt('max-manifest-bytes', opt('max-manifest-bytes'), 4 * 1024 * 1024, 'bytes');
  const grace = positiveInt('shutdown-grace', opt('shutdown-grace'), 30_000);
  const interval = opt('health-interval');
  const health = {
    intervalMs: interval === '0' ? 0 : positiveInt('health-interval', interval, 60_000),
    timeoutMs: positiveInt('health-timeout', opt('health-timeout'), 10_000),
  };
  const addressMode = opt('address-mode') ?? (kube ? 'host' : 'path');
  if (addressMode !== 'host' && addressMode !== 'path') throw new UsageError(`--address-mode: must be host or path, got ${JSON.stringify(addressMode)}`);
  const servicePort = positiveInt('service-port', opt('service-port'), 80, 'port');
  if (servicePort > 65535) throw new UsageError('--service-port: must be a port number');
  const level = opt('log-level') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) throw new UsageError(`--log-level: unknown level ${JSON.stringify(level)}`);
  return {
    cfg,
    configFile,
    upstream,
    tokensFile,
    source,
    defaultConnector,
    listen,
    timeouts,
    manifestMaxBytes,
    grace,
    access,
    health,
    addressMode,
    proxyHost: opt('proxy-host'),
    servicePort,
    level,
    trustProxy,
    kube,
  };
}

function describeConnectors(s: Settings, connectors: Connector[]) {
  return connectors.map((c) => ({ connector: connectorKey(c), upstream: c.upstreamOrigin, authenticated: c.credentials !== undefined, access: s.access.modeFor(c) }));
}

/** The loud warning: connectors with credentials open to anyone who reaches a non-loopback address. */
function warnIfOpen(s: Settings, logger: Logger, connectors: Connector[]): void {
  const exposed = connectors.filter((c) => c.credentials && s.access.modeFor(c) === 'none');
  if (exposed.length && !isLoopback(s.listen.host)) {
    logger.warn(
      { listen: `${s.listen.host}:${s.listen.port}`, connectors: exposed.map(connectorKey) },
      'ACCESS CONTROL IS OFF: anyone who can reach this address uses these connectors with their registry credentials; set --access static or kubernetes',
    );
  }
}

/** Applies a changed configuration file (or token file) whole, or rejects it and keeps serving the previous one. */
function reloader(s: Settings, server: ProxyServer, logger: Logger): () => void {
  let applied = s.cfg.fingerprint;
  return () => {
    let next: Configuration;
    try {
      next = loadConfiguration({ configFile: s.configFile, upstream: s.upstream, tokensFile: s.tokensFile, tokensOnly: s.kube !== undefined });
      if (next.fingerprint === applied) return;
      const problems = configurationProblems(next, s.access, undefined, s.source);
      if (problems.length) throw new ConfigError(problems.join('; '));
    } catch (err) {
      // Never let a bad edit stop a running proxy; unexpected errors are named, not quoted.
      const message = err instanceof ConfigError ? err.message : `${s.configFile ?? s.tokensFile}: unreadable configuration (${(err as Error)?.name ?? 'error'})`;
      logger.error({ err: message }, 'configuration change rejected; still serving the previous configuration');
      return;
    }
    applied = next.fingerprint;
    s.access.setTokens(next.accessTokens);
    if (s.kube) {
      logger.info({ accessTokens: next.accessTokens.length }, 'access tokens applied');
      return;
    }
    void server.setConnectors(next.connectors);
    if (s.defaultConnector !== undefined && !next.connectors.some((c) => connectorKey(c) === s.defaultConnector)) {
      logger.warn({ defaultConnector: s.defaultConnector }, 'the default connector is no longer configured: plain /v2/<repo> requests get 404 NAME_UNKNOWN');
    }
    logger.info({ connectors: describeConnectors(s, next.connectors), accessTokens: next.accessTokens.length }, 'configuration applied');
    warnIfOpen(s, logger, next.connectors);
  };
}

function startKubernetes(s: Settings, kube: NonNullable<Settings['kube']>, server: ProxyServer, logger: Logger): KubernetesController {
  const leader = kube.leaderElection
    ? new kube.k8s.LeaderElector({ kubeConfig: kube.kc, namespace: kube.leaseNamespace, name: 'oci-connector-proxy', identity: process.env['POD_NAME'] || hostname(), log: logger })
    : undefined;
  const controller = new kube.k8s.KubernetesController({
    kubeConfig: kube.kc,
    namespaces: kube.namespaces,
    log: logger,
    server,
    addressMode: s.addressMode,
    proxyServiceHost: kube.proxyService,
    servicePort: s.servicePort,
    proxyHost: s.proxyHost ?? kube.proxyService,
    leader,
    translate: kube.translate,
  });
  controller.start().then(
    () => logger.info({ namespaces: kube.namespaces.length ? kube.namespaces : 'all', listed: controller.ready }, 'kubernetes source started'),
    (err: unknown) => logger.error({ err: (err as Error)?.name }, 'kubernetes source failed to start'),
  );
  return controller;
}

/** SIGTERM/SIGINT: stop taking work, let in-flight requests finish within `grace`, exit 0; a second signal exits at once. */
function onSignals(grace: number, logger: Logger, stopAll: () => Promise<unknown>): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs: grace }, 'shutting down: refusing new connections, finishing in-flight requests');
    const timer = setTimeout(() => {
      logger.warn('shutdown grace period over: exiting with requests still in flight');
      process.exit(1);
    }, grace);
    timer.unref();
    stopAll().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();
