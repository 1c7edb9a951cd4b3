/**
 * TLS toward a connector's hosts: how its agents connect (the connector's CA bundle trusted
 * besides Node's own, its client certificate shown only to the registry's host, or no check at
 * all with insecureSkipTLSVerify), and what a TLS failure is called in words.
 *
 * The rule: every host the connector talks to (the registry, its token realm, the storage hosts
 * it redirects to) is checked against Node's trust store (with NODE_EXTRA_CA_CERTS) plus the
 * connector's `ca.crt`. The client certificate goes only to the registry's own host name (any
 * port): a token realm or a storage host elsewhere never sees it.
 */
import { isIP } from 'node:net';
import { createSecureContext, getCACertificates, rootCertificates, type SecureContext, connect as tlsConnect } from 'node:tls';
import { buildConnector } from 'undici';
import type { Connector } from '../connectors/model.ts';

/** Node's default trust (its bundled roots and NODE_EXTRA_CA_CERTS, or the system's with --use-system-ca). */
function defaultCertificates(): string[] {
  return typeof getCACertificates === 'function' ? getCACertificates('default') : [...rootCertificates];
}

/**
 * The `connect` option of a connector's agents: a plain timeout, or a connector with its TLS.
 * HTTP/1.1 only (undici would offer h2 by ALPN): one blob per connection, so the admission slots
 * count connections, and no stream of one client waits behind another's on a shared socket.
 */
export function connectOption(c: Connector, timeout: number): buildConnector.BuildOptions | buildConnector.connector {
  const tlsFor = tlsOptions(c);
  if (!tlsFor) return { timeout, allowH2: false };
  const anyHost = buildConnector({ timeout, allowH2: false, ...tlsFor('') });
  if (!c.tls?.clientCert) return anyHost;
  const registryHost = new URL(c.upstreamOrigin).hostname;
  const registry = buildConnector({ timeout, allowH2: false, ...tlsFor(registryHost) });
  return (options, callback) => (options.hostname === registryHost ? registry : anyHost)(options, callback);
}

type TlsOptions = { secureContext?: SecureContext; rejectUnauthorized: boolean };

/** The TLS options toward a host name of the connector (the client certificate only for the registry's); undefined: Node's defaults. */
function tlsOptions(c: Connector): ((hostname: string) => TlsOptions) | undefined {
  const tls = c.tls;
  if (!tls) return undefined;
  const ca = tls.ca ? [...defaultCertificates(), tls.ca] : undefined;
  const context = (cert?: { cert: string; key: string }): SecureContext | undefined =>
    ca || cert ? createSecureContext({ ...(ca ? { ca } : {}), ...(cert ? { cert: cert.cert, key: cert.key } : {}) }) : undefined;
  const anyHost = context();
  const registryHost = new URL(c.upstreamOrigin).hostname;
  const registry = tls.clientCert ? context(tls.clientCert) : anyHost;
  return (hostname) => {
    const secureContext = hostname === registryHost ? registry : anyHost;
    return { rejectUnauthorized: !tls.insecureSkipVerify, ...(secureContext ? { secureContext } : {}) };
  };
}

/**
 * Why the registry closed a TLS connection without a word, if TLS says: a bare handshake and one
 * request, waiting up to `timeoutMs` for an answer or an alert. With TLS 1.3 a server that wants
 * a client certificate sends its alert after the client has finished the handshake, and when the
 * client has already written a request the alert is often lost in the reset.
 */
export function handshakeProblem(c: Connector, timeoutMs: number): Promise<string | undefined> {
  const url = new URL(c.upstreamOrigin);
  if (url.protocol !== 'https:') return Promise.resolve(undefined);
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: hostname,
      port: Number(url.port || 443),
      ...(isIP(hostname) ? {} : { servername: hostname }),
      ALPNProtocols: ['http/1.1'],
      ...(tlsOptions(c)?.(url.hostname) ?? {}),
    });
    const done = (code: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('secureConnect', () => socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`));
    socket.once('data', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code));
    socket.once('close', () => done(undefined));
  });
}

const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/** The alerts a server sends when it wants a client certificate it trusts (OpenSSL 1 and 3 spell them differently). */
const CLIENT_CERT_REFUSED = /^ERR_SSL_.*ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|ACCESS_DENIED)$/;

/**
 * A TLS failure in words (`certificate signed by unknown authority`, `certificate has expired`,
 * …), with what to do about it; undefined when `code` is not a TLS failure.
 */
export function tlsProblem(code: string, reason?: string): string | undefined {
  if (UNKNOWN_AUTHORITY.has(code)) return 'presented a certificate signed by unknown authority; trust its CA with spec.caCertSecretRef';
  if (code === 'CERT_HAS_EXPIRED') return 'presented a certificate that has expired';
  if (code === 'CERT_NOT_YET_VALID') return 'presented a certificate that is not yet valid';
  if (code === 'CERT_REVOKED') return 'presented a revoked certificate';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `presented a certificate for another name${reason ? ` (${reason.replace(/\.$/, '')})` : ''}`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return 'does not speak TLS on that port (should the address be http://?)';
  if (CLIENT_CERT_REFUSED.test(code)) return 'refused the TLS handshake: it requires a client certificate it trusts (spec.params clientCertSecret)';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO') return 'failed the TLS handshake';
  return undefined;
}
