/**
 * Static proxy tokens: Secrets of type `oci-connector-proxy/access-token` holding `token` and
 * `connectors` (`<ns>/<name>`, `<ns>/*` or `*`). The token is kept only as its SHA-256 and
 * compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError, type Doc, secretValues, secretWhere } from '../connectors/documents.ts';
import { type Connector, connectorKey } from '../connectors/model.ts';

/** One static proxy token. */
export interface AccessToken {
  /** `<namespace>/<name>` of the Secret that defines it: what logs and errors name. */
  id: string;
  sha256: Buffer;
  /** `<ns>/<name>`, `<ns>/*` or `*`. */
  connectors: readonly string[];
}

export const ACCESS_TOKEN_SECRET_TYPE = 'oci-connector-proxy/access-token';
export const ACCESS_TOKEN_MIN_LENGTH = 16;

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function tokenAllows(patterns: readonly string[], c: Pick<Connector, 'namespace' | 'name'>): boolean {
  return patterns.some((p) => p === '*' || p === `${c.namespace}/*` || p === connectorKey(c));
}

/** The token `token` is, comparing every entry in constant time (timing says nothing about which matched). */
export function findToken(tokens: readonly AccessToken[], token: string): AccessToken | undefined {
  const h = hashToken(token);
  let found: AccessToken | undefined;
  for (const t of tokens) if (timingSafeEqual(t.sha256, h) && !found) found = t;
  return found;
}

const CONNECTOR_PATTERN = /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?\/(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?))$/;

/** The access-token Secrets among a file's documents; a token defined twice is refused. */
export function accessTokensFrom(docs: readonly Doc[], file: string): AccessToken[] {
  const tokens: AccessToken[] = [];
  const owners = new Map<string, string>();
  for (const d of docs) {
    if (d.kind !== 'Secret' || d.body['type'] !== ACCESS_TOKEN_SECRET_TYPE) continue;
    const where = secretWhere(d, file);
    const t = accessToken(d, where);
    const hex = t.sha256.toString('hex');
    if (owners.has(hex)) throw new ConfigError(`${where}: data.token: the same token is already defined by Secret ${owners.get(hex)}`);
    owners.set(hex, t.id);
    tokens.push(t);
  }
  return tokens;
}

/** A static proxy token: `token` and `connectors` (comma or space separated). */
function accessToken(d: Doc, where: string): AccessToken {
  const values = secretValues(d, where);
  const token = values['token'];
  if (!token) throw new ConfigError(`${where}: data.token: missing (an ${ACCESS_TOKEN_SECRET_TYPE} Secret needs token and connectors)`);
  if (token.length < ACCESS_TOKEN_MIN_LENGTH) throw new ConfigError(`${where}: data.token: too short (at least ${ACCESS_TOKEN_MIN_LENGTH} characters; e.g. openssl rand -hex 24)`);
  if (/[\s:]/.test(token)) throw new ConfigError(`${where}: data.token: must not contain spaces or ':'`);
  const missing = `${where}: data.connectors: missing (list the connectors this token may use: <ns>/<name>, <ns>/* or *)`;
  const connectors = (values['connectors'] ?? '').split(/[\s,]+/).filter(Boolean);
  if (connectors.length === 0) throw new ConfigError(missing);
  for (const p of connectors) {
    if (!CONNECTOR_PATTERN.test(p)) throw new ConfigError(`${where}: data.connectors: ${JSON.stringify(p)} is not <ns>/<name>, <ns>/* or *`);
  }
  return { id: `${d.namespace}/${d.name}`, sha256: hashToken(token), connectors };
}
