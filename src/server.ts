/**
 * Wiring: the Fastify instance, its routes and the live connector set. No protocol logic here.
 */
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { AccessControl } from './access/control.ts';
import type { AddressMode } from './configurations/render.ts';
import type { Connector } from './connectors/model.ts';
import { ConnectorSet } from './connectors/registry.ts';
import { RegistryError } from './distribution/errors.ts';
import { type HealthOptions, HealthMonitor } from './health/monitor.ts';
import { registerManagement } from './management/routes.ts';
import { Metrics } from './observability/metrics.ts';
import { createForwarder, writeError } from './proxy/forward.ts';
import { DEFAULT_UPSTREAM_OPTIONS, type UpstreamOptions } from './upstream/client.ts';
import { TokenService } from './upstream/token.ts';

export interface ServerOptions {
  connectors: readonly Connector[];
  logger: Logger;
  upstream?: Partial<UpstreamOptions>;
  /** Trust X-Forwarded-Proto / X-Forwarded-Host from a fronting proxy when rewriting URLs. */
  trustProxy?: boolean;
  /** Largest manifest a client may PUT (held in memory so it can be replayed): default 4 MiB. */
  manifestMaxBytes?: number;
  /** Most tokens cached across connectors: default 10000. */
  tokenCacheSize?: number;
  /** Clock for token expiry (ms since epoch); tests move it forward. */
  now?: () => number;
  /** Who may use the connectors: default mode none. */
  access?: AccessControl;
  /** `<ns>/<name>` of the connector for plain /v2/<repo> requests; default: the only connector. */
  defaultConnector?: string;
  /** Health checks (AuthReady and friends); off unless given. */
  health?: HealthOptions;
  /** How connectors' proxy addresses are written: default path. */
  addressMode?: AddressMode;
  /** Host[:port] clients reach the proxy by, for path-mode addresses; default: the request's Host. */
  proxyHost?: string;
  /** Port of the connector Services in host mode: default 80. */
  servicePort?: number;
  /** /readyz answers 503 while this says false (a source that has not listed yet). */
  ready?: () => boolean;
  /** Prometheus metrics at /metrics: default on (false: none). */
  metrics?: boolean;
}

