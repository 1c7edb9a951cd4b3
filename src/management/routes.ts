/**
 * Read-only management endpoints, off the /v2/ tree and behind the same access control as the
 * registry API: the connectors a caller may use, with their conditions and proxy addresses;
 * one connector's status; one connector's rendered client configuration file.
 *
 *   GET /connectors
 *   GET /connectors/<ns>/<name>
 *   GET /connectors/<ns>/<name>/configurations/<file>
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AccessControl, type Decision, notAuthenticated } from '../access/control.ts';
import { presentedCredential, type PresentedCredential } from '../access/credential.ts';
import { type AddressMode, CONFIGURATION_FILES, isConfigurationFile, proxyAddress, renderConfiguration } from '../configurations/render.ts';
import { type Connector, connectorKey } from '../connectors/model.ts';
import { CONNECTOR_API_VERSION } from '../connectors/parse.ts';
import type { ConnectorSet } from '../connectors/registry.ts';
import { RegistryError } from '../distribution/errors.ts';
import type { HealthMonitor } from '../health/monitor.ts';

export interface ManagementDeps {
  connectors: () => ConnectorSet;
  access: AccessControl;
  health: HealthMonitor | undefined;
  addressMode: AddressMode;
  /** Host[:port] clients use to reach the proxy in path mode; default: the request's Host. */
  proxyHost: string | undefined;
  /** Port of the connector Services in host mode. */
  servicePort: number;
}

const CONTENT_TYPES: Record<string, string> = {
  'config.json': 'application/json; charset=utf-8',
  'daemon.json': 'application/json; charset=utf-8',
  'buildkitd.toml': 'application/toml; charset=utf-8',
  'hosts.toml': 'application/toml; charset=utf-8',
  'registries.conf': 'application/toml; charset=utf-8',
};

function sendError(reply: FastifyReply, err: RegistryError): FastifyReply {
  return reply.code(err.status).headers({ ...err.headers, 'content-type': 'application/json; charset=utf-8' }).send(err.body());
}

export function registerManagement(app: FastifyInstance, deps: ManagementDeps): void {
  const address = (req: FastifyRequest, c: Connector) => proxyAddress(c, deps.addressMode, deps.proxyHost ?? req.headers.host ?? 'localhost', deps.servicePort);

  const view = (req: FastifyRequest, c: Connector) => {
    const health = deps.health?.status(connectorKey(c));
    return {
      apiVersion: CONNECTOR_API_VERSION,
      kind: 'Connector',
      metadata: { namespace: c.namespace, name: c.name },
      spec: { connectorClassName: 'oci', address: c.address },
      status: {
        conditions: health?.conditions ?? [],
        checkedAt: health?.checkedAt,
        access: deps.access.modeFor(c),
        proxy: { httpAddress: { url: address(req, c).url } },
      },
    };
  };

  /** The connector named in the path, if the caller may use it. */
  const allowed = async (credential: PresentedCredential, namespace: string, name: string): Promise<Connector> => {
    const set = deps.connectors();
    const client = set.clients.get(`${namespace}/${name}`);
    if (!client) {
      // Which connectors exist is for callers the proxy knows (as on the registry API).
      if (deps.access.required([...set.clients.values()].map((c) => c.connector)) && !(await deps.access.authenticated(credential))) {
        throw notAuthenticated(credential);
      }
      throw new RegistryError(404, 'NAME_UNKNOWN', `connector ${namespace}/${name} is not served by this proxy`, { namespace, name });
    }
    const d = await deps.access.decide(credential, client.connector);
    if (!d.allowed) throw d.error;
    return client.connector;
  };

  app.get('/connectors', async (req, reply) => {
    const credential = presentedCredential(req.raw.rawHeaders);
    const all = [...deps.connectors().clients.values()].map((c) => c.connector);
    // One at a time: under kubernetes access each may be a SubjectAccessReview (then cached).
    const decisions: Decision[] = [];
    for (const c of all) decisions.push(await deps.access.decide(credential, c));
    const visible = all.filter((_, i) => decisions[i]!.allowed);
    if (visible.length === 0 && all.length > 0) {
      // Nothing to show: say why (no or wrong credential → 401 challenge; a token for none of these → 403).
      const first = decisions.find((d) => !d.allowed && d.error.status === 401) ?? decisions[0]!;
      if (!first.allowed) return sendError(reply, first.error);
    }
    return reply.header('cache-control', 'no-store').send({ items: visible.map((c) => view(req, c)) });
  });

  app.get<{ Params: { namespace: string; name: string } }>('/connectors/:namespace/:name', async (req, reply) => {
    try {
      const c = await allowed(presentedCredential(req.raw.rawHeaders), req.params.namespace, req.params.name);
      return reply.header('cache-control', 'no-store').send(view(req, c));
    } catch (err) {
      if (err instanceof RegistryError) return sendError(reply, err);
      throw err;
    }
  });

  app.get<{ Params: { namespace: string; name: string; file: string } }>('/connectors/:namespace/:name/configurations/:file', async (req, reply) => {
    const credential = presentedCredential(req.raw.rawHeaders);
    try {
      const c = await allowed(credential, req.params.namespace, req.params.name);
      const file = req.params.file;
      if (!isConfigurationFile(file)) {
        throw new RegistryError(404, 'UNSUPPORTED', `no configuration file ${JSON.stringify(file.slice(0, 64))}; have ${CONFIGURATION_FILES.join(', ')}`);
      }
      // config.json carries the caller's own proxy credential when the connector needs one.
      const own = credential.kind === 'caller' && deps.access.modeFor(c) !== 'none' ? { username: credential.caller.username || 'token', password: credential.caller.token } : undefined;
      return reply
        .header('content-type', CONTENT_TYPES[file]!)
        .header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="${file}"`)
        .send(renderConfiguration(file, address(req, c), own));
    } catch (err) {
      if (err instanceof RegistryError) return sendError(reply, err);
      throw err;
    }
  });
}
