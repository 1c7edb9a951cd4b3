/**
 * Reads the product's own multi-document YAML: `Connector` documents
 * (connectors.alauda.io/v1alpha1, class `oci`) and the `Secret` documents they reference.
 * Every problem is a ConfigError naming the file, the document, the field and what is wrong.
 */
import { parseAllDocuments } from 'yaml';
import { ACCESS_MODES, ACCESS_TOKEN_MIN_LENGTH, ACCESS_TOKEN_SECRET_TYPE, type AccessToken, hashToken } from '../access/control.ts';
import { nameProblem } from '../distribution/names.ts';
import { type Connector, type Credentials, redactAddress, upstreamOriginFor } from './model.ts';

export const CONNECTOR_API_VERSION = 'connectors.alauda.io/v1alpha1';
export const SECRET_TYPE = 'cpaas.io/distribution-registry-token';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Doc {
  index: number; // 1-based position in the file
  kind: string;
  namespace: string;
  name: string;
  body: Obj;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** What one configuration file holds. */
export interface ParsedConfig {
  connectors: Connector[];
  /** Static proxy tokens, from Secrets of type ACCESS_TOKEN_SECRET_TYPE. */
  accessTokens: AccessToken[];
}

export function parseConnectorsYaml(text: string, file: string): Connector[] {
  return parseConfig(text, file).connectors;
}

/**
 * Parses a file of Connector and Secret documents. `connectorsRequired: false` accepts a file
 * with access-token Secrets only (the --access-tokens file).
 */
export function parseConfig(text: string, file: string, options: { connectorsRequired?: boolean } = {}): ParsedConfig {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) {
    throw new ConfigError(`${file}: not a YAML stream`);
  }
  const parsed: Doc[] = [];
  docs.forEach((doc, i) => {
    const index = i + 1;
    const err = doc.errors[0];
    if (err) {
      const where = err.linePos?.[0] ? ` (line ${err.linePos[0].line}, column ${err.linePos[0].col})` : '';
      const what = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new ConfigError(`${file}: document ${index}${where}: invalid YAML: ${what}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // Unresolved aliases and alias bombs. The yaml library's message quotes the alias, which
      // may be a secret value (a password starting with '*'): say what, not the text.
      const what = /alias/i.test((e as Error).message) ? 'an unresolved or excessive YAML alias (a value starting with * or & must be quoted)' : 'unreadable YAML';
      throw new ConfigError(`${file}: document ${index}: invalid YAML: ${what}`);
    }
    if (value === null || value === undefined) return; // empty document, e.g. a trailing ---
    if (!isObj(value)) throw new ConfigError(`${file}: document ${index}: expected a mapping with apiVersion and kind`);
    const kind = value['kind'];
    if (typeof kind !== 'string') throw new ConfigError(`${file}: document ${index}: kind: missing`);
    const meta = value['metadata'];
    if (!isObj(meta)) throw new ConfigError(`${file}: document ${index} (${kind}): metadata: missing`);
    const name = meta['name'];
    if (typeof name !== 'string' || !DNS_LABEL.test(name) || name.length > 63) {
      throw new ConfigError(`${file}: document ${index} (${kind}): metadata.name: must be a DNS label (lower-case letters, digits, '-'), got ${JSON.stringify(name)}`);
    }
    const nsRaw = meta['namespace'] ?? 'default';
    if (typeof nsRaw !== 'string' || !DNS_LABEL.test(nsRaw) || nsRaw.length > 63) {
      throw new ConfigError(`${file}: document ${index} (${kind} ${name}): metadata.namespace: must be a DNS label, got ${JSON.stringify(nsRaw)}`);
    }
    parsed.push({ index, kind, namespace: nsRaw, name, body: value });
  });

  const secrets = new Map<string, Doc>();
  const accessTokens: AccessToken[] = [];
  const tokenOwners = new Map<string, string>();
  for (const d of parsed) {
    if (d.kind !== 'Secret') continue;
    const key = `${d.namespace}/${d.name}`;
    if (secrets.has(key)) throw new ConfigError(`${file}: document ${d.index} (Secret ${key}): metadata.name: a Secret with this name is already defined in document ${secrets.get(key)!.index}`);
    if (d.body['apiVersion'] !== 'v1') throw new ConfigError(`${file}: document ${d.index} (Secret ${key}): apiVersion: must be "v1"`);
    secrets.set(key, d);
    if (d.body['type'] === ACCESS_TOKEN_SECRET_TYPE) {
      const t = parseAccessToken(d, `${file}: document ${d.index} (Secret ${key})`);
      const hex = t.sha256.toString('hex');
      if (tokenOwners.has(hex)) throw new ConfigError(`${file}: document ${d.index} (Secret ${key}): data.token: the same token is already defined by Secret ${tokenOwners.get(hex)}`);
      tokenOwners.set(hex, key);
      accessTokens.push(t);
    }
  }

  const connectors: Connector[] = [];
  const seen = new Map<string, number>();
  for (const d of parsed) {
    if (d.kind === 'Secret') continue;
    const where = `${file}: document ${d.index} (${d.kind} ${d.namespace}/${d.name})`;
    if (d.kind !== 'Connector') throw new ConfigError(`${where}: kind: expected Connector or Secret`);
    if (d.body['apiVersion'] !== CONNECTOR_API_VERSION) {
      throw new ConfigError(`${where}: apiVersion: must be "${CONNECTOR_API_VERSION}", got ${JSON.stringify(d.body['apiVersion'])}`);
    }
    const key = `${d.namespace}/${d.name}`;
    if (seen.has(key)) throw new ConfigError(`${where}: metadata.name: a Connector with this name is already defined in document ${seen.get(key)}`);
    seen.set(key, d.index);
    connectors.push(parseConnector(d, file, where, secrets));
  }
  if (connectors.length === 0 && options.connectorsRequired !== false) throw new ConfigError(`${file}: no Connector document found`);
  return { connectors, accessTokens };
}

/** `spec.auth.secretRef` of a Connector object as `{namespace, name}`, if it names one. */
export function secretRefOf(obj: Obj, namespace: string): { namespace: string; name: string } | undefined {
  const spec = obj['spec'];
  const auth = isObj(spec) ? spec['auth'] : undefined;
  const ref = isObj(auth) ? auth['secretRef'] : undefined;
  if (!isObj(ref) || typeof ref['name'] !== 'string' || ref['name'] === '') return undefined;
  return { namespace: typeof ref['namespace'] === 'string' && ref['namespace'] !== '' ? ref['namespace'] : namespace, name: ref['name'] };
}

/**
 * One Connector object from the Kubernetes API (with the Secret it references, when it
 * references one and it exists), checked exactly as in a file. Throws ConfigError naming `where`.
 */
export function connectorFromObject(obj: Obj, secret: Obj | undefined, where: string): Connector {
  const meta = isObj(obj['metadata']) ? obj['metadata'] : {};
  const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default';
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const d: Doc = { index: 0, kind: 'Connector', namespace, name, body: obj };
  const secrets = new Map<string, Doc>();
  const ref = secretRefOf(obj, namespace);
  if (ref && secret) {
    secrets.set(`${ref.namespace}/${ref.name}`, { index: 0, kind: 'Secret', namespace: ref.namespace, name: ref.name, body: secret });
  }
  return parseConnector(d, where, where, secrets);
}

function parseConnector(d: Doc, file: string, where: string, secrets: Map<string, Doc>): Connector {
  const spec = d.body['spec'];
  if (!isObj(spec)) throw new ConfigError(`${where}: spec: missing`);
  const cls = spec['connectorClassName'];
  if (cls !== 'oci') throw new ConfigError(`${where}: spec.connectorClassName: must be "oci", got ${JSON.stringify(cls)}`);

  const address = spec['address'];
  if (typeof address !== 'string' || address === '') throw new ConfigError(`${where}: spec.address: missing`);
  const url = parseAddress(address, where);
  const { origin, dockerHub } = upstreamOriginFor(url);

  const params: Record<string, string> = {};
  readParams(spec['params'], `${where}: spec.params`, params);

  let credentials: Credentials | undefined;
  let healthRepository: string | undefined;
  const auth = spec['auth'];
  if (auth !== undefined && auth !== null) {
    if (!isObj(auth)) throw new ConfigError(`${where}: spec.auth: must be a mapping`);
    const authName = auth['name'] ?? 'tokenAuth';
    if (authName !== 'tokenAuth') throw new ConfigError(`${where}: spec.auth.name: must be "tokenAuth", got ${JSON.stringify(authName)}`);
    const authParams: Record<string, string> = {};
    readParams(auth['params'], `${where}: spec.auth.params`, authParams);
    // spec.params are the proxy's settings and win over a same-named auth parameter.
    for (const [k, v] of Object.entries(authParams)) if (!(k in params)) params[k] = v;
    if (authParams['repository'] !== undefined) {
      healthRepository = authParams['repository'];
      const p = nameProblem(healthRepository);
      if (p) throw new ConfigError(`${where}: spec.auth.params[repository]: ${p}`);
    }
    const ref = auth['secretRef'];
    if (ref !== undefined && ref !== null) {
      if (!isObj(ref) || typeof ref['name'] !== 'string' || ref['name'] === '') {
        throw new ConfigError(`${where}: spec.auth.secretRef.name: missing`);
      }
      const ns = typeof ref['namespace'] === 'string' && ref['namespace'] !== '' ? ref['namespace'] : d.namespace;
      const secretKey = `${ns}/${ref['name']}`;
      const secret = secrets.get(secretKey);
      if (!secret) throw new ConfigError(`${where}: spec.auth.secretRef: Secret ${secretKey} is not defined in this file`);
      credentials = parseSecret(secret, secret.index ? `${file}: document ${secret.index} (Secret ${secretKey})` : `Secret ${secretKey}`);
    }
  }

  checkParams(params, `${where}: spec.params`);
  return {
    namespace: d.namespace,
    name: d.name,
    address,
    upstreamOrigin: origin,
    dockerHub,
    credentials,
    healthRepository,
    params,
  };
}

function parseAddress(address: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ConfigError(`${where}: spec.address: ${JSON.stringify(redactAddress(address))} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${where}: spec.address: ${JSON.stringify(redactAddress(address))} must start with http:// or https://`);
  }
  if (url.username || url.password) {
    throw new ConfigError(`${where}: spec.address: must not hold credentials; put them in the Secret named by spec.auth.secretRef`);
  }
  if (url.search || url.hash) throw new ConfigError(`${where}: spec.address: must not have a query or fragment`);
  // The registry API lives at /v2/ of the host; Docker's legacy "/v1/" form is accepted as the root.
  if (!['/', '/v1', '/v1/', '/v2', '/v2/'].includes(url.pathname)) {
    throw new ConfigError(`${where}: spec.address: must be the registry's base URL without a path, got path ${JSON.stringify(url.pathname)}`);
  }
  if (!DNS_SUBDOMAIN.test(url.hostname) && !/^\[[0-9a-f:.]+\]$/.test(url.hostname) && !/^[0-9.]+$/.test(url.hostname)) {
    throw new ConfigError(`${where}: spec.address: invalid host ${JSON.stringify(url.hostname)}`);
  }
  return url;
}

/** The proxy's own connector parameters (spec.params). */
function checkParams(params: Record<string, string>, where: string): void {
  const access = params['access'];
  if (access !== undefined && !(ACCESS_MODES as readonly string[]).includes(access)) {
    throw new ConfigError(`${where}[access]: must be one of ${ACCESS_MODES.join(', ')}, got ${JSON.stringify(access)}`);
  }
  const redirects = params['redirects'];
  if (redirects !== undefined && redirects !== 'follow' && redirects !== 'pass') {
    throw new ConfigError(`${where}[redirects]: must be "follow" or "pass", got ${JSON.stringify(redirects)}`);
  }
  for (const [param, value] of [['allowedRealmHosts', params['allowedRealmHosts']], ['hosts', params['hosts']]] as const) {
    if (value === undefined) continue;
    for (const h of value.split(',').map((x) => x.trim()).filter(Boolean)) {
      if (!DNS_SUBDOMAIN.test(h.toLowerCase()) && !/^[0-9.]+$/.test(h)) throw new ConfigError(`${where}[${param}]: ${JSON.stringify(h)} is not a host name`);
    }
  }
}

function readParams(value: unknown, where: string, into: Record<string, string>): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw new ConfigError(`${where}: must be a list of {name, value}`);
  value.forEach((p, i) => {
    if (!isObj(p) || typeof p['name'] !== 'string' || p['name'] === '') throw new ConfigError(`${where}[${i}].name: missing`);
    const v = p['value'];
    if (typeof v !== 'string') throw new ConfigError(`${where}[${i}].value: must be a string`);
    into[p['name']] = v;
  });
}

function secretValues(d: Doc, where: string): Record<string, string> {
  const values: Record<string, string> = {};
  const data = d.body['data'];
  if (data !== undefined && data !== null) {
    if (!isObj(data)) throw new ConfigError(`${where}: data: must be a mapping`);
    for (const [k, v] of Object.entries(data)) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
        throw new ConfigError(`${where}: data.${k}: not valid base64`);
      }
      values[k] = Buffer.from(v, 'base64').toString('utf8');
    }
  }
  const stringData = d.body['stringData'];
  if (stringData !== undefined && stringData !== null) {
    if (!isObj(stringData)) throw new ConfigError(`${where}: stringData: must be a mapping`);
    for (const [k, v] of Object.entries(stringData)) {
      if (typeof v !== 'string') throw new ConfigError(`${where}: stringData.${k}: must be a string`);
      values[k] = v; // stringData wins over data, as in Kubernetes
    }
  }
  return values;
}

