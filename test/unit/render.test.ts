/** Rendered client configurations parse with a real parser for their format and say the right thing. */
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_FILES, type ConfigurationFile, proxyAddress, renderConfiguration } from '../../src/configurations/render.ts';

const C = { namespace: 'team-a', name: 'harbor' };

describe('proxyAddress', () => {
  it('host mode uses the Service name, with the port only when it is not 80', () => {
    expect(proxyAddress(C, 'host', 'ignored:1')).toEqual({
      registry: 'c-harbor.team-a.svc.cluster.local',
      url: 'http://c-harbor.team-a.svc.cluster.local',
      imagePrefix: 'c-harbor.team-a.svc.cluster.local',
    });
    expect(proxyAddress(C, 'host', 'ignored:1', 5000).registry).toBe('c-harbor.team-a.svc.cluster.local:5000');
  });
  it('path mode uses the proxy host and the connector prefix', () => {
    expect(proxyAddress(C, 'path', 'proxy.tools:5000')).toEqual({
      registry: 'proxy.tools:5000',
      url: 'http://proxy.tools:5000/namespaces/team-a/connectors/harbor',
      imagePrefix: 'proxy.tools:5000/namespaces/team-a/connectors/harbor',
    });
  });
});

describe('renderConfiguration', () => {
  const address = proxyAddress(C, 'host', '', 5000);
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
