/** A connector's TLS: read from its Secrets and checked at load time, its failures named, the Kubernetes source's Secret lookups. */
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/connectors/documents.ts';
import { tlsSummary } from '../../src/connectors/tls.ts';
import { parseConfig } from '../../src/sources/file.ts';
import { translate, type KubeObject } from '../../src/sources/kubernetes/translate.ts';
import { tlsProblem } from '../../src/upstream/tls.ts';
import { makePki } from '../helpers/pki.ts';

const FILE = '/etc/ocp/connectors.yaml';
const pki = makePki();
const ca = pki.ca('unit-ca');
const client = ca.issue('unit-client', ['DNS:unit-client']);
const other = ca.issue('other', ['DNS:other']);
afterAll(() => pki.remove());

const block = (pem: string): string => `|\n    ${pem.trim().split('\n').join('\n    ')}`;
const connectorYaml = (spec: string, params = ''): string =>
  `apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: { name: harbor }\nspec:\n  connectorClassName: oci\n  address: https://harbor.example.com\n${spec}${params ? `  params:\n${params}` : ''}`;
const secretYaml = (name: string, data: Record<string, string>, type = 'Opaque'): string =>
  `apiVersion: v1\nkind: Secret\nmetadata: { name: ${name} }\ntype: ${type}\nstringData:\n${Object.entries(data)
    .map(([k, v]) => `  ${k}: ${v.includes('\n') ? block(v) : JSON.stringify(v)}`)
    .join('\n')}\n`;
const file = (...docs: string[]): string => docs.join('---\n');

function errorOf(yaml: string): string {
  try {
    parseConfig(yaml, FILE);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('spec.caCertSecretRef and spec.params clientCertSecret from a file', () => {
  it('reads the CA bundle and the client certificate; /connectors shows subjects and expiry only', () => {
    const [c] = parseConfig(
      file(
        connectorYaml('  caCertSecretRef: { name: company-ca }\n', '    - { name: clientCertSecret, value: robot-cert }\n'),
        secretYaml('company-ca', { 'ca.crt': ca.cert }),
        secretYaml('robot-cert', { 'tls.crt': client.cert, 'tls.key': client.key }, 'kubernetes.io/tls'),
      ),
      FILE,
    ).connectors;
    expect(c!.tls).toEqual({ ca: ca.cert, clientCert: { cert: client.cert, key: client.key }, insecureSkipVerify: false });
    const summary = tlsSummary(c!.tls);
    expect(summary?.caCertificates?.map((x) => x.subject)).toEqual(['CN=unit-ca']);
    expect(summary?.clientCertificate?.subject).toBe('CN=unit-client');
    expect(JSON.stringify(summary)).not.toContain('KEY');
  });

  it('no TLS settings: no tls at all (Node’s trust store)', () => {
    expect(parseConfig(connectorYaml(''), FILE).connectors[0]!.tls).toBeUndefined();
  });

  it.each([
    [
      'a CA Secret not in the file',
      connectorYaml('  caCertSecretRef: { name: missing }\n'),
      /document 1 \(Connector default\/harbor\): spec\.caCertSecretRef: Secret default\/missing is not defined in this file$/,
    ],
    ['caCertSecretRef without a name', connectorYaml('  caCertSecretRef: {}\n'), /spec\.caCertSecretRef\.name: missing$/],
    [
      'a CA Secret without ca.crt',
      file(connectorYaml('  caCertSecretRef: { name: company-ca }\n'), secretYaml('company-ca', { 'tls.crt': client.cert })),
      /document 2 \(Secret default\/company-ca\): data\.ca\.crt: missing/,
    ],
    [
      'a CA bundle that is not PEM',
      file(connectorYaml('  caCertSecretRef: { name: company-ca }\n'), secretYaml('company-ca', { 'ca.crt': 'hello' })),
      /data\.ca\.crt: no PEM certificate/,
    ],
    [
      'a CA bundle with a broken certificate',
      file(
        connectorYaml('  caCertSecretRef: { name: company-ca }\n'),
        secretYaml('company-ca', { 'ca.crt': `${ca.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n` }),
      ),
      /data\.ca\.crt: certificate 2 of 2 does not parse/,
    ],
    [
      'a client certificate Secret without tls.key',
      file(connectorYaml('', '    - { name: clientCertSecret, value: robot-cert }\n'), secretYaml('robot-cert', { 'tls.crt': client.cert })),
      /\(Secret default\/robot-cert\): data\.tls\.key: missing/,
    ],
    [
      'a key that is not the certificate’s',
      file(connectorYaml('', '    - { name: clientCertSecret, value: robot-cert }\n'), secretYaml('robot-cert', { 'tls.crt': client.cert, 'tls.key': other.key })),
      /data\.tls\.key: is not the key of the certificate in .*data\.tls\.crt \(CN=unit-client\)$/,
    ],
    [
      'a key that does not parse',
      file(connectorYaml('', '    - { name: clientCertSecret, value: robot-cert }\n'), secretYaml('robot-cert', { 'tls.crt': client.cert, 'tls.key': 'secret-not-a-key' })),
      /data\.tls\.key: not a PEM private key$/,
    ],
    [
      'insecureSkipTLSVerify not a boolean',
      connectorYaml('', '    - { name: insecureSkipTLSVerify, value: "yes" }\n'),
      /spec\.params\[insecureSkipTLSVerify\]: must be "true" or "false", got "yes"$/,
    ],
    [
      'clientCertSecret not a Secret name',
      connectorYaml('', '    - { name: clientCertSecret, value: "Not/A/Name" }\n'),
      /spec\.params\[clientCertSecret\]: must be the name of a Secret/,
    ],
  ])('%s is a ConfigError naming the field', (_what, yaml, message) => {
    const m = errorOf(yaml);
    expect(m).toMatch(message);
    expect(m).not.toContain('secret-not-a-key');
  });
});

describe('the Kubernetes source: every Secret a Connector names must exist', () => {
  const object = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { namespace: 'team-a', name: 'harbor', generation: 1 },
    spec: { connectorClassName: 'oci', address: 'https://harbor.example.com', ...spec },
  });
  const secret = (name: string, data: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { namespace: 'team-a', name },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });

  it('a missing CA Secret: not served, SecretReady False SecretNotFound naming the field', () => {
    const t = translate(object({ caCertSecretRef: { name: 'company-ca' } }), () => undefined);
    expect(t.connector).toBeUndefined();
    expect(t.secret).toEqual({ type: 'SecretReady', status: 'False', reason: 'SecretNotFound', message: 'secrets "company-ca" not found (spec.caCertSecretRef)' });
  });

  it('an unparsable CA bundle: not served, SecretReady False SecretInvalid', () => {
    const t = translate(object({ caCertSecretRef: { name: 'company-ca' } }), (_ns, n) => (n === 'company-ca' ? secret('company-ca', { 'ca.crt': 'nope' }) : undefined));
    expect(t.connector).toBeUndefined();
    expect(t.secret.reason).toBe('SecretInvalid');
    expect(t.secret.message).toMatch(/Secret team-a\/company-ca: data\.ca\.crt: no PEM certificate/);
  });

  it('the CA and client certificate Secrets present: served with them', () => {
    const secrets: Record<string, KubeObject> = {
      'company-ca': secret('company-ca', { 'ca.crt': ca.cert }),
      'robot-cert': secret('robot-cert', { 'tls.crt': client.cert, 'tls.key': client.key }),
    };
    const t = translate(object({ caCertSecretRef: { name: 'company-ca' }, params: [{ name: 'clientCertSecret', value: 'robot-cert' }] }), (_ns, n) => secrets[n]);
    expect(t.connector?.tls?.ca).toBe(ca.cert);
    expect(t.connector?.tls?.clientCert?.cert).toBe(client.cert);
  });
});