function parseSecret(d: Doc, where: string): Credentials {
  const type = d.body['type'];
  if (type !== SECRET_TYPE) throw new ConfigError(`${where}: type: must be "${SECRET_TYPE}", got ${JSON.stringify(type)}`);
  const values = secretValues(d, where);
  for (const field of ['username', 'password'] as const) {
    if (!values[field]) throw new ConfigError(`${where}: data.${field}: missing (a ${SECRET_TYPE} Secret needs username and password)`);
  }
  return { username: values['username']!, password: values['password']! };
}

const CONNECTOR_PATTERN = /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?\/(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?))$/;

/** A static proxy token: `token` and `connectors` (`<ns>/<name>`, `<ns>/*` or `*`, comma or space separated). */
function parseAccessToken(d: Doc, where: string): AccessToken {
  const values = secretValues(d, where);
  const token = values['token'];
  if (!token) throw new ConfigError(`${where}: data.token: missing (an ${ACCESS_TOKEN_SECRET_TYPE} Secret needs token and connectors)`);
  if (token.length < ACCESS_TOKEN_MIN_LENGTH) throw new ConfigError(`${where}: data.token: too short (at least ${ACCESS_TOKEN_MIN_LENGTH} characters; e.g. openssl rand -hex 24)`);
  if (/[\s:]/.test(token)) throw new ConfigError(`${where}: data.token: must not contain spaces or ':'`);
  const list = values['connectors'];
  if (!list) throw new ConfigError(`${where}: data.connectors: missing (list the connectors this token may use: <ns>/<name>, <ns>/* or *)`);
  const connectors = list.split(/[\s,]+/).filter(Boolean);
  if (connectors.length === 0) throw new ConfigError(`${where}: data.connectors: missing (list the connectors this token may use: <ns>/<name>, <ns>/* or *)`);
  for (const p of connectors) {
    if (!CONNECTOR_PATTERN.test(p)) throw new ConfigError(`${where}: data.connectors: ${JSON.stringify(p)} is not <ns>/<name>, <ns>/* or *`);
  }
  return { id: `${d.namespace}/${d.name}`, sha256: hashToken(token), connectors };
}
