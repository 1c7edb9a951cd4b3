/**
 * The status page: `GET /` for a browser (Accept: text/html; API clients keep the OCI error they
 * always got), its script and style sheet, and `GET /status/data`, the JSON it draws. Behind the
 * same access control as /connectors: a browser without a credential gets the Basic challenge,
 * a caller sees only the connectors it may use. A strict Content-Security-Policy on everything.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { presentedCredential } from '../access/credential.ts';
import type { AddressOptions } from '../configurations/render.ts';
import type { ProxyCore } from '../core.ts';
import { RegistryError } from '../distribution/errors.ts';
import type { ManagementOptions } from '../management/routes.ts';
import { visible } from '../management/routes.ts';
import { statusData } from './data.ts';
import { CONTENT_SECURITY_POLICY, PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.ts';
import type { StatusSeries } from './series.ts';

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** A browser asking for a page (not an API client asking for /). */
function wantsHtml(req: FastifyRequest): boolean {
  return /\btext\/html\b/.test(String(req.headers.accept ?? ''));
}

export interface StatusRouteOptions extends ManagementOptions {
  series: StatusSeries;
  /** What answers `/` for non-browsers: the registry API's own error. */
  otherwise: (req: IncomingMessage, res: ServerResponse) => void;
}

export function statusRoutes(core: ProxyCore, o: StatusRouteOptions): FastifyPluginAsync {
  const where = (req: FastifyRequest): AddressOptions => ({
    mode: o.addressMode ?? 'path',
    proxyHost: o.proxyHost ?? req.headers.host ?? 'localhost',
    servicePort: o.servicePort,
    tls: o.tls,
  });
  /** The page and its files ask for the same credential as the data: the browser's Basic prompt comes first. */
  const authorize = async (req: FastifyRequest) => visible(core, presentedCredential(req.raw.rawHeaders));
  const send = (reply: FastifyReply, type: string, body: string) => reply.headers(SECURITY_HEADERS).header('content-type', type).send(body);

  return async (app: FastifyInstance) => {
    app.setErrorHandler((err, _req, reply) => {
      if (!(err instanceof RegistryError)) throw err;
      return reply
        .code(err.status)
        .headers({ ...SECURITY_HEADERS, ...err.headers, 'content-type': 'application/json; charset=utf-8' })
        .send(err.body());
    });
    app.get('/', async (req, reply) => {
      if (!wantsHtml(req)) {
        reply.hijack();
        o.otherwise(req.raw, reply.raw);
        return;
      }
      await authorize(req);
      return send(reply, 'text/html; charset=utf-8', PAGE_HTML);
    });
    app.get('/status/app.js', async (_req, reply) => send(reply, 'text/javascript; charset=utf-8', PAGE_JS));
    app.get('/status/app.css', async (_req, reply) => send(reply, 'text/css; charset=utf-8', PAGE_CSS));
    app.get('/status/data', async (req, reply) => {
      const connectors = await authorize(req);
      return reply.headers(SECURITY_HEADERS).send(await statusData(core, connectors, where(req), o.series));
    });
  };
}
