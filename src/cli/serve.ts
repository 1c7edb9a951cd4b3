/**
 * Serving: the server built from Settings, listening; the configuration files watched and
 * re-applied whole (or a bad change rejected); the Kubernetes source when asked for; SIGTERM and
 * SIGINT draining in-flight requests within the grace period.
 */
import type { Server as HttpsServer } from 'node:https';
import { hostname } from 'node:os';
import { PullThroughCache } from '../cache/cache.ts';
import { type Connector, connectorKey } from '../connectors/model.ts';
import { ConfigError } from '../connectors/parse.ts';
import { describeListenerTls, watchListenerTls } from '../http/listener-tls.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { buildServer, type ProxyServer } from '../server.ts';
import { type Configuration, loadConfiguration } from '../sources/file.ts';
import { watchFiles } from '../util/watch.ts';
import type { KubernetesController } from '../sources/kubernetes/controller.ts';
import { UsageError } from './flags.ts';
import type { KubernetesSettings, Settings } from './settings.ts';
import { configurationProblems } from './settings.ts';

/** Starts serving; resolves once listening. Throws a ListenError when the address cannot be taken. */
export async function serve(s: Settings): Promise<void> {
  const logger = createLogger(s.level);
  let controller: KubernetesController | undefined;
  const cache = s.cache && (await openCache(s.cache));
  const server = buildServer({
    cache,
    connectors: s.cfg.connectors,
    logger,
    upstream: s.upstreamOptions,
    trustProxy: s.trustProxy,
    manifestMaxBytes: s.manifestMaxBytes,
    manifestBufferBytes: s.manifestBufferBytes,
    clientIdleTimeout: s.clientIdleTimeout,
    access: s.access,
    defaultConnector: s.defaultConnector,
    health: s.health,
    addressMode: s.addressMode,
    proxyHost: s.proxyHost,
    servicePort: s.servicePort,
    listenerTls: s.listenerTls?.material,
    ready: () => controller?.ready ?? true,
  });
  try {
    // Fastify's own line would say http:// whatever the server speaks.
    const scheme = s.listenerTls ? 'https' : 'http';
    await server.app.listen({ host: s.listen.host, port: s.listen.port, listenTextResolver: (address) => `Server listening at ${address.replace(/^https?/, scheme)}` });
  } catch (err) {
    throw new ListenError(`--listen ${s.listen.host}:${s.listen.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  logger.info(
    {
      listen: `${s.listen.host}:${s.listen.port}`,
      ...(s.listenerTls ? { https: describeListenerTls(s.listenerTls.material) } : {}),
      connectors: describeConnectors(s, s.cfg.connectors),
      accessTokens: s.cfg.accessTokens.length,
    },
    'oci-connector-proxy listening',
  );
  warnIfOpen(s, logger, s.cfg.connectors);
  if (s.kube) controller = startKubernetes(s, s.kube, server, logger);
  const watched = [s.configFile, s.tokensFile].filter((f): f is string => f !== undefined);
  const watcher = watched.length ? watchFiles(watched, reloader(s, server, logger)) : undefined;
  const certificates = s.listenerTls && watchListenerTls(server.app.server as HttpsServer, s.listenerTls.files, s.listenerTls.material, logger);
  onSignals(s.grace, logger, () => {
    watcher?.close();
    certificates?.close();
    return Promise.all([controller?.stop(), server.close()]);
  });
}

/** The store of --cache-dir, opened (temporary files of a crashed process cleaned, the index read). */
async function openCache(c: NonNullable<Settings['cache']>): Promise<PullThroughCache> {
  try {
    return await PullThroughCache.open(c);
  } catch (err) {
    throw new UsageError(`--cache-dir ${c.dir}: cannot use it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The listen address could not be taken (exit 1). */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

function describeConnectors(s: Settings, connectors: Connector[]) {
  return connectors.map((c) => ({ connector: connectorKey(c), upstream: c.upstreamOrigin, authenticated: c.credentials !== undefined, access: s.access.modeFor(c) }));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
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

function startKubernetes(s: Settings, kube: KubernetesSettings, server: ProxyServer, logger: Logger): KubernetesController {
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
    tls: s.listenerTls !== undefined,
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
