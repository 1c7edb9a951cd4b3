/**
 * HTTPS on the proxy's own listener (--tls-cert, --tls-key), with the CLI and real clients:
 * skopeo verifying the proxy with the CA in a --cert-dir, dockerd with the CA in its certs.d and
 * no insecure-registries entry, containerd with the rendered hosts.toml; a certificate swapped
 * on disk goes to new connections without a restart (open ones keep theirs), a broken swap is
 * rejected, and the health command asks over HTTPS.
 */
import type { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHealth } from '../../src/cli/health.ts';
import { addDockerCa, addHosts, type Containerd, type Dockerd, startContainerd, startDockerd } from '../helpers/engines.ts';
import { makeImage, writeLayout } from '../helpers/oci.ts';
import { type Ca, makePki, type Pki } from '../helpers/pki.ts';
import { waitFor } from '../helpers/ports.ts';
import { type ProxyProcess, spawnProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';
import { skopeo } from '../helpers/tools.ts';

const NAME = 'proxy.tls.ocp.test';
const stops: (() => unknown)[] = [];
let pki: Pki;
let ca: Ca;
let registry: Registry;
let proxy: ProxyProcess;
let dir: string;
let certDir: string; // the CA as skopeo's --cert-dir wants it
let files: { cert: string; key: string };
let address: string; // NAME:port
const image = makeImage('amd64', [40_000, 1_000]);

/** Writes a certificate and key over the served files the way cert-manager's volume does: new files renamed into place. */
function install(issued: { cert: string; key: string }): void {
  for (const [file, text] of [
    [files.cert, issued.cert],
    [files.key, issued.key],
  ] as const) {
    writeFileSync(`${file}.new`, text);
    renameSync(`${file}.new`, file);
  }
}

/** The certificate a new TLS connection to the proxy is shown. */
function served(): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: Number(address.split(':')[1]), servername: NAME, ca: ca.cert }, () => {
      const raw = s.getPeerX509Certificate();
      s.destroy();
      if (raw) resolve(raw);
      else reject(new Error('no peer certificate'));
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  stops.push(addHosts([NAME]));
  pki = makePki();
  stops.push(() => pki.remove());
  ca = pki.ca('ocp-listener-ca');
  registry = await startRegistry();
  stops.push(() => registry.stop());
  dir = mkdtempSync(join(tmpdir(), 'ocp-listener-tls-'));
  stops.push(() => rmSync(dir, { recursive: true, force: true }));
  files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
  install(ca.issue('proxy-first', ['IP:127.0.0.1', `DNS:${NAME}`]));
  certDir = join(dir, 'certs');
  mkdirSync(certDir);
  writeFileSync(join(certDir, 'ca.crt'), ca.cert);
  proxy = await spawnProxy(['--upstream', registry.url, '--tls-cert', files.cert, '--tls-key', files.key, '--log-level', 'info'], {}, { ca: ca.cert });
  stops.push(() => proxy.stop());
  address = `${NAME}:${proxy.host.split(':')[1]}`;
  const layout = writeLayout([image], 'v1');
  stops.push(() => rmSync(layout.dir, { recursive: true, force: true }));
  const push = await skopeo(['copy', '--dest-cert-dir', certDir, layout.ref, `docker://${address}/team/app:v1`]);
  expect(push.code, push.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  for (const s of stops.reverse()) await Promise.resolve(s()).catch(() => undefined);
});

