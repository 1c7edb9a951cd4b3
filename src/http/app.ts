/**
 * The proxy's HTTP surface: one Node HTTP server. Registry API requests (`/v2…`) go straight to
 * the forwarder: they need none of Fastify's routing, hooks or reply machinery (about 8% of the
 * CPU of a manifest GET). Everything else (probes, metrics, management) is Fastify's. Errors
 * the HTTP layer answers itself (a malformed request, oversized headers, an unknown Expect) are
 * OCI error bodies too.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { ProxyCore } from '../core.ts';
import { RegistryError } from '../distribution/errors.ts';
import { type ManagementOptions, managementRoutes } from '../management/routes.ts';
import { hasBody, writeError } from '../proxy/context.ts';
import type { ListenerTls } from './listener-tls.ts';
import { statusRoutes } from '../status/routes.ts';
import { StatusSeries } from '../status/series.ts';
import { ByteBudget } from '../proxy/endpoints/index.ts';
import { createForwarder } from '../proxy/forward.ts';
import { clientOrigin } from '../proxy/headers.ts';
import { watchRequestBody } from '../proxy/request-body.ts';
import { errorCode } from '../upstream/errors.ts';
import { createServer, STATUS_CODES } from '../util/node-http.ts';

export interface HttpOptions extends ManagementOptions {
  /** Trust X-Forwarded-Proto / X-Forwarded-Host from a fronting proxy when rewriting URLs. */
  trustProxy?: boolean;
  /** Largest manifest a client may PUT (held in memory so it can be replayed): default 4 MiB. */
  manifestMaxBytes?: number;
  /** Manifest bytes all PUTs in flight may hold together: default 64 MiB. */
  manifestBufferBytes?: number;
  /** ms a client may read nothing of its answer, or send nothing of its body, before it is cut: default 60 s. */
  clientIdleTimeout?: number;
  /** /readyz answers 503 while this says false (a source that has not listed yet). */
  ready?: () => boolean;
  /** The status page's sampling interval (ms): default 5000. */
  statusIntervalMs?: number;
  /** HTTPS with this certificate and key (listener-tls.ts); plain HTTP without. */
  listenerTls?: ListenerTls | undefined;
}

export const DEFAULT_CLIENT_IDLE_TIMEOUT = 60_000;
/** Time a client has to send a request's head. */
const HEADERS_TIMEOUT = 30_000;
const KEEP_ALIVE_TIMEOUT = 75_000;

export interface HttpSurface {
  app: FastifyInstance;
  /** Stops taking requests; in-flight ones finish (see close in server.ts). */
  closing(): void;
}

export function createHttp(core: ProxyCore, logger: Logger, options: HttpOptions): HttpSurface {
  let closing = false;
  const idleMs = options.clientIdleTimeout ?? DEFAULT_CLIENT_IDLE_TIMEOUT;
  const trustProxy = options.trustProxy ?? false;
  const manifestMaxBytes = options.manifestMaxBytes ?? 4 * 1024 * 1024;
  const forward = createForwarder({
    connectors: core.connectors,
    access: core.access,
    log: logger,
    metrics: core.metrics,
    clientOrigin: (req) => clientOrigin(req, trustProxy, options.listenerTls ? 'https' : 'http'),
    manifestMaxBytes,
    manifestBudget: new ByteBudget(Math.max(options.manifestBufferBytes ?? 64 * 1024 * 1024, manifestMaxBytes)),
    clientIdleMs: idleMs,
    cache: core.cache,
    upstreamResponded: core.metrics && ((connector, endpoint, seconds) => core.metrics!.upstreamResponded(connector, endpoint, seconds)),
    closing: () => closing,
  });
  const app = Fastify({
    serverFactory: (handler) => nodeServer(forward, handler, idleMs, options.listenerTls),
    loggerInstance: logger as FastifyBaseLogger,
    // The forwarder writes one line per request itself; nothing logs through a per-request child.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (l) => l,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    trustProxy,
    routerOptions: { ignoreDuplicateSlashes: false, ignoreTrailingSlash: false },
    frameworkErrors: (err, req, reply) => {
      // Paths Fastify cannot decode (malformed percent-encoding) are not API paths.
      reply.hijack();
      const bad = errorCode(err) === 'FST_ERR_BAD_URL';
      writeError(
        reply.raw,
        bad ? new RegistryError(404, 'UNSUPPORTED', 'not a registry API path: malformed percent-encoding') : new RegistryError(400, 'UNSUPPORTED', 'bad request'),
        req.raw.method,
      );
    },
    clientErrorHandler,
  });
  // `Expect` other than 100-continue: 417 as an OCI error (Node would answer with an empty body).
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    writeError(res, new RegistryError(417, 'UNSUPPORTED', 'only "Expect: 100-continue" is supported'), req.method);
  });
  // Bodies are never parsed: the forwarder streams the raw request upstream.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));
  registerProbes(app, core, () => closing, options.ready);
  const management = { ...options, tls: options.listenerTls !== undefined };
  void app.register(managementRoutes(core, management));
  const series = new StatusSeries(async () => (await core.metrics?.countersByConnector(core.connectors().clients.keys())) ?? new Map(), {
    intervalMs: options.statusIntervalMs,
  });
  void app.register(statusRoutes(core, { ...management, series, otherwise: forward }));
  registerFallbacks(app, logger, forward);
  return {
    app,
    closing: () => {
      closing = true;
      series.close();
    },
  };
}

