/** Mirror configurations and the `?ns=` lookup: which connector serves a registry, and what each runtime's file says. */
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { mirrorsOf, renderMirror } from '../../src/configurations/mirrors.ts';
import { ConnectorSet } from '../../src/connectors/set.ts';
import { connectorFor } from '../helpers/connectors.ts';

const hub = connectorFor('https://docker.io', { namespace: 'infra', name: 'hub' });
const harbor = connectorFor('https://harbor.example.com:8443', { namespace: 'team', name: 'harbor' });
const creds = { username: 'ci', password: 'proxy-token-0123456789' };
const b64 = Buffer.from('ci:proxy-token-0123456789').toString('base64');

describe('the ns lookup', () => {
  const client = (c: typeof hub) => ({ connector: c, key: `${c.namespace}/${c.name}`, retire: async () => {}, close: async () => {} });
  const set = (...cs: (typeof hub)[]) => new ConnectorSet(cs, client);
  it.each([
    ['docker.io', ['infra/hub']],
    ['registry-1.docker.io', ['infra/hub']],
    ['INDEX.DOCKER.IO', ['infra/hub']],
    ['harbor.example.com:8443', ['team/harbor']],
    ['harbor.example.com', []],
    ['quay.io', []],
  ])('%s → %j', (ns, keys) => {
    expect(
      set(hub, harbor)
        .forRegistry(ns)
        .map((c) => c.key),
    ).toEqual(keys);
  });

  it('several connectors for one registry: those naming it in mirrorFor win; a mirrorFor stand-in serves a registry it does not dial', () => {
    const other = connectorFor('https://docker.io', { namespace: 'infra', name: 'hub-2' });
    expect(
      set(hub, other)
        .forRegistry('docker.io')
        .map((c) => c.key),
    ).toEqual(['infra/hub', 'infra/hub-2']);
    const marked = { ...other, params: { mirrorFor: 'docker.io' } };
    expect(
      set(hub, marked)
        .forRegistry('docker.io')
        .map((c) => c.key),
    ).toEqual(['infra/hub-2']);
    const standIn = connectorFor('http://127.0.0.1:5001', { name: 'local-hub', params: { mirrorFor: 'docker.io, quay.io' } });
    expect(
      set(standIn)
        .forRegistry('quay.io')
        .map((c) => c.key),
    ).toEqual(['default/local-hub']);
    expect(
      set(standIn)
        .forRegistry('127.0.0.1:5001')
        .map((c) => c.key),
    ).toEqual(['default/local-hub']);
  });
});

describe('mirror files', () => {
  const [hubPath] = mirrorsOf(hub, { mode: 'path', proxyHost: 'proxy.tools:5000', servicePort: 5000 });
  const [harborHost] = mirrorsOf(harbor, { mode: 'host', proxyHost: 'ignored', servicePort: 5000 });

  it('mirror-hosts.toml: the proxy in front of the registry itself, pull and resolve only; path mode names /v2 itself; the token as a header', () => {
    expect(parseToml(renderMirror('mirror-hosts.toml', hubPath!, creds))).toEqual({
      server: 'https://registry-1.docker.io',
      host: {
        'http://proxy.tools:5000/v2/namespaces/infra/connectors/hub': {
          capabilities: ['pull', 'resolve'],
          dial_timeout: '2s',
          override_path: true,
          header: { Authorization: [`Basic ${b64}`] },
        },
      },
    });
    expect(parseToml(renderMirror('mirror-hosts.toml', harborHost!))).toEqual({
      server: 'https://harbor.example.com:8443',
      host: { 'http://c-harbor.team.svc.cluster.local:5000': { capabilities: ['pull', 'resolve'], dial_timeout: '2s' } },
    });
  });

  it('mirror-registries.conf: the registry by its own name, the proxy as its insecure mirror', () => {
    expect(parseToml(renderMirror('mirror-registries.conf', hubPath!))).toEqual({
      registry: [{ prefix: 'docker.io', location: 'docker.io', mirror: [{ location: 'proxy.tools:5000/namespaces/infra/connectors/hub', insecure: true }] }],
    });
  });

  it('mirror-daemon.json and mirror-buildkitd.toml: Docker Hub only, at the root address (the Service name)', () => {
    expect(JSON.parse(renderMirror('mirror-daemon.json', hubPath!))).toEqual({
      'registry-mirrors': ['http://c-hub.infra.svc.cluster.local:5000'],
      'insecure-registries': ['http://c-hub.infra.svc.cluster.local:5000'],
    });
    expect(parseToml(renderMirror('mirror-buildkitd.toml', hubPath!))).toEqual({
      registry: { 'docker.io': { mirrors: ['c-hub.infra.svc.cluster.local:5000'] }, 'c-hub.infra.svc.cluster.local:5000': { http: true } },
    });
    expect(() => renderMirror('mirror-daemon.json', harborHost!)).toThrow('dockerd and BuildKit use mirrors only for Docker Hub');
  });

  it('mirror-config.json: the token under the key dockerd sends to a Docker Hub mirror, and the mirror itself', () => {
    expect(JSON.parse(renderMirror('mirror-config.json', hubPath!, creds))).toEqual({
      auths: { 'https://index.docker.io/v1/': { auth: b64 }, 'c-hub.infra.svc.cluster.local:5000': { auth: b64 } },
    });
  });
});

describe('mirror files for a proxy serving HTTPS', () => {
  const [hub443] = mirrorsOf(hub, { mode: 'path', proxyHost: 'proxy.tools:5443', tls: true });
  it('mirror-hosts.toml: https with the proxy CA beside the file, under a name of its own', () => {
    expect(parseToml(renderMirror('mirror-hosts.toml', hub443!))).toEqual({
      server: 'https://registry-1.docker.io',
      host: { 'https://proxy.tools:5443/v2/namespaces/infra/connectors/hub': { capabilities: ['pull', 'resolve'], dial_timeout: '2s', override_path: true, ca: 'proxy-ca.crt' } },
    });
  });
  it('mirror-registries.conf drops insecure; mirror-daemon.json has no insecure entry; mirror-buildkitd.toml names the CA', () => {
    expect(parseToml(renderMirror('mirror-registries.conf', hub443!))).toEqual({
      registry: [{ prefix: 'docker.io', location: 'docker.io', mirror: [{ location: 'proxy.tools:5443/namespaces/infra/connectors/hub' }] }],
    });
    expect(JSON.parse(renderMirror('mirror-daemon.json', hub443!))).toEqual({ 'registry-mirrors': ['https://c-hub.infra.svc.cluster.local'] });
    expect(parseToml(renderMirror('mirror-buildkitd.toml', hub443!))).toEqual({
      registry: {
        'docker.io': { mirrors: ['c-hub.infra.svc.cluster.local'] },
        'c-hub.infra.svc.cluster.local': { ca: ['/etc/buildkit/certs/c-hub.infra.svc.cluster.local/ca.crt'] },
      },
    });
  });
});
