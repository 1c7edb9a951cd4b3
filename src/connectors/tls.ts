/**
 * A connector's TLS toward its upstream, read from the Secrets it names and checked at load
 * time, so a bad bundle or key is a ConfigError naming the Secret and the key, never a TLS
 * failure on the first request:
 *
 *   spec.caCertSecretRef.name          a Secret (the Connector's namespace) with `ca.crt`: PEM
 *                                      CA certificates trusted besides Node's own
 *   spec.params clientCertSecret       a Secret with `tls.crt` and `tls.key` (a kubernetes.io/tls
 *                                      Secret, as cert-manager writes them): the client
 *                                      certificate shown to the registry's host
 *   spec.params insecureSkipTLSVerify  "true": no certificate check at all (labs only)
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ConfigError } from './documents.ts';

export interface UpstreamTls {
  /** PEM CA certificates trusted besides Node's defaults. */
  ca: string | undefined;
  /** PEM client certificate (chain) and its key, shown to the registry's own host. Never logged. */
  clientCert: { cert: string; key: string } | undefined;
  /** No certificate check toward any host of the connector. */
  insecureSkipVerify: boolean;
}

export const CA_KEY = 'ca.crt';
export const CERT_KEY = 'tls.crt';
export const KEY_KEY = 'tls.key';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle; throws ConfigError naming `where` when there are none or one does not parse. */
export function pemCertificates(pem: string, where: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${where}: no PEM certificate (-----BEGIN CERTIFICATE-----) found`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new ConfigError(`${where}: certificate ${i + 1} of ${blocks.length} does not parse (${(err as Error).message})`);
    }
  });
}

/** A CA bundle as trusted: every certificate parses. */
export function checkCaBundle(pem: string, where: string): string {
  pemCertificates(pem, where);
  return pem;
}

/** A certificate and its key (a client certificate, the listener's): both parse and the key is the certificate's. */
export function checkKeyPair(cert: string, key: string, where: { cert: string; key: string }): { cert: string; key: string } {
  const [leaf] = pemCertificates(cert, where.cert);
  let keyObject: ReturnType<typeof createPrivateKey>;
  try {
    keyObject = createPrivateKey(key);
  } catch {
    // The key's own text never goes into a message.
    throw new ConfigError(`${where.key}: not a PEM private key`);
  }
  if (!leaf!.checkPrivateKey(keyObject)) throw new ConfigError(`${where.key}: is not the key of the certificate in ${where.cert} (${leaf!.subject.replace(/\n/g, ', ')})`);
  return { cert, key };
}

/** What `/connectors` shows of a connector's TLS: certificate subjects and expiry, never a key. */
export interface TlsSummary {
  caCertificates?: { subject: string; notAfter: string }[];
  clientCertificate?: { subject: string; notAfter: string };
  insecureSkipTLSVerify?: true;
}

export const described = (x: X509Certificate): { subject: string; notAfter: string } => ({
  subject: x.subject.replace(/\n/g, ', '),
  notAfter: new Date(x.validTo).toISOString(),
});

export function tlsSummary(tls: UpstreamTls | undefined): TlsSummary | undefined {
  if (!tls) return undefined;
  return {
    ...(tls.ca ? { caCertificates: pemCertificates(tls.ca, CA_KEY).map(described) } : {}),
    ...(tls.clientCert ? { clientCertificate: described(pemCertificates(tls.clientCert.cert, CERT_KEY)[0]!) } : {}),
    ...(tls.insecureSkipVerify ? { insecureSkipTLSVerify: true as const } : {}),
  };
}
