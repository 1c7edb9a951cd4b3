/**
 * The forwarding handler: parse and check the route, pick the connector, send upstream through
 * the connector's layers, and stream the answer back with status and headers kept.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { upstreamRepository } from '../connectors/model.ts';
import { type AccessControl, type Decision, notAuthenticated } from '../access/control.ts';
import { type PresentedCredential, presentedCredential } from '../access/credential.ts';
import type { ConnectorSet } from '../connectors/registry.ts';
import { requestLogger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { RegistryError } from '../distribution/errors.ts';
import { parseRoute, type Route } from '../distribution/route.ts';
import { upstreamFailure } from '../upstream/failures.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import { discard } from '../upstream/types.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { changedBodyHeaders, rewriteTagListName } from './taglist.ts';

export interface ForwardDeps {
  connectors: () => ConnectorSet;
  access: AccessControl;
  log: Logger;
  metrics?: Metrics | undefined;
  /** Origin the client used, e.g. `http://127.0.0.1:5000` (honours X-Forwarded-* only when trusted). */
  clientOrigin: (req: IncomingMessage) => string;
  /** Largest manifest PUT body, held in memory so an authentication retry can replay it. */
  manifestMaxBytes: number;
  /** True while the server shuts down: answers ask clients to close their connections. */
  closing?: () => boolean;
}

/** GET /v2/ answered by the proxy itself (no connector applies, or the caller's is another one). */
function writeBase(res: ServerResponse, method: string): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': 2, 'docker-distribution-api-version': 'registry/2.0' });
  res.end(method === 'HEAD' ? undefined : '{}');
}

export function writeError(res: ServerResponse, err: RegistryError, method: string | undefined): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = err.body();
  res.writeHead(err.status, {
    ...err.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'docker-distribution-api-version': 'registry/2.0',
  });
  res.end(method === 'HEAD' ? undefined : body);
}

/**
 * Streams an upstream body to the client with backpressure; either side failing ends the
 * other (an upstream error resets the client connection, so a cut body never looks complete).
 * stream.pipeline does the same but builds an AbortController and a DOMException per request.
 */
