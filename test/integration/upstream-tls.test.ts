/**
 * TLS toward upstreams, end to end with the CLI and real parts: a distribution registry on HTTPS
 * with a certificate from a CA the test makes, its token server on HTTPS with the same CA, and a
 * registry that requires client certificates (http.tls.clientcas). skopeo pushes and pulls
 * through connectors that trust the CA by spec.caCertSecretRef; a connector without it, with a
 * CA Secret rotated in the file, without its client certificate, or facing an expired or
 * misnamed certificate says what failed and where.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { makeImage, writeLayout } from '../helpers/oci.ts';
import { type Issued, makePki, type Pki } from '../helpers/pki.ts';
import { waitFor } from '../helpers/ports.ts';
import { type ProxyProcess, spawnProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { skopeo } from '../helpers/tools.ts';

const USER = { username: 'tls-robot', password: `Tls-Pa55-${randomBytes(8).toString('hex')}` };
const WAIT_MS = 20_000;
let pki: Pki;
let trustedCa: string;
let otherCa: string;
let clientCert: Issued;
let ts: TokenServer;
let registry: Registry; // HTTPS, token auth
let mtlsRegistry: Registry; // HTTPS, client certificates required
const fakes: Server[] = []; // HTTPS servers with an expired and a misnamed certificate
let expiredPort: number;
let misnamedPort: number;
let proxy: ProxyProcess;
let dir: string;
let configFile: string;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

const indent = (pem: string, by: string): string => pem.trim().split('\n').join(`\n${by}`);

function connector(name: string, address: string, o: { secret?: boolean; ca?: string; clientCert?: string; params?: Record<string, string> } = {}): string {
  const params = Object.entries({ ...(o.clientCert ? { clientCertSecret: o.clientCert } : {}), ...o.params });
  return `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata: { name: ${name}, namespace: default }
spec:
  connectorClassName: oci
  address: ${address}
${o.ca ? `  caCertSecretRef: { name: ${o.ca} }\n` : ''}${params.length ? `  params:\n${params.map(([k, v]) => `    - { name: ${k}, value: "${v}" }`).join('\n')}\n` : ''}  auth:
    name: tokenAuth
    params: [{ name: repository, value: team/app }]
${o.secret ? '    secretRef: { name: creds }\n' : ''}`;
}

const caSecret = (name: string, pem: string): string => `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: default }
stringData:
  ca.crt: |
    ${indent(pem, '    ')}
`;

function configYaml(rotatingCa: string): string {
  const docs = [
    connector('trusted', registry.url, { secret: true, ca: 'company-ca' }),
    connector('untrusted', registry.url, { secret: true }),
    connector('rotated', registry.url, { secret: true, ca: 'rotating-ca' }),
    connector('mtls', mtlsRegistry.url, { ca: 'company-ca', clientCert: 'client-cert' }),
    connector('nocert', mtlsRegistry.url, { ca: 'company-ca' }),
    connector('expired', `https://127.0.0.1:${expiredPort}`, { ca: 'company-ca' }),
    connector('misnamed', `https://127.0.0.1:${misnamedPort}`, { ca: 'company-ca' }),
    connector('lab', `https://127.0.0.1:${misnamedPort}`, { params: { insecureSkipTLSVerify: 'true' } }),
    `apiVersion: v1\nkind: Secret\nmetadata: { name: creds, namespace: default }\ntype: cpaas.io/distribution-registry-token\nstringData: { username: ${USER.username}, password: ${USER.password} }\n`,
    caSecret('company-ca', trustedCa),
    caSecret('rotating-ca', rotatingCa),
    `apiVersion: v1\nkind: Secret\nmetadata: { name: client-cert, namespace: default }\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n    ${indent(clientCert.cert, '    ')}\n  tls.key: |\n    ${indent(clientCert.key, '    ')}\n`,
  ];
  return docs.join('---\n');
}

/** An HTTPS server with `cert` that answers 200 to everything (a registry's /v2/ ping). */
async function fakeRegistry(cert: Issued): Promise<number> {
  const server = createServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
    res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fakes.push(server);
  return (server.address() as { port: number }).port;
}

async function conditions(name: string): Promise<Condition[]> {
  const res = await fetch(`${proxy.url}/connectors/default/${name}`);
  return ((await res.json()) as { status: { conditions: Condition[] } }).status.conditions;
}

async function checked(name: string, type: string): Promise<Condition> {
  let found: Condition | undefined;
  await waitFor(
    `${name} ${type} checked`,
    async () => {
      found = (await conditions(name)).find((c) => c.type === type);
      return found !== undefined && found.status !== 'Unknown';
    },
    WAIT_MS,
  );
  return found!;
}

