/** Token realm trust: where a connector's credentials may go. */
import { describe, expect, it } from 'vitest';
import { realmProblem, registrableDomain } from '../../src/upstream/trust.ts';

const foreign = (host: string): string => `token realm host ${host} is not the registry's host or domain (allow it with the connector parameter allowedRealmHosts)`;
const downgrade = (host: string): string => `token realm ${host} is plain http while the registry is https`;

describe('realmProblem', () => {
  const cases: [what: string, realm: string, upstream: string, allowed: string[], expected: string | null][] = [
    // same host
    ['same host, same port', 'https://registry.example.com/token', 'https://registry.example.com', [], null],
    ['same host, other port', 'https://registry.example.com:5001/token', 'https://registry.example.com', [], null],
    ['same host, upstream on a port', 'https://registry.example.com/token', 'https://registry.example.com:8443', [], null],
    ['same host, http registry and http realm', 'http://registry.local:5001/token', 'http://registry.local:5000', [], null],
    ['same host, https realm for an http registry', 'https://registry.local/token', 'http://registry.local:5000', [], null],
    ['host names compare case-insensitively', 'https://Registry.Example.COM/token', 'https://registry.example.com', [], null],
    ['realm with a query string', 'https://registry.example.com/token?x=1', 'https://registry.example.com', [], null],
    // same registrable domain
    ['Docker Hub: registry-1.docker.io and auth.docker.io', 'https://auth.docker.io/token', 'https://registry-1.docker.io', [], null],
    ['sibling subdomains', 'https://auth.example.com/token', 'https://registry.example.com', [], null],
    ['realm on the apex domain', 'https://example.com/token', 'https://registry.example.com', [], null],
    ['multi-label public suffix (co.uk)', 'https://auth.example.co.uk/token', 'https://registry.example.co.uk', [], null],
    ['GitLab: registry.gitlab.com and gitlab.com', 'https://gitlab.com/jwt/auth', 'https://registry.gitlab.com', [], null],
    ['ECR: realm on the registry host', 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com/', 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com', [], null],
    // foreign domains
    ['foreign domain', 'https://evil.example.net/token', 'https://registry.example.com', [], foreign('evil.example.net')],
    ['look-alike suffix', 'https://auth.docker.io.evil.com/token', 'https://registry-1.docker.io', [], foreign('auth.docker.io.evil.com')],
    ['look-alike prefix', 'https://evildocker.io/token', 'https://registry-1.docker.io', [], foreign('evildocker.io')],
    ['same label, other public suffix', 'https://auth.example.org/token', 'https://registry.example.com', [], foreign('auth.example.org')],
    ['other co.uk domain', 'https://auth.other.co.uk/token', 'https://registry.example.co.uk', [], foreign('auth.other.co.uk')],
    // public-suffix traps: private suffixes are suffixes too
    ['github.io: a.github.io vs b.github.io', 'https://b.github.io/token', 'https://a.github.io', [], foreign('b.github.io')],
    ['github.io: the suffix itself', 'https://github.io/token', 'https://a.github.io', [], foreign('github.io')],
    ['github.io: from the suffix to a tenant', 'https://evil.github.io/token', 'https://github.io', [], foreign('evil.github.io')],
    // azurecr.io is not on the public suffix list: ACR tenants share the registrable domain
    // azurecr.io, so the PSL rule lets another tenant's host be a realm (the realm comes from
    // the upstream's own challenge, which Microsoft operates)
    ['azurecr.io is not a public suffix: other tenant accepted', 'https://y.azurecr.io/oauth2/token', 'https://x.azurecr.io', [], null],
    ['the bare public suffix co.uk', 'https://co.uk/token', 'https://registry.example.co.uk', [], foreign('co.uk')],
    ['single-label hosts', 'http://auth/token', 'http://registry:5000', [], foreign('auth')],
    // downgrade
    ['https registry, http realm on the same host', 'http://registry.example.com/token', 'https://registry.example.com', [], downgrade('registry.example.com')],
    ['https registry, http realm on another port', 'http://registry.example.com:5001/token', 'https://registry.example.com', [], downgrade('registry.example.com:5001')],
    ['https registry, http realm even when allowed', 'http://auth.other.net/token', 'https://registry.example.com', ['auth.other.net'], downgrade('auth.other.net')],
    // allowed hosts
    ['allowed host', 'https://auth.other.net/token', 'https://registry.example.com', ['auth.other.net'], null],
    ['allowed host among several', 'https://auth.other.net/token', 'https://registry.example.com', ['a.example', 'auth.other.net'], null],
    ['allowed host on another port', 'https://auth.other.net:8443/token', 'https://registry.example.com', ['auth.other.net'], null],
    ['allowed hosts do not cover subdomains', 'https://x.auth.other.net/token', 'https://registry.example.com', ['auth.other.net'], foreign('x.auth.other.net')],
    ['allowed hosts do not cover the parent', 'https://other.net/token', 'https://registry.example.com', ['auth.other.net'], foreign('other.net')],
    ['allowed IP', 'http://10.0.0.9/token', 'http://10.0.0.1:5000', ['10.0.0.9'], null],
    // IP addresses
    ['same IPv4, other port', 'http://10.0.0.1:5001/token', 'http://10.0.0.1:5000', [], null],
    ['same loopback', 'http://127.0.0.1:5001/token', 'http://127.0.0.1:5000', [], null],
    ['other IPv4', 'http://10.0.0.2:5001/token', 'http://10.0.0.1:5000', [], foreign('10.0.0.2')],
    ['IPv4 sharing the last two octets', 'http://192.168.0.1/token', 'http://10.0.0.1', [], foreign('192.168.0.1')],
    ['IPv4 sharing the first octets', 'http://10.0.0.99/token', 'http://10.0.0.1', [], foreign('10.0.0.99')],
    ['same IPv6', 'http://[::1]:5001/token', 'http://[::1]:5000', [], null],
    ['other IPv6', 'http://[::2]:5001/token', 'http://[::1]:5000', [], foreign('[::2]')],
    ['hostname realm for an IP registry', 'http://auth.example.com/token', 'http://10.0.0.1:5000', [], foreign('auth.example.com')],
    ['IP realm for a hostname registry', 'https://10.0.0.1/token', 'https://registry.example.com', [], foreign('10.0.0.1')],
    // malformed realms
    ['not a URL', 'not a url', 'https://registry.example.com', [], 'token realm "not a url" is not a URL'],
    ['empty realm', '', 'https://registry.example.com', [], 'token realm "" is not a URL'],
    ['relative path', '/token', 'https://registry.example.com', [], 'token realm "/token" is not a URL'],
    ['ftp scheme', 'ftp://registry.example.com/token', 'https://registry.example.com', [], 'token realm ftp://registry.example.com is not http(s)'],
    ['file scheme', 'file:///etc/passwd', 'https://registry.example.com', [], 'token realm null is not http(s)'],
    ['credentials in the realm', 'https://user:secret@registry.example.com/token', 'https://registry.example.com', [], 'token realm must not carry credentials'],
    ['user name only in the realm', 'https://user@registry.example.com/token', 'https://registry.example.com', [], 'token realm must not carry credentials'],
  ];

  it.each(cases)('%s', async (_what, realm, upstream, allowed, expected) => {
    expect(await realmProblem(realm, upstream, allowed)).toBe(expected);
  });

  it('quotes at most 200 characters of a realm that is not a URL', async () => {
    const realm = 'x'.repeat(1000);
    expect(await realmProblem(realm, 'https://registry.example.com', [])).toBe(`token realm "${'x'.repeat(200)}" is not a URL`);
  });

  it('never repeats credentials found in a realm', async () => {
    const problem = await realmProblem('https://user:s3cr3t-pw@evil.example.net/token', 'https://registry.example.com', []);
    expect(problem).not.toBeNull();
    expect(problem).not.toContain('s3cr3t-pw');
  });
});

describe('registrableDomain', () => {
  const cases: [host: string, expected: string][] = [
    ['registry-1.docker.io', 'docker.io'],
    ['auth.docker.io', 'docker.io'],
    ['registry.example.co.uk', 'example.co.uk'],
    ['a.github.io', 'a.github.io'],
    ['x.azurecr.io', 'azurecr.io'],
    ['10.0.0.1', '10.0.0.1'],
    ['localhost', 'localhost'],
  ];
  it.each(cases)('%s → %s', async (host, expected) => {
    expect(await registrableDomain(host)).toBe(expected);
  });
});