export interface ProxyServer {
  app: FastifyInstance;
  tokens: TokenService;
  access: AccessControl;
  health: HealthMonitor | undefined;
  metrics: Metrics | undefined;
  /** The live connector set. */
  connectors(): ConnectorSet;
  /** Replaces the connector set; requests in flight finish on the old one. */
  setConnectors(connectors: readonly Connector[]): Promise<void>;
  close(): Promise<void>;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function buildServer(options: ServerOptions): ProxyServer {
  const upstreamOptions = { ...DEFAULT_UPSTREAM_OPTIONS, ...options.upstream };
  const tokens = new TokenService({ max: options.tokenCacheSize ?? 10_000, timeout: upstreamOptions.tokenTimeout, now: options.now });
  let current = new ConnectorSet(options.connectors, upstreamOptions, tokens, options.defaultConnector);
  const warnIgnoredHosts = (set: ConnectorSet): void => {
    for (const entry of set.ignoredHosts) options.logger.warn({ host: entry }, 'spec.params hosts: name already belongs to another connector; ignored');
  };
  warnIgnoredHosts(current);
  const access = options.access ?? new AccessControl({ mode: 'none' });
  const health = options.health ? new HealthMonitor(options.health, options.logger) : undefined;
  const metrics = options.metrics === false ? undefined : new Metrics();
  if (metrics) {
    metrics.watchTokens(tokens);
    if (health) metrics.watchHealth(health, () => current.clients.keys());
  }
  let closing = false;
  const trustProxy = options.trustProxy ?? false;

  // Registry API requests (/v2...) go straight from the HTTP server to the forwarder: they need
  // none of Fastify's routing, hooks or reply machinery (about 8% of the CPU of a manifest GET).
  // Everything else (health, metrics, management) is Fastify's.
  let forwardRaw: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const app = Fastify({
    serverFactory: (handler) => {
      const server = createServer({ requireHostHeader: false }, (req, res) => {
        const url = req.url ?? '';
        if (forwardRaw && url.startsWith('/v2') && (url.length === 3 || url[3] === '/' || url[3] === '?')) forwardRaw(req, res);
        else handler(req, res);
      });
      server.keepAliveTimeout = 75_000;
      server.requestTimeout = 0; // uploads of any size; idle sockets are bounded by keepAliveTimeout
      return server;
    },
    loggerInstance: options.logger as FastifyBaseLogger,
    // The forwarder writes one line per request itself.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request: nothing logs through it.
    childLoggerFactory: (logger) => logger,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    trustProxy,
    routerOptions: { ignoreDuplicateSlashes: false, ignoreTrailingSlash: false },
    // Paths Fastify cannot decode (malformed percent-encoding) are not API paths.
    frameworkErrors: (err, req, reply) => {
      reply.hijack();
      const code = (err as { code?: string }).code;
      const e =
        code === 'FST_ERR_BAD_URL'
          ? new RegistryError(404, 'UNSUPPORTED', 'not a registry API path: malformed percent-encoding')
          : new RegistryError(400, 'UNSUPPORTED', 'bad request');
      writeError(reply.raw, e, req.raw.method);
    },
    // Requests Node's HTTP parser refuses (oversized headers, a malformed request line) get
    // an OCI error body too, written straight to the socket.
    clientErrorHandler: (err, socket) => {
      if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const code = (err as { code?: string }).code;
      const e =
        code === 'HPE_HEADER_OVERFLOW'
          ? new RegistryError(431, 'UNSUPPORTED', 'request headers too large')
          : code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? new RegistryError(408, 'UNSUPPORTED', 'request timeout')
            : new RegistryError(400, 'UNSUPPORTED', 'malformed HTTP request');
      const body = e.body();
      socket.end(
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `docker-distribution-api-version: registry/2.0\r\nconnection: close\r\n\r\n${body}`,
      );
    },
  });
  // `Expect` other than 100-continue: 417 as an OCI error (Node would answer with an empty body).
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    writeError(res, new RegistryError(417, 'UNSUPPORTED', 'only "Expect: 100-continue" is supported'), req.method);
  });

  // Bodies are never parsed: the forwarder streams the raw request upstream.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  const clientOrigin = (req: IncomingMessage): string => {
    const xfProto = trustProxy ? req.headers['x-forwarded-proto'] : undefined;
    const xfHost = trustProxy ? req.headers['x-forwarded-host'] : undefined;
    const proto = typeof xfProto === 'string' ? xfProto.split(',')[0]!.trim() : 'http';
    const host = typeof xfHost === 'string' ? xfHost.split(',')[0]!.trim() : (req.headers.host ?? 'localhost');
    return `${proto}://${host}`;
  };

  const forward = createForwarder({
    connectors: () => current,
    access,
    log: options.logger,
    metrics,
    clientOrigin,
    manifestMaxBytes: options.manifestMaxBytes ?? 4 * 1024 * 1024,
    closing: () => closing,
  });
  forwardRaw = forward;

  app.get('/healthz', async () => ({ status: 'ok' }));
  if (metrics) {
    app.get('/metrics', async (_req, reply) => reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()));
  }
  app.get('/readyz', async (_req, reply) => {
    if (closing) return reply.code(503).send({ status: 'shutting down' });
    if (options.ready && !options.ready()) return reply.code(503).send({ status: 'starting: the connector source has not listed yet' });
    return { status: 'ready', connectors: current.clients.size };
  });

  registerManagement(app, {
    connectors: () => current,
    access,
    health,
    addressMode: options.addressMode ?? 'path',
    proxyHost: options.proxyHost,
    servicePort: options.servicePort ?? 80,
  });

  app.route({
    method: METHODS,
    url: '*',
    handler: (request, reply) => {
      reply.hijack();
      forward(request.raw, reply.raw);
    },
  });

  app.setNotFoundHandler((request, reply) => {
    reply.hijack();
    writeError(reply.raw, new RegistryError(405, 'UNSUPPORTED', `method ${request.method} is not supported`), request.method);
  });
  app.setErrorHandler((err, request, reply) => {
    options.logger.error({ err: (err as Error).message, code: (err as { code?: string }).code, url: request.url.slice(0, 256) }, 'request error');
    reply.hijack();
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    writeError(reply.raw, new RegistryError(status >= 400 && status < 600 ? status : 500, status < 500 ? 'UNSUPPORTED' : 'UNKNOWN', status < 500 ? 'bad request' : 'internal error'), request.method);
  });

  if (health) app.addHook('onReady', async () => void health.update(current));

  return {
    app,
    tokens,
    access,
    health,
    metrics,
    connectors: () => current,
    async setConnectors(connectors) {
      const previous = current;
      current = new ConnectorSet(connectors, upstreamOptions, tokens, options.defaultConnector, previous);
      warnIgnoredHosts(current);
      for (const key of previous.changedIn(current)) tokens.forgetConnector(key);
      // Replaced clients close once the requests that chose them are done.
      void previous.retireReplaced(current);
      void health?.update(current);
      void metrics?.retain(new Set(current.clients.keys()));
    },
    async close() {
      closing = true;
      health?.close();
      // Node closes idle keep-alive connections once, when close starts; a connection busy
      // then would stay open after its response and hold the close up. Keep closing the ones
      // that have gone idle (and ask clients to close: see the forwarder's Connection header).
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      try {
        await app.close();
      } finally {
        clearInterval(reaper);
      }
      await current.close();
    },
  };
}