/** A manifest HEAD through the connector: status and the error message, if any. */
async function head(name: string): Promise<{ status: number; message: string }> {
  const res = await fetch(`${proxy.url}/v2/namespaces/default/connectors/${name}/team/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const get = res.status === 200 ? undefined : await fetch(`${proxy.url}/v2/namespaces/default/connectors/${name}/team/app/manifests/v1`);
  const message = get ? ((await get.json()) as { errors: { message: string }[] }).errors[0]!.message : '';
  return { status: res.status, message };
}

beforeAll(async () => {
  pki = makePki();
  const ca = pki.ca('ocp-company-ca');
  const other = pki.ca('ocp-other-ca');
  trustedCa = ca.cert;
  otherCa = other.cert;
  const serverCert = ca.issue('registry', ['IP:127.0.0.1', 'DNS:localhost']);
  clientCert = ca.issue('proxy-client', ['DNS:proxy-client']);
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } }, tls: serverCert });
  [registry, mtlsRegistry] = await Promise.all([
    startRegistry({ extraConfig: ts.registryConfig(), readyStatus: 401, tls: serverCert }),
    startRegistry({ tls: { ...serverCert, clientCas: ca.certPath, client: clientCert } }),
  ]);
  expiredPort = await fakeRegistry(ca.issue('expired', ['IP:127.0.0.1'], { expired: true }));
  misnamedPort = await fakeRegistry(ca.issue('elsewhere', ['DNS:elsewhere.example']));
  dir = mkdtempSync(join(tmpdir(), 'ocp-upstream-tls-'));
  configFile = join(dir, 'connectors.yaml');
  writeFileSync(configFile, configYaml(otherCa));
  proxy = await spawnProxy(['--config', configFile, '--health-interval', '0', '--log-level', 'info']);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([registry?.stop(), mtlsRegistry?.stop(), ts?.stop()]);
  for (const f of fakes) f.close();
  pki?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
  // No key or password in what the proxy said.
  for (const secret of [USER.password, clientCert.key.split('\n')[1]!]) expect(proxy.output()).not.toContain(secret);
});

describe('spec.caCertSecretRef', () => {
  it('skopeo pushes and pulls through a connector that trusts the registry’s CA (registry and token server on HTTPS)', async () => {
    const image = makeImage('amd64', [60_000]);
    const layout = writeLayout([image], 'v1');
    try {
      const target = `docker://${proxy.host}/namespaces/default/connectors/trusted/team/app:v1`;
      const push = await skopeo(['copy', '--dest-tls-verify=false', layout.ref, target]);
      expect(push.code, push.stderr).toBe(0);
      const inspect = await skopeo(['inspect', '--raw', '--tls-verify=false', target]);
      expect(inspect.code, inspect.stderr).toBe(0);
      expect(inspect.stdout).toBe(image.manifest.toString());
    } finally {
      rmSync(layout.dir, { recursive: true, force: true });
    }
    expect((await checked('trusted', 'LivenessReady')).status).toBe('True');
  });

  it('without it: LivenessReady and AuthReady say "certificate signed by unknown authority" naming the host, and the client gets a 502 that says so', async () => {
    const host = new URL(registry.url).host;
    const liveness = await checked('untrusted', 'LivenessReady');
    expect(liveness.status).toBe('False');
    expect(liveness.message).toContain(`${host} presented a certificate signed by unknown authority`);
    const auth = await checked('untrusted', 'AuthReady');
    expect([auth.status, auth.reason]).toEqual(['False', 'ConnectionFailed']);
    const r = await head('untrusted');
    expect(r.status).toBe(502);
    expect(r.message).toBe(
      `connector default/untrusted: upstream ${host} presented a certificate signed by unknown authority; trust its CA with spec.caCertSecretRef (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
    );
  });

  it('a CA Secret rotated in the file switches a connector from failing to working, without a restart', async () => {
    expect((await head('rotated')).status).toBe(502);
    expect((await checked('rotated', 'LivenessReady')).status).toBe('False');
    writeFileSync(configFile, configYaml(trustedCa));
    await waitFor('the rotated CA to apply', async () => (await head('rotated')).status === 200, WAIT_MS);
    await waitFor('rotated to turn Ready', async () => (await conditions('rotated')).find((c) => c.type === 'Ready')?.status === 'True', WAIT_MS);
  });

  it('/connectors shows the trusted CA certificates (subject, expiry), never key material', async () => {
    const res = await fetch(`${proxy.url}/connectors/default/mtls`);
    const body = await res.text();
    const tls = (JSON.parse(body) as { status: { tls: { caCertificates: { subject: string }[]; clientCertificate: { subject: string } } } }).status.tls;
    expect(tls.caCertificates.map((c) => c.subject)).toEqual(['CN=ocp-company-ca']);
    expect(tls.clientCertificate.subject).toBe('CN=proxy-client');
    expect(body).not.toContain('PRIVATE KEY');
  });
});

describe('client certificates (spec.params clientCertSecret)', () => {
  it('a registry that requires one works with the connector’s, and refuses a connector without', async () => {
    const image = makeImage('amd64', [20_000]);
    const layout = writeLayout([image], 'v1');
    try {
      const push = await skopeo(['copy', '--dest-tls-verify=false', layout.ref, `docker://${proxy.host}/namespaces/default/connectors/mtls/team/app:v1`]);
      expect(push.code, push.stderr).toBe(0);
    } finally {
      rmSync(layout.dir, { recursive: true, force: true });
    }
    expect((await head('mtls')).status).toBe(200);
    // The health condition names the problem; TLS 1.3 sends the server's alert after the client's
    // handshake is done, so a request already written may see only the reset.
    const host = new URL(mtlsRegistry.url).host;
    const liveness = await checked('nocert', 'LivenessReady');
    expect(liveness.message).toMatch(
      new RegExp(
        `^Get "https://${host}/v2/": tls: ${host} refused the TLS handshake: it requires a client certificate it trusts \\(spec.params clientCertSecret\\) \\(ERR_SSL_.*ALERT_BAD_CERTIFICATE\\)$`,
      ),
    );
    const refused = await head('nocert');
    expect(refused.status).toBe(502);
    expect(refused.message).toMatch(new RegExp(`^connector default/nocert: upstream ${host} (refused the TLS handshake: it requires a client certificate|closed the connection)`));
  });
});

