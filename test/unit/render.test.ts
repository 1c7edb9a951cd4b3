/** Rendered client configurations parse with a real parser for their format and say the right thing. */
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_FILES, type ConfigurationFile, proxyAddress, renderConfiguration } from '../../src/configurations/render.ts';

const C = { namespace: 'team-a', name: 'harbor' };

describe('proxyAddress', () => {
  it('host mode uses the Service name, with the port only when it is not 80', () => {
    expect(proxyAddress(C, { mode: 'host', proxyHost: 'ignored:1' })).toEqual({
      registry: 'c-harbor.team-a.svc.cluster.local',
      url: 'http://c-harbor.team-a.svc.cluster.local',
      imagePrefix: 'c-harbor.team-a.svc.cluster.local',
      tls: false,
    });
    expect(proxyAddress(C, { mode: 'host', proxyHost: 'ignored:1', servicePort: 5000 }).registry).toBe('c-harbor.team-a.svc.cluster.local:5000');
  });
  it('path mode uses the proxy host and the connector prefix', () => {
    expect(proxyAddress(C, { mode: 'path', proxyHost: 'proxy.tools:5000' })).toEqual({
      registry: 'proxy.tools:5000',
      url: 'http://proxy.tools:5000/namespaces/team-a/connectors/harbor',
      imagePrefix: 'proxy.tools:5000/namespaces/team-a/connectors/harbor',
      tls: false,
    });
  });
});

describe('renderConfiguration', () => {
  const address = proxyAddress(C, { mode: 'host', proxyHost: '', servicePort: 5000 });
  const r = 'c-harbor.team-a.svc.cluster.local:5000';

  it('config.json: auths keyed by the proxy address; the caller credential only when given', () => {
    expect(JSON.parse(renderConfiguration('config.json', address))).toEqual({ auths: { [r]: {} } });
    const withCred = JSON.parse(renderConfiguration('config.json', address, { username: 'sa', password: 'tok"en' }));
    expect(Buffer.from(withCred.auths[r].auth, 'base64').toString()).toBe('sa:tok"en');
  });
  // Each file read back with a real parser for its format.
  const files: [file: ConfigurationFile, says: string, parse: (text: string) => unknown, expected: unknown][] = [
    // the http:// form, which dockerd's builtin BuildKit honours for a name too
    ['daemon.json', 'the proxy address is an insecure registry', JSON.parse, { 'insecure-registries': [`http://${r}`] }],
    [
      'buildkitd.toml',
      'http = true for the proxy address, and the product entitlements',
      parseToml,
      { 'insecure-entitlements': ['network.host', 'security.insecure'], registry: { [r]: { http: true } } },
    ],
    ['hosts.toml', 'containerd talks plain HTTP to the proxy', parseToml, { server: `http://${r}`, host: { [`http://${r}`]: { capabilities: ['pull', 'resolve', 'push'] } } }],
    ['registries.conf', 'the proxy address is insecure', parseToml, { registry: [{ location: r, insecure: true }] }],
  ];
  it.each(files)('%s: %s', (file, _says, parse, expected) => {
    expect(parse(renderConfiguration(file, address))).toEqual(expected);
  });
  it('renders every file it lists', () => {
    for (const f of CONFIGURATION_FILES) expect(renderConfiguration(f, address).length).toBeGreaterThan(10);
  });
});

describe('renderConfiguration for a proxy serving HTTPS (--tls-cert)', () => {
  const address = proxyAddress(C, { mode: 'host', proxyHost: '', tls: true });
  const r = 'c-harbor.team-a.svc.cluster.local';
  it('host mode: https, and the Service port 443 is left out of the name', () => {
    expect(address).toEqual({ registry: r, url: `https://${r}`, imagePrefix: r, tls: true });
    expect(proxyAddress(C, { mode: 'host', proxyHost: '', tls: true, servicePort: 8443 }).registry).toBe(`${r}:8443`);
    expect(proxyAddress(C, { mode: 'path', proxyHost: 'proxy:5443', tls: true }).url).toBe('https://proxy:5443/namespaces/team-a/connectors/harbor');
  });
  const files: [file: ConfigurationFile, says: string, parse: (text: string) => unknown, expected: unknown][] = [
    ['daemon.json', 'nothing: dockerd verifies the proxy with /etc/docker/certs.d/<registry>/ca.crt', JSON.parse, {}],
    [
      'buildkitd.toml',
      'the CA path instead of http = true',
      parseToml,
      { 'insecure-entitlements': ['network.host', 'security.insecure'], registry: { [r]: { ca: [`/etc/buildkit/certs/${r}/ca.crt`] } } },
    ],
    [
      'hosts.toml',
      'https with the CA beside the file',
      parseToml,
      { server: `https://${r}`, host: { [`https://${r}`]: { capabilities: ['pull', 'resolve', 'push'], ca: 'ca.crt' } } },
    ],
    ['registries.conf', 'not insecure', parseToml, { registry: [{ location: r }] }],
  ];
  it.each(files)('%s: %s', (file, _says, parse, expected) => {
    expect(parse(renderConfiguration(file, address))).toEqual(expected);
  });
});