describe('tlsProblem: TLS failures in words', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'presented a certificate signed by unknown authority; trust its CA with spec.caCertSecretRef'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'presented a certificate signed by unknown authority; trust its CA with spec.caCertSecretRef'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'presented a certificate signed by unknown authority; trust its CA with spec.caCertSecretRef'],
    ['CERT_HAS_EXPIRED', 'presented a certificate that has expired'],
    ['CERT_NOT_YET_VALID', 'presented a certificate that is not yet valid'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'presented a certificate for another name'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'does not speak TLS on that port (should the address be http://?)'],
    ['ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE', 'refused the TLS handshake: it requires a client certificate it trusts (spec.params clientCertSecret)'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'refused the TLS handshake: it requires a client certificate it trusts (spec.params clientCertSecret)'],
    ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'failed the TLS handshake'],
  ])('%s: %s', (code, words) => {
    expect(tlsProblem(code)).toBe(words);
  });

  it('names the certificate’s names when Node gives them, and leaves network errors alone', () => {
    expect(tlsProblem('ERR_TLS_CERT_ALTNAME_INVALID', "Host: a.example. is not in the cert's altnames: DNS:b.example")).toBe(
      "presented a certificate for another name (Host: a.example. is not in the cert's altnames: DNS:b.example)",
    );
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'ENOTFOUND']) expect(tlsProblem(code)).toBeUndefined();
  });
});

describe('connectOption: who sees the client certificate', () => {
  it('the registry’s host does; another host of the connector (a storage host it redirects to, a realm elsewhere) does not', async () => {
    const { createServer } = await import('node:https');
    const { Agent } = await import('undici');
    const { connectOption } = await import('../../src/upstream/tls.ts');
    const serverCert = ca.issue('both-names', ['IP:127.0.0.1', 'DNS:localhost']);
    const seen: string[] = [];
    const server = createServer({ cert: serverCert.cert, key: serverCert.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      seen.push(`${req.headers.host?.split(':')[0]} ${peer && 'subject' in peer && peer.subject ? peer.subject.CN : '-'}`);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const connector = { upstreamOrigin: `https://127.0.0.1:${port}`, tls: { ca: ca.cert, clientCert: { cert: client.cert, key: client.key }, insecureSkipVerify: false } };
    const agent = new Agent({ connect: connectOption(connector as never, 5_000) });
    try {
      for (const origin of [`https://127.0.0.1:${port}`, `https://localhost:${port}`]) {
        const res = await agent.request({ origin, path: '/', method: 'GET' });
        await res.body.dump();
      }
      expect(seen).toEqual(['127.0.0.1 unit-client', 'localhost -']);
    } finally {
      await agent.close();
      server.close();
    }
  });
});