describe('TLS failures named', () => {
  it.each([
    ['expired', 'presented a certificate that has expired (CERT_HAS_EXPIRED)'],
    ['misnamed', "presented a certificate for another name (IP: 127.0.0.1 is not in the cert's list: ) (ERR_TLS_CERT_ALTNAME_INVALID)"],
  ])('%s: the condition and the client error say what is wrong with which host', async (name, words) => {
    const port = name === 'expired' ? expiredPort : misnamedPort;
    const liveness = await checked(name, 'LivenessReady');
    expect(liveness.message).toBe(`Get "https://127.0.0.1:${port}/v2/": tls: 127.0.0.1:${port} ${words}`);
    const r = await head(name);
    expect([r.status, r.message]).toEqual([502, `connector default/${name}: upstream 127.0.0.1:${port} ${words}`]);
  });

  it('insecureSkipTLSVerify: "true" skips the check, says so loudly at start-up, and shows in /connectors', async () => {
    expect((await checked('lab', 'LivenessReady')).status).toBe('True');
    const view = (await (await fetch(`${proxy.url}/connectors/default/lab`)).json()) as { status: { tls: { insecureSkipTLSVerify?: boolean } } };
    expect(view.status.tls.insecureSkipTLSVerify).toBe(true);
    expect(proxy.output()).toMatch(/"connector":"default\/lab".*"msg":"spec.params insecureSkipTLSVerify: upstream certificates are NOT checked/);
  });
});

describe('bad TLS material is a start-up error naming the Secret and the key', () => {
  const tlsSecret = (cert: string, key: string): string =>
    `apiVersion: v1\nkind: Secret\nmetadata: { name: client-cert, namespace: default }\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n    ${indent(cert, '    ')}\n  tls.key: |\n    ${indent(key, '    ')}\n`;

  /** main() on a file with the mtls connector and these Secrets: the exit code and what it printed. */
  async function start(secrets: string[]): Promise<{ code: number | undefined; stderr: string }> {
    const file = join(dir, `bad-${randomBytes(4).toString('hex')}.yaml`);
    writeFileSync(file, [connector('mtls', 'https://127.0.0.1:1', { ca: 'company-ca', clientCert: 'client-cert' }), ...secrets].join('---\n'));
    const err: string[] = [];
    const code = await main(['--config', file, '--listen', '127.0.0.1:0'], {}, { stdout: () => undefined, stderr: (t) => err.push(t) });
    return { code, stderr: err.join('') };
  }

  it('a CA bundle with no certificate in it', async () => {
    const r = await start([caSecret('company-ca', 'not a certificate'), tlsSecret(clientCert.cert, clientCert.key)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/document 2 \(Secret default\/company-ca\): data\.ca\.crt: no PEM certificate/);
  });

  it('a client key that is not the certificate’s (the key itself is never quoted)', async () => {
    const stranger = pki.ca('ocp-stranger-ca').issue('stranger', ['DNS:stranger']);
    const r = await start([caSecret('company-ca', trustedCa), tlsSecret(clientCert.cert, stranger.key)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/document 3 \(Secret default\/client-cert\): data\.tls\.key: is not the key of the certificate in .*data\.tls\.crt \(CN=proxy-client\)/);
    expect(r.stderr).not.toContain('PRIVATE KEY');
  });
});