describe('the proxy serving HTTPS', () => {
  it('skopeo verifies it with the CA (pushed above with --dest-cert-dir, no --tls-verify=false) and refuses it without', async () => {
    const out = mkdtempSync(join(tmpdir(), 'ocp-listener-pull-'));
    try {
      const pull = await skopeo(['copy', '--src-cert-dir', certDir, `docker://${address}/team/app:v1`, `oci:${out}:v1`]);
      expect(pull.code, pull.stderr).toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    const refused = await skopeo(['inspect', `docker://${address}/team/app:v1`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/x509: certificate signed by unknown authority/);
  });

  it('upload Locations it hands out say https, and plain HTTP on the port gets no answer', async () => {
    const dispatcher = new Agent({ connect: { ca: ca.cert } });
    try {
      const res = await request(`https://127.0.0.1:${proxy.host.split(':')[1]}/v2/team/app/blobs/uploads/`, { method: 'POST', dispatcher, headers: { host: address } });
      await res.body.dump();
      expect(res.statusCode).toBe(202);
      expect(String(res.headers['location'])).toMatch(new RegExp(`^https://${address.replace(/\./g, '\\.')}/v2/team/app/blobs/uploads/`));
    } finally {
      await dispatcher.close();
    }
    const plain = await fetch(`http://${proxy.host}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
  });

  it('the rendered files follow: daemon.json has no insecure entry, hosts.toml is https with the CA, registries.conf is not insecure', async () => {
    const dispatcher = new Agent({ connect: { ca: ca.cert } });
    const file = async (name: string): Promise<string> => {
      const res = await request(`https://127.0.0.1:${proxy.host.split(':')[1]}/connectors/default/upstream/configurations/${name}`, { dispatcher, headers: { host: address } });
      return res.body.text();
    };
    try {
      expect(JSON.parse(await file('daemon.json'))).toEqual({});
      expect(await file('hosts.toml')).toBe(`server = "https://${address}"\n\n[host."https://${address}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "ca.crt"\n`);
      expect(await file('registries.conf')).toBe(`[[registry]]\nlocation = "${address}"\n`);
    } finally {
      await dispatcher.close();
    }
  });

  it('the health command asks over HTTPS when OCP_TLS_CERT is set', async () => {
    const out: string[] = [];
    const code = await runHealth([], { OCP_LISTEN: proxy.host, OCP_TLS_CERT: files.cert }, { stdout: (t) => out.push(t), stderr: (t) => out.push(t) });
    expect([code, out.join('')]).toEqual([0, `https://${proxy.host}/healthz: 200\n`]);
  });
});

describe('engines against the HTTPS proxy', () => {
  let dockerd: Dockerd;
  let containerd: Containerd;
  beforeAll(async () => {
    stops.push(addDockerCa(address, ca.cert));
    dockerd = await startDockerd(mkdtempSync(join(tmpdir(), 'ocp-listener-dockerd-')), {});
    stops.push(() => dockerd.stop());
    containerd = await startContainerd(mkdtempSync(join(tmpdir(), 'ocp-listener-containerd-')));
    stops.push(() => containerd.stop());
  }, 90_000);

  it('dockerd pulls and pushes with the CA in /etc/docker/certs.d and no insecure-registries entry', async () => {
    const pull = await dockerd.docker(['pull', `${address}/team/app:v1`]);
    expect(pull.code, pull.stderr).toBe(0);
    expect((await dockerd.docker(['tag', `${address}/team/app:v1`, `${address}/team/docker:v1`])).code).toBe(0);
    const push = await dockerd.docker(['push', `${address}/team/docker:v1`]);
    expect(push.code, push.stderr).toBe(0);
  });

  it('containerd pulls with the rendered hosts.toml and the CA beside it', async () => {
    const hostsDir = mkdtempSync(join(tmpdir(), 'ocp-listener-certsd-'));
    stops.push(() => rmSync(hostsDir, { recursive: true, force: true }));
    const { renderConfiguration, proxyAddress } = await import('../../src/configurations/render.ts');
    const hostDir = join(hostsDir, address);
    mkdirSync(hostDir);
    writeFileSync(
      join(hostDir, 'hosts.toml'),
      renderConfiguration('hosts.toml', proxyAddress({ namespace: 'default', name: 'upstream' }, { mode: 'path', proxyHost: address, tls: true })),
    );
    writeFileSync(join(hostDir, 'ca.crt'), ca.cert);
    const pull = await containerd.ctr(['images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, `${address}/team/app:v1`]);
    expect(pull.code, pull.stderr + pull.stdout).toBe(0);
  });
});

describe('certificate rotation on disk', () => {
  it('a new certificate goes to new connections without a restart; a connection already open keeps working', async () => {
    const dispatcher = new Agent({ connect: { ca: ca.cert, servername: NAME }, keepAliveTimeout: 60_000 });
    const origin = `https://127.0.0.1:${proxy.host.split(':')[1]}`;
    try {
      const before = await request(`${origin}/healthz`, { dispatcher });
      await before.body.dump();
      expect((await served()).subject).toBe('CN=proxy-first');
      install(ca.issue('proxy-second', ['IP:127.0.0.1', `DNS:${NAME}`]));
      await waitFor('the new certificate on new connections', async () => (await served()).subject === 'CN=proxy-second', 15_000);
      const after = await request(`${origin}/healthz`, { dispatcher }); // the kept-alive connection
      await after.body.dump();
      expect(after.statusCode).toBe(200);
      await waitFor('the reload logged', async () => /"subject":"CN=proxy-second".*"msg":"listener certificate reloaded"/.test(proxy.output()), 5_000);
    } finally {
      await dispatcher.close();
    }
  });

  it('a certificate whose key does not match is rejected and logged; the last good one keeps being served', async () => {
    const stranger = ca.issue('proxy-broken', ['IP:127.0.0.1']);
    const good = (await served()).subject;
    writeFileSync(`${files.cert}.new`, stranger.cert);
    renameSync(`${files.cert}.new`, files.cert); // the key file stays the old one
    await waitFor('the rejection', async () => proxy.output().includes('listener certificate change rejected'), 15_000);
    expect(proxy.output()).toMatch(/"err":"--tls-key [^"]+: is not the key of the certificate in --tls-cert [^"]+ \(CN=proxy-broken\)"/);
    expect((await served()).subject).toBe(good);
  });
});
