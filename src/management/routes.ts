/**
 * Read-only management endpoints, off the /v2/ tree and behind the same access control as the
 * registry API: the connectors a caller may use, with their conditions and proxy addresses;
 * one connector's status; one connector's rendered client configuration file. A Fastify plugin
 * with its own error handler: a refusal or an unknown connector is thrown as a RegistryError
 * and answered as an OCI error.
 *
 *   GET /connectors
 *   GET /connectors/<ns>/<name>
 *   GET /connectors/<ns>/<name>/configurations/<file>
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { type Decision, notAuthenticated } from '../access/control.ts';
import { presentedCredential, type PresentedCredential } from '../access/credential.ts';
import { type AddressMode, type AddressOptions, CONFIGURATION_FILES, isConfigurationFile, type ProxyAddress, proxyAddress, renderConfiguration } from '../configurations/render.ts';
import { type Connector, connectorKey } from '../connectors/model.ts';
import { tlsSummary } from '../connectors/tls.ts';
import { CONNECTOR_API_VERSION } from '../connectors/parse.ts';
import type { PullThroughCache } from '../cache/cache.ts';
import { isMirrorFile, MIRROR_FILES, type Mirror, MirrorError, mirrorsOf, renderMirror } from '../configurations/mirrors.ts';
import type { ProxyCore } from '../core.ts';
import { RegistryError } from '../distribution/errors.ts';

export interface ManagementOptions {
  /** How connectors' proxy addresses are written: default path. */
  addressMode?: AddressMode;
  /** Host[:port] clients use to reach the proxy in path mode; default: the request's Host. */
  proxyHost?: string | undefined;
  /** Port of the connector Services in host mode: default 80 (443 with TLS). */
  servicePort?: number | undefined;
  /** The proxy listens with HTTPS: rendered files and addresses say https. */
  tls?: boolean | undefined;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const TOML_TYPE = 'application/toml; charset=utf-8';
const CONTENT_TYPES: Record<string, string> = {
  'config.json': JSON_TYPE,
  'daemon.json': JSON_TYPE,
  'buildkitd.toml': TOML_TYPE,
  'hosts.toml': TOML_TYPE,
  'registries.conf': TOML_TYPE,
  'mirror-hosts.toml': TOML_TYPE,
  'mirror-registries.conf': TOML_TYPE,
  'mirror-daemon.json': JSON_TYPE,
  'mirror-buildkitd.toml': TOML_TYPE,
  'mirror-config.json': JSON_TYPE,
};

/** Every file `/configurations/<file>` serves. */
export const SERVED_FILES: readonly string[] = [...CONFIGURATION_FILES, ...MIRROR_FILES];

type Named = { Params: { namespace: string; name: string } };

/** A connector as `GET /connectors` shows it: the product's object, with status, the proxy address and its use of the cache. */
async function view(core: ProxyCore, c: Connector, address: ProxyAddress, cache: PullThroughCache | undefined) {
  const health = core.health?.status(connectorKey(c));
  const store = cache && (await cache.usage(connectorKey(c)));
  return {
    apiVersion: CONNECTOR_API_VERSION,
    kind: 'Connector',
    metadata: { namespace: c.namespace, name: c.name },
    spec: { connectorClassName: 'oci', address: c.address },
    status: {
      conditions: health?.conditions ?? [],
      checkedAt: health?.checkedAt,
      access: core.access.modeFor(c),
      proxy: { httpAddress: { url: address.url } },
      ...(store ? { cache: store } : {}),
      ...(c.tls ? { tls: tlsSummary(c.tls) } : {}),
    },
  };
}

/** The connector named in the path, if the caller may use it; throws the refusal otherwise. */
async function allowed(core: ProxyCore, credential: PresentedCredential, namespace: string, name: string): Promise<Connector> {
  const set = core.connectors();
  const client = set.clients.get(`${namespace}/${name}`);
  if (!client) {
    // Which connectors exist is for callers the proxy knows (as on the registry API).
    if (core.access.required(set.connectors) && !(await core.access.authenticated(credential))) throw notAuthenticated(credential);
    throw new RegistryError(404, 'NAME_UNKNOWN', `connector ${namespace}/${name} is not served by this proxy`, { namespace, name });
  }
  const d = await core.access.decide(credential, client.connector);
  if (!d.allowed) throw d.error;
  return client.connector;
}

