/**
 * The one place where what went wrong upstream is worded for people: the OCI error a client
 * gets and the message a health condition shows. Typed errors of the chain (errors.ts) and
 * network errors from undici come in; a RegistryError naming the connector and the host, never a
 * credential, comes out. Connection problems are 502, timeouts 504, a busy connector 503.
 */
import { RegistryError } from '../distribution/errors.ts';
import {
  errorCode,
  errorReason,
  RealmNotTrusted,
  Saturated,
  StorageRefused,
  StorageUnreachable,
  TokenServerError,
  UnsupportedChallenge,
  UpstreamRefused,
  UpstreamUnhealthy,
} from './errors.ts';
import { tlsProblem } from './tls.ts';

/** Who failed: the connector key, the upstream host, and whether the connector has credentials. */
export interface FailureContext {
  key: string;
  host: string;
  anonymous: boolean;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Seconds a client is asked to wait when every upstream connection of the connector is busy. */
export const SATURATED_RETRY_AFTER_S = 2;

export function upstreamFailure(err: unknown, c: FailureContext): RegistryError {
  if (err instanceof RegistryError) return err;
  if (err instanceof UpstreamRefused) return refusal(err, c);
  if (err instanceof TokenServerError) return tokenServerFailure(err, c);
  if (err instanceof RealmNotTrusted) {
    return new RegistryError(502, 'UNAVAILABLE', `connector ${c.key}: refusing to send credentials: ${err.problem}`, { connector: c.key });
  }
  if (err instanceof UnsupportedChallenge) {
    return new RegistryError(502, 'UNAVAILABLE', `connector ${c.key}: upstream ${c.host} asks for an authentication scheme the proxy does not support`, {
      connector: c.key,
      scheme: err.schemes,
    });
  }
  if (err instanceof UpstreamUnhealthy) {
    return new RegistryError(502, 'UNAVAILABLE', `connector ${c.key}: upstream ${c.host} answered ${err.status} to GET /v2/`, { connector: c.key });
  }
  if (err instanceof Saturated) {
    return new RegistryError(
      503,
      'UNAVAILABLE',
      `connector ${c.key}: all ${err.slots} upstream connections for ${err.traffic === 'bulk' ? 'blob transfers' : 'small requests'} are busy (waited ${err.waitedMs} ms); retry later`,
      { connector: c.key, traffic: err.traffic },
      { 'retry-after': String(SATURATED_RETRY_AFTER_S) },
    );
  }
  if (err instanceof StorageRefused) {
    return new RegistryError(502, 'UNAVAILABLE', `connector ${c.key}: the storage host ${err.host} that upstream ${c.host} redirected to answered ${err.status}`, {
      connector: c.key,
      storage: err.host,
      status: err.status,
    });
  }
  if (err instanceof StorageUnreachable) {
    return networkFailure(err.cause, c.key, { storage: err.host }, `the storage host ${err.host} that upstream ${c.host} redirected to`);
  }
  return networkFailure(err, c.key, { upstream: c.host }, `upstream ${c.host}`);
}

function refusal(err: UpstreamRefused, c: FailureContext): RegistryError {
  const what = err.scopes.length ? err.scopes.join(' ') : 'the registry';
  const said = err.said ? ` (the registry said: ${err.said})` : '';
  const detail = { connector: c.key, upstream: c.host, scopes: err.scopes };
  if (err.insufficientScope && !c.anonymous) {
    // The credentials were accepted; what they may do is not enough.
    const denied = err.missing?.length ? err.missing.join(', ') : what;
    const message = `connector ${c.key}: upstream ${c.host} refused ${denied}: the connector's credentials lack that right (insufficient_scope for ${what}); give the connector's Secret that right${said}`;
    return new RegistryError(403, 'DENIED', message, detail);
  }
  const who = c.anonymous ? 'anonymous access (the connector has no Secret)' : "the connector's credentials";
  const hint = c.anonymous ? 'give the connector a Secret with credentials' : "check the connector's Secret and its rights";
  const message = `connector ${c.key}: upstream ${c.host} refused ${who} for ${what} (${err.status}); ${hint}, or check that the repository exists${said}`;
  return err.status === 403 ? new RegistryError(403, 'DENIED', message, detail) : new RegistryError(401, 'UNAUTHORIZED', message, detail);
}

function tokenServerFailure(err: TokenServerError, c: FailureContext): RegistryError {
  const realm = err.realmHost;
  if (err.kind === 'network') return networkFailure(err.cause, c.key, { realm }, `token server ${realm}`);
  if (err.kind === 'refused') {
    const message = err.anonymous
      ? `connector ${c.key}: token server ${realm} refused anonymous access (${err.status}); the connector needs a Secret with credentials`
      : `connector ${c.key}: token server ${realm} refused the connector's credentials (${err.status}); check the connector's Secret`;
    return new RegistryError(401, 'UNAUTHORIZED', message, { connector: c.key, realm, status: err.status });
  }
  return new RegistryError(502, 'UNAVAILABLE', `connector ${c.key}: token server ${realm} ${err.what}`, { connector: c.key, realm });
}

function networkFailure(err: unknown, key: string, where: Record<string, string>, who: string): RegistryError {
  const code = errorCode(err) ?? 'UNKNOWN';
  const detail = { connector: key, ...where, cause: code };
  if (TIMEOUT_CODES.has(code)) return new RegistryError(504, 'UNAVAILABLE', `connector ${key}: ${who} did not answer in time (${code})`, detail);
  const tls = tlsProblem(code, errorReason(err));
  if (tls) return new RegistryError(502, 'UNAVAILABLE', `connector ${key}: ${who} ${tls} (${code})`, detail);
  const what =
    code === 'ECONNREFUSED'
      ? 'refused the connection'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'could not be resolved'
        : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
          ? 'closed the connection'
          : 'could not be reached';
  return new RegistryError(502, 'UNAVAILABLE', `connector ${key}: ${who} ${what} (${code})`, detail);
}