function relay(src: Readable, res: ServerResponse, done: (err: NodeJS.ErrnoException | null) => void): void {
  let ended = false;
  const end = (err: NodeJS.ErrnoException | null): void => {
    if (ended) return;
    ended = true;
    done(err);
  };
  src.on('error', (err: NodeJS.ErrnoException) => {
    res.destroy(err);
    end(err);
  });
  res.once('close', () => {
    if (res.writableFinished) return end(null);
    if (!src.destroyed) src.destroy();
    end(Object.assign(new Error('client connection closed'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  });
  src.pipe(res);
}

/**
 * Bytes read from each client socket up to the end of its previous request: Node has read a
 * request's head (and often its body) before the handler runs, so a request's share is what
 * the socket read since the previous one ended (no pipelining on HTTP/1.1 in practice).
 */
const readUntilPrevious = new WeakMap<Socket, number>();

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const len = req.headers['content-length'];
  return len !== undefined && len !== '0';
}

/**
 * A chunk's Content-Range (distribution spec: `<start>-<end>`, inclusive) must be well formed,
 * ordered, and as long as the body; otherwise the chunk is refused before it is forwarded
 * (some registries ignore the header and would append the bytes at the wrong offset).
 */
function checkContentRange(req: IncomingMessage): void {
  const range = req.headers['content-range'];
  if (range === undefined) return;
  const m = /^(\d{1,15})-(\d{1,15})$/.exec(range);
  if (!m) throw new RegistryError(400, 'BLOB_UPLOAD_INVALID', 'Content-Range must be <start>-<end>', { range: range.slice(0, 64) });
  const start = Number(m[1]);
  const end = Number(m[2]);
  const length = req.headers['content-length'];
  if (end < start || (length !== undefined && Number(length) !== end - start + 1)) {
    throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `Content-Range ${range} does not match the chunk${length === undefined ? '' : ` of ${length} bytes`}`, { range });
  }
}

/** Reads a manifest body into memory, refusing more than `max` bytes. */
async function readManifest(req: IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = (): RegistryError =>
    new RegistryError(413, 'MANIFEST_INVALID', `manifest is larger than the proxy's limit of ${max} bytes`, { limit: max });
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

export function createForwarder(deps: ForwardDeps) {
  const { log } = deps;
  const requestLog = requestLogger(log);

  return function forward(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const socket = req.socket;
    const outAtStart = socket.bytesWritten;
    let route: Route | undefined;
    let client: UpstreamClient | undefined;
    let failure: string | undefined;
    let counted = false;
    let held: UpstreamClient | undefined;
    const abort = new AbortController();

    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
      const readNow = socket.bytesRead;
      const bytesIn = readNow - (readUntilPrevious.get(socket) ?? 0);
      readUntilPrevious.set(socket, readNow);
      const line = {
        method,
        connector: client?.key,
        repository: route?.repository,
        endpoint: route?.endpoint,
        status: res.writableFinished ? res.statusCode : res.headersSent ? res.statusCode : 499,
        complete: res.writableFinished,
        bytesIn,
        bytesOut: socket.bytesWritten - outAtStart,
        ms: Math.round((performance.now() - started) * 10) / 10,
        err: failure,
      };
      if (failure !== undefined || !res.writableFinished) requestLog.warn(line, 'request');
      else requestLog.info(line, 'request');
      deps.metrics?.finished(line, counted);
      if (held) held.release();
    });

    const fail = (err: RegistryError): void => {
      failure = err.message;
      if (hasBody(req) && !req.readableEnded) {
        // Do not read an unwanted body: answer, then close the connection.
        res.setHeader('connection', 'close');
      }
      writeError(res, err, method);
    };

    if (deps.closing?.()) res.setHeader('connection', 'close');
    let set: ConnectorSet;
    let resolvedBy: string;
    try {
      if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
        throw new RegistryError(400, 'UNSUPPORTED', 'a Host header is required');
      }
      route = parseRoute(method, req.url ?? '/');
      if (route.endpoint === 'upload' && method === 'PATCH') checkContentRange(req);
      set = deps.connectors();
    } catch (err) {
      fail(err instanceof RegistryError ? err : new RegistryError(500, 'UNKNOWN', 'internal error'));
      return;
    }
    let presented: PresentedCredential | undefined;
    const credential = (): PresentedCredential => (presented ??= presentedCredential(req.rawHeaders));
    try {
      const resolved = set.resolve(route.selector, req.headers.host);
      client = resolved.client;
      resolvedBy = resolved.by;
      held = client;
      held.acquire();
      if (deps.metrics) {
        deps.metrics.started(client.key);
        counted = true;
      }
    } catch (err) {
      if (route.endpoint === 'base' && err instanceof RegistryError && err.status === 404) {
        // No connector applies to a plain GET /v2/ (several connectors, no default): clients
        // ping it before path-prefixed requests, so the proxy answers it for itself.
        answerBaseLocally(set);
        return;
      }
      if (err instanceof RegistryError && err.status === 404 && deps.access.required([...set.clients.values()].map((c) => c.connector))) {
        // Which connectors exist is for callers the proxy knows: others get the same 401 as for
        // a connector that exists.
        void deps.access.authenticated(credential()).then((ok) => {
          if (!res.destroyed) fail(ok ? err : notAuthenticated(credential()));
        });
        return;
      }
      fail(err instanceof RegistryError ? err : new RegistryError(500, 'UNKNOWN', 'internal error'));
      return;
    }

    function answerBaseLocally(s: ConnectorSet): void {
      if (!deps.access.required([...s.clients.values()].map((c) => c.connector))) {
        writeBase(res, method);
        return;
      }
      void deps.access.authenticated(credential()).then((ok) => {
        if (res.destroyed) return;
        if (ok) writeBase(res, method);
        else fail(notAuthenticated(credential()));
      });
    }

    const decided = (d: Decision): void => {
      if (d.allowed) {
        proceed();
        return;
      }
      if (route!.endpoint === 'base' && resolvedBy === 'default' && d.error.status === 403) {
        // A caller whose token is for other connectors pings GET /v2/ before its path-prefixed requests.
        writeBase(res, method);
        return;
      }
      fail(d.error);
    };
    const decision = deps.access.decide(credential, client.connector);
    if (decision instanceof Promise) {
      decision.then(decided, () => fail(new RegistryError(503, 'UNAVAILABLE', 'access review failed')));
      return;
    }
    decided(decision);
    function proceed(): void {
      const activeRoute = route!;
      const activeClient = client!;
      if (activeRoute.endpoint === 'base') {
        // Clients ping GET /v2/ before nearly everything. The proxy answers it itself once the
        // upstream has answered its own ping (one for all callers): no token exchange and no
        // round trip per client. Whether the connector's credentials work is AuthReady's job.
        activeClient.ready(abort.signal).then(
          () => writeBase(res, method),
          (err: unknown) => {
            if (abort.signal.aborted || res.destroyed) return;
            fail(upstreamFailure(err, activeClient.key, activeClient.host));
          },
        );
        return;
      }
      const requestBody = hasBody(req);
      const connector = activeClient.connector;
      const repository = activeRoute.repository === undefined ? undefined : upstreamRepository(connector, activeRoute.repository);
      const path = repository === undefined ? '/v2' + activeRoute.tail + activeRoute.query : '/v2/' + repository + activeRoute.tail + activeRoute.query;
      const isManifestPut = activeRoute.endpoint === 'manifest' && method === 'PUT';
      const body: Promise<IncomingMessage | Buffer | null> = !requestBody ? Promise.resolve(null) : isManifestPut ? readManifest(req, deps.manifestMaxBytes) : Promise.resolve(req);
      let sentAt = 0;
      body
        .then((payload) => {
          sentAt = performance.now();
          return activeClient.send({
            method,
            path,
            headers: upstreamRequestHeaders(req.rawHeaders),
            body: payload,
            signal: abort.signal,
            route: activeRoute,
            repository,
            mountFrom: activeRoute.mountFrom === undefined ? undefined : upstreamRepository(connector, activeRoute.mountFrom),
          });
        })
        .then(
          (up) => {
            deps.metrics?.upstreamResponded(activeClient.key, activeRoute.endpoint, (performance.now() - sentAt) / 1000);
            if (res.destroyed) {
              discard(up.body);
              return;
            }
            const headers = clientResponseHeaders(up.headers, {
              upstreamOrigin: activeClient.connector.upstreamOrigin,
              clientOrigin: deps.clientOrigin(req),
              prefix: activeRoute.selector ? `/namespaces/${activeRoute.selector.namespace}/connectors/${activeRoute.selector.name}` : '',
            });
            if (requestBody && !req.complete) {
              // The upstream answered before reading the whole body (an early error, or a
              // registry that ignores it). Nothing will read the rest: close the connection once
              // the answer is out, instead of leaving the client blocked on a kept-alive socket.
              headers['connection'] = 'close';
              res.once('finish', () => {
                if (!req.complete) socket.destroy();
              });
            }
            const upstreamBroke = (err: NodeJS.ErrnoException): void => {
              failure ??= `connector ${activeClient.key}: upstream ${activeClient.host} failed mid-body: ${err.code ?? err.message}`;
            };
            // The upstream body's own error comes first (before the client response closes and
            // before our abort), so an upstream that breaks off is told apart from a client
            // that went away.
            up.body.once('error', (err: NodeJS.ErrnoException) => {
              if (!abort.signal.aborted) upstreamBroke(err);
            });
            const onPipeEnd = (err: NodeJS.ErrnoException | null): void => {
              if (err && !abort.signal.aborted) upstreamBroke(err);
            };
            const selector = activeRoute.selector;
            if (selector && activeRoute.endpoint === 'tags' && method === 'GET' && up.statusCode === 200) {
              // Path mode: the list's name carries the connector prefix back.
              const name = `namespaces/${selector.namespace}/connectors/${selector.name}/${activeRoute.repository}`;
              void rewriteTagListName(up.body, up.headers, name).then(
                (r) => {
                  if (r.complete) {
                    res.writeHead(up.statusCode, changedBodyHeaders(headers, r.head.length));
                    res.end(r.head);
                    return;
                  }
                  res.writeHead(up.statusCode, headers);
                  if (r.head.length) res.write(r.head);
                  relay(up.body, res, onPipeEnd);
                },
                (err: unknown) => {
                  discard(up.body);
                  if (abort.signal.aborted || res.destroyed) return;
                  fail(upstreamFailure(err, activeClient.key, activeClient.host));
                },
              );
              return;
            }
            res.writeHead(up.statusCode, headers);
            relay(up.body, res, onPipeEnd);
          },
          (err: unknown) => {
            if (abort.signal.aborted || res.destroyed) {
              failure ??= 'client went away';
              return;
            }
            const mapped = upstreamFailure(err, activeClient.key, activeClient.host);
            log.debug({ connector: activeClient.key, err: (err as Error)?.message }, 'upstream request failed');
            fail(mapped);
          },
        );
    }

  };
}