/** The connectors the caller may use; when none, the reason (no or wrong credential → 401, a token for none of these → 403). */
export async function visible(core: ProxyCore, credential: PresentedCredential): Promise<Connector[]> {
  const all = core.connectors().connectors;
  // One at a time: under kubernetes access each may be a SubjectAccessReview (then cached).
  const decisions: Decision[] = [];
  for (const c of all) decisions.push(await core.access.decide(credential, c));
  const shown = all.filter((_, i) => decisions[i]!.allowed);
  if (shown.length === 0 && all.length > 0) {
    const first = decisions.find((d) => !d.allowed && d.error.status === 401) ?? decisions[0]!;
    if (!first.allowed) throw first.error;
  }
  return shown;
}

/** One served file of a connector; an unknown one, or a mirror file the connector cannot have, is 404. */
function rendered(file: string, c: Connector, address: ProxyAddress, mirrors: Mirror[], own: { username: string; password: string } | undefined): string {
  if (isConfigurationFile(file)) return renderConfiguration(file, address, own);
  if (!isMirrorFile(file)) throw new RegistryError(404, 'UNSUPPORTED', `no configuration file ${JSON.stringify(file.slice(0, 64))}; have ${SERVED_FILES.join(', ')}`);
  try {
    return renderMirror(file, mirrors[0]!, own);
  } catch (err) {
    if (err instanceof MirrorError) throw new RegistryError(404, 'UNSUPPORTED', `connector ${connectorKey(c)}: ${err.message}`);
    throw err;
  }
}

export function managementRoutes(core: ProxyCore, options: ManagementOptions): FastifyPluginAsync {
  const cache = core.cache;
  const mode = options.addressMode ?? 'path';
  const proxyHost = (req: FastifyRequest): string => options.proxyHost ?? req.headers.host ?? 'localhost';
  const where = (req: FastifyRequest): AddressOptions => ({ mode, proxyHost: proxyHost(req), servicePort: options.servicePort, tls: options.tls });
  const address = (req: FastifyRequest, c: Connector) => proxyAddress(c, where(req));
  const mirrors = (req: FastifyRequest, c: Connector) => mirrorsOf(c, where(req));
  const credentialOf = (req: FastifyRequest) => presentedCredential(req.raw.rawHeaders);

  return async (app: FastifyInstance) => {
    app.setErrorHandler((err, _req, reply) => {
      if (!(err instanceof RegistryError)) throw err;
      return reply
        .code(err.status)
        .headers({ ...err.headers, 'content-type': 'application/json; charset=utf-8' })
        .send(err.body());
    });

    app.get('/connectors', async (req, reply) => {
      const items = await Promise.all((await visible(core, credentialOf(req))).map((c) => view(core, c, address(req, c), cache)));
      return reply.header('cache-control', 'no-store').send({ items });
    });

    app.get<Named>('/connectors/:namespace/:name', async (req, reply) => {
      const c = await allowed(core, credentialOf(req), req.params.namespace, req.params.name);
      return reply.header('cache-control', 'no-store').send(await view(core, c, address(req, c), cache));
    });

    app.get<Named & { Params: { file: string } }>('/connectors/:namespace/:name/configurations/:file', async (req, reply) => {
      const credential = credentialOf(req);
      const c = await allowed(core, credential, req.params.namespace, req.params.name);
      const file = req.params.file;
      // config.json (and mirror-config.json, mirror-hosts.toml) carry the caller's own proxy credential when the connector needs one.
      const own =
        credential.kind === 'caller' && core.access.modeFor(c) !== 'none' ? { username: credential.caller.username || 'token', password: credential.caller.token } : undefined;
      const text = rendered(file, c, address(req, c), mirrors(req, c), own);
      return reply.header('content-type', CONTENT_TYPES[file]!).header('cache-control', 'no-store').header('content-disposition', `attachment; filename="${file}"`).send(text);
    });
  };
}