/** The Node server: /v2… to the forwarder, the rest to Fastify; bodies that stop arriving are cut. */
function nodeServer(
  forward: (req: IncomingMessage, res: ServerResponse) => void,
  fastify: (req: IncomingMessage, res: ServerResponse) => void,
  idleMs: number,
  tls: ListenerTls | undefined,
) {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    if (url.startsWith('/v2') && (url.length === 3 || url[3] === '/' || url[3] === '?')) {
      forward(req, res);
      return;
    }
    const socket = req.socket;
    if (hasBody(req)) watchRequestBody(req, idleMs, () => socket.destroy());
    fastify(req, res);
  };
  // HTTP/1.1 either way (no ALPN h2): registry clients speak it, and streaming stays one path.
  const server = tls ? createHttpsServer({ requireHostHeader: false, cert: tls.cert, key: tls.key }, handler) : createServer({ requireHostHeader: false }, handler);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT;
  server.headersTimeout = HEADERS_TIMEOUT;
  // Uploads of any size: a whole request has no time limit; a body that stops is cut by the watchdog.
  server.requestTimeout = 0;
  return server;
}

/** Requests Node's HTTP parser refuses (oversized headers, a malformed request line): an OCI error body, written straight to the socket. */
function clientErrorHandler(err: Error, socket: Socket): void {
  const code = errorCode(err);
  if (!socket.writable || code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
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
}

function registerProbes(app: FastifyInstance, core: ProxyCore, closing: () => boolean, ready: (() => boolean) | undefined): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  const metrics = core.metrics;
  if (metrics) app.get('/metrics', async (_req, reply) => reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/readyz', async (_req, reply) => {
    if (closing()) return reply.code(503).send({ status: 'shutting down' });
    if (ready && !ready()) return reply.code(503).send({ status: 'starting: the connector source has not listed yet' });
    return { status: 'ready', connectors: core.connectors().clients.size };
  });
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** What no route takes: other paths go to the forwarder (404 UNSUPPORTED there), other methods are 405; errors are OCI errors. */
function registerFallbacks(app: FastifyInstance, logger: Logger, forward: (req: IncomingMessage, res: ServerResponse) => void): void {
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
    logger.error({ err: (err as Error).message, code: errorCode(err), url: request.url.slice(0, 256) }, 'request error');
    reply.hijack();
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    const e =
      status >= 400 && status < 500
        ? new RegistryError(status, 'UNSUPPORTED', 'bad request')
        : new RegistryError(status >= 500 && status < 600 ? status : 500, 'UNKNOWN', 'internal error');
    writeError(reply.raw, e, request.method);
  });
}
