/**
 * Static proxy tokens in configuration: access-token Secrets parsed by parseConfig, the
 * per-connector `access` parameter, and loadConfiguration merging the --config and
 * --access-tokens files (real files in a temporary directory).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AccessToken, hashToken } from '../../src/access/tokens.ts';
import { ConfigError } from '../../src/connectors/documents.ts';
import { type ParsedConfig, parseConfig } from '../../src/sources/file.ts';
import { loadConfiguration } from '../../src/sources/file.ts';
import { connectorFor } from '../helpers/connectors.ts';

const FILE = '/etc/ocp/config.yaml';
const TOKEN_1 = 'tok1-0123456789abcdef';
const TOKEN_2 = 'tok2-0123456789abcdef';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function connectorDoc(name: string, extraSpec = '', namespace = 'default'): string {
  return `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  connectorClassName: oci
  address: https://r.example.com
${extraSpec}`;
}

/** An access-token Secret; `body` is its data/stringData block, unindented. */
function tokenSecret(namespace: string, name: string, body: string): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: ${namespace}
type: oci-connector-proxy/access-token
${body}`;
}

const stringData = (fields: Record<string, string>): string =>
  `stringData:\n${Object.entries(fields)
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
    .join('\n')}\n`;

const data = (fields: Record<string, string>): string =>
  `data:\n${Object.entries(fields)
    .map(([k, v]) => `  ${k}: ${b64(v)}`)
    .join('\n')}\n`;

const stream = (...docs: string[]): string => docs.join('---\n');

/** Comparable tokens: the hash as hex. */
function tokensView(tokens: readonly AccessToken[]): { id: string; sha256: string; connectors: readonly string[] }[] {
  return tokens.map((t) => ({ id: t.id, sha256: t.sha256.toString('hex'), connectors: t.connectors }));
}

function errorOf(f: () => unknown): string {
  let out: unknown;
  try {
    out = f();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  }
  throw new Error(`expected a ConfigError, got ${JSON.stringify(out)}`);
}

describe('parseConfig: access-token Secrets', () => {
  it('stringData and base64 data, connectors split on commas and whitespace', () => {
    const yaml = stream(
      connectorDoc('a', '', 'ns'),
      tokenSecret('ci', 'pull', stringData({ token: TOKEN_1, connectors: 'ns/a, ns/*\n  other/b  *' })),
      tokenSecret('ops', 'all', data({ token: TOKEN_2, connectors: '*' })),
    );
    const parsed = parseConfig(yaml, FILE);
    expect(parsed.connectors.map((c) => `${c.namespace}/${c.name}`)).toEqual(['ns/a']);
    expect(tokensView(parsed.accessTokens)).toEqual([
      { id: 'ci/pull', sha256: hashToken(TOKEN_1).toString('hex'), connectors: ['ns/a', 'ns/*', 'other/b', '*'] },
      { id: 'ops/all', sha256: hashToken(TOKEN_2).toString('hex'), connectors: ['*'] },
    ]);
  });

  it('the token is kept only as its SHA-256', () => {
    const parsed = parseConfig(tokenSecret('ci', 'pull', stringData({ token: TOKEN_1, connectors: 'ns/a' })), FILE, { connectorsRequired: false });
    expect(parsed.accessTokens[0]!.sha256.toString('hex')).toBe(createHash('sha256').update(TOKEN_1, 'utf8').digest('hex'));
    expect(JSON.stringify(parsed)).not.toContain(TOKEN_1);
  });

  it('stringData wins over data for the same key', () => {
    const yaml = tokenSecret('ci', 'pull', `${data({ token: 'ignored-token-0123456789', connectors: 'ns/a' })}${stringData({ token: TOKEN_1 })}`);
    expect(tokensView(parseConfig(yaml, FILE, { connectorsRequired: false }).accessTokens)).toEqual([
      { id: 'ci/pull', sha256: hashToken(TOKEN_1).toString('hex'), connectors: ['ns/a'] },
    ]);
  });

  it('a token of exactly 16 characters is accepted; the default namespace applies', () => {
    const yaml = `apiVersion: v1
kind: Secret
metadata:
  name: short
type: oci-connector-proxy/access-token
stringData:
  token: "0123456789abcdef"
  connectors: "default/a"
`;
    expect(tokensView(parseConfig(yaml, FILE, { connectorsRequired: false }).accessTokens)).toEqual([
      { id: 'default/short', sha256: hashToken('0123456789abcdef').toString('hex'), connectors: ['default/a'] },
    ]);
  });

  it('other Secrets are not tokens', () => {
    const yaml = stream(
      connectorDoc('a', '  auth:\n    secretRef:\n      name: creds\n'),
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: cpaas.io/distribution-registry-token\nstringData:\n  username: u\n  password: ${TOKEN_1}\n`,
    );
    const parsed: ParsedConfig = parseConfig(yaml, FILE);
    expect(parsed.accessTokens).toEqual([]);
    expect(parsed.connectors[0]!.credentials).toEqual({ username: 'u', password: TOKEN_1 });
  });

  const W = `${FILE}: document 1 (Secret ci/pull)`;
  const errors: [what: string, body: string, message: string][] = [
    ['missing token', stringData({ connectors: 'ns/a' }), `${W}: data.token: missing (an oci-connector-proxy/access-token Secret needs token and connectors)`],
    ['empty token', stringData({ token: '', connectors: 'ns/a' }), `${W}: data.token: missing (an oci-connector-proxy/access-token Secret needs token and connectors)`],
    ['token of 15 characters', stringData({ token: '0123456789abcde', connectors: 'ns/a' }), `${W}: data.token: too short (at least 16 characters; e.g. openssl rand -hex 24)`],
    ['token with a space', stringData({ token: '0123456789 abcdefgh', connectors: 'ns/a' }), `${W}: data.token: must not contain spaces or ':'`],
    ['token with a newline', data({ token: '0123456789abcdefgh\n', connectors: 'ns/a' }), `${W}: data.token: must not contain spaces or ':'`],
    ['token with a colon', stringData({ token: '0123456789:abcdefgh', connectors: 'ns/a' }), `${W}: data.token: must not contain spaces or ':'`],
    ['missing connectors', stringData({ token: TOKEN_1 }), `${W}: data.connectors: missing (list the connectors this token may use: <ns>/<name>, <ns>/* or *)`],
    ['empty connectors', stringData({ token: TOKEN_1, connectors: '' }), `${W}: data.connectors: missing (list the connectors this token may use: <ns>/<name>, <ns>/* or *)`],
    ['separators only', stringData({ token: TOKEN_1, connectors: ' , ' }), `${W}: data.connectors: missing (list the connectors this token may use: <ns>/<name>, <ns>/* or *)`],
    ['pattern ns/', stringData({ token: TOKEN_1, connectors: 'ns/' }), `${W}: data.connectors: "ns/" is not <ns>/<name>, <ns>/* or *`],
    ['pattern NS/a', stringData({ token: TOKEN_1, connectors: 'ns/a,NS/a' }), `${W}: data.connectors: "NS/a" is not <ns>/<name>, <ns>/* or *`],
    ['pattern a', stringData({ token: TOKEN_1, connectors: 'a' }), `${W}: data.connectors: "a" is not <ns>/<name>, <ns>/* or *`],
    ['pattern */a', stringData({ token: TOKEN_1, connectors: '*/a' }), `${W}: data.connectors: "*/a" is not <ns>/<name>, <ns>/* or *`],
    ['pattern ns/a/b', stringData({ token: TOKEN_1, connectors: 'ns/a/b' }), `${W}: data.connectors: "ns/a/b" is not <ns>/<name>, <ns>/* or *`],
    ['pattern ns/a*', stringData({ token: TOKEN_1, connectors: 'ns/a*' }), `${W}: data.connectors: "ns/a*" is not <ns>/<name>, <ns>/* or *`],
    ['data not base64', 'data:\n  token: "not base64!"\n  connectors: bnMvYQ==\n', `${W}: data.token: not valid base64`],
  ];
  it.each(errors)('%s', (_what, body, message) => {
    expect(errorOf(() => parseConfig(tokenSecret('ci', 'pull', body), FILE, { connectorsRequired: false }))).toBe(message);
  });

  it('the same token in two Secrets', () => {
    const yaml = stream(
      connectorDoc('a'),
      tokenSecret('ci', 'one', stringData({ token: TOKEN_1, connectors: 'default/a' })),
      tokenSecret('ci', 'two', data({ token: TOKEN_1, connectors: '*' })),
    );
    expect(errorOf(() => parseConfig(yaml, FILE))).toBe(`${FILE}: document 3 (Secret ci/two): data.token: the same token is already defined by Secret ci/one`);
  });

  it('the document number counts every document', () => {
    const yaml = stream(connectorDoc('a'), connectorDoc('b'), tokenSecret('ci', 'pull', stringData({ token: 'short', connectors: '*' })));
    expect(errorOf(() => parseConfig(yaml, FILE))).toBe(`${FILE}: document 3 (Secret ci/pull): data.token: too short (at least 16 characters; e.g. openssl rand -hex 24)`);
  });

  it('connectorsRequired: false accepts a file of token Secrets only; the default does not', () => {
    const yaml = tokenSecret('ci', 'pull', stringData({ token: TOKEN_1, connectors: 'ns/a' }));
    const parsed = parseConfig(yaml, FILE, { connectorsRequired: false });
    expect(parsed.connectors).toEqual([]);
    expect(tokensView(parsed.accessTokens)).toEqual([{ id: 'ci/pull', sha256: hashToken(TOKEN_1).toString('hex'), connectors: ['ns/a'] }]);
    expect(errorOf(() => parseConfig(yaml, FILE))).toBe(`${FILE}: no Connector document found`);
    expect(errorOf(() => parseConfig(yaml, FILE, {}))).toBe(`${FILE}: no Connector document found`);
    expect(errorOf(() => parseConfig(yaml, FILE, { connectorsRequired: true }))).toBe(`${FILE}: no Connector document found`);
  });
});

describe('parseConfig: spec.params[access]', () => {
  const params = (value: string): string => `  params:\n  - name: access\n    value: ${JSON.stringify(value)}\n`;

  it.each(['none', 'static', 'kubernetes'])('access=%s is kept in params', (mode) => {
    expect(parseConfig(connectorDoc('a', params(mode)), FILE).connectors[0]!.params).toEqual({ access: mode });
  });

  it.each([
    ['bogus', '"bogus"'],
    ['Static', '"Static"'],
    ['', '""'],
  ])('access=%j is refused', (value, shown) => {
    expect(errorOf(() => parseConfig(connectorDoc('a', params(value)), FILE))).toBe(
      `${FILE}: document 1 (Connector default/a): spec.params[access]: must be one of none, static, kubernetes, got ${shown}`,
    );
  });
});

describe('loadConfiguration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ocp-access-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  function file(text: string): string {
    const path = join(dir, `f${++n}.yaml`);
    writeFileSync(path, text);
    return path;
  }

  const CONFIG = stream(connectorDoc('a', '', 'ns'), tokenSecret('ns', 'in-config', stringData({ token: TOKEN_1, connectors: 'ns/a' })));
  const TOKENS = tokenSecret('ci', 'in-tokens', data({ token: TOKEN_2, connectors: 'ns/*, other/x' }));

  it('merges the config file and the tokens file, config first', () => {
    const cfg = loadConfiguration({ configFile: file(CONFIG), tokensFile: file(TOKENS), upstream: undefined });
    expect(cfg.connectors.map((c) => `${c.namespace}/${c.name} ${c.upstreamOrigin}`)).toEqual(['ns/a https://r.example.com']);
    expect(tokensView(cfg.accessTokens)).toEqual([
      { id: 'ns/in-config', sha256: hashToken(TOKEN_1).toString('hex'), connectors: ['ns/a'] },
      { id: 'ci/in-tokens', sha256: hashToken(TOKEN_2).toString('hex'), connectors: ['ns/*', 'other/x'] },
    ]);
    expect(cfg.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a tokens file without a config file: the default Docker Hub connector', () => {
    const cfg = loadConfiguration({ configFile: undefined, tokensFile: file(TOKENS), upstream: undefined });
    // Origin and Docker Hub flag spelled out: the expectation is not derived by the code it checks.
    expect(cfg.connectors).toEqual([connectorFor('https://index.docker.io', { name: 'dockerhub', upstreamOrigin: 'https://registry-1.docker.io', dockerHub: true })]);
    expect(tokensView(cfg.accessTokens).map((t) => t.id)).toEqual(['ci/in-tokens']);
  });

  it('a tokens file holding a Connector is refused', () => {
    const tokens = file(stream(TOKENS, connectorDoc('b')));
    expect(errorOf(() => loadConfiguration({ configFile: file(CONFIG), tokensFile: tokens, upstream: undefined }))).toBe(
      `${tokens}: holds Connector documents; put them in the --config file (this file is for access-token Secrets)`,
    );
  });

  it.each([
    ['empty', ''],
    ['only a registry Secret', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: cpaas.io/distribution-registry-token\nstringData:\n  username: u\n  password: p\n'],
  ])('a tokens file without token Secrets (%s) is refused', (_what, text) => {
    const tokens = file(text);
    expect(errorOf(() => loadConfiguration({ configFile: file(CONFIG), tokensFile: tokens, upstream: undefined }))).toBe(
      `${tokens}: no Secret of type oci-connector-proxy/access-token found`,
    );
  });

  it('an invalid Secret in the tokens file names that file', () => {
    const tokens = file(tokenSecret('ci', 'bad', stringData({ token: TOKEN_2, connectors: 'ns/' })));
    expect(errorOf(() => loadConfiguration({ configFile: file(CONFIG), tokensFile: tokens, upstream: undefined }))).toBe(
      `${tokens}: document 1 (Secret ci/bad): data.connectors: "ns/" is not <ns>/<name>, <ns>/* or *`,
    );
  });

  it('the same token in both files is refused', () => {
    const config = file(CONFIG);
    const tokens = file(stream(TOKENS, tokenSecret('ci', 'dup', stringData({ token: TOKEN_1, connectors: '*' }))));
    expect(errorOf(() => loadConfiguration({ configFile: config, tokensFile: tokens, upstream: undefined }))).toBe(
      `${tokens}: Secret ci/dup: data.token: the same token is also defined in ${config}`,
    );
  });

  it('an unreadable file', () => {
    const missing = join(dir, 'missing.yaml');
    expect(errorOf(() => loadConfiguration({ configFile: missing, tokensFile: undefined, upstream: undefined }))).toBe(`${missing}: cannot read: ENOENT`);
    expect(errorOf(() => loadConfiguration({ configFile: file(CONFIG), tokensFile: missing, upstream: undefined }))).toBe(`${missing}: cannot read: ENOENT`);
    expect(errorOf(() => loadConfiguration({ configFile: dir, tokensFile: undefined, upstream: undefined }))).toBe(`${dir}: cannot read: EISDIR`);
  });

  it('the fingerprint follows the files’ contents', () => {
    const config = file(CONFIG);
    const tokens = file(TOKENS);
    const load = (): string => loadConfiguration({ configFile: config, tokensFile: tokens, upstream: undefined }).fingerprint;
    const first = load();
    expect(load()).toBe(first);

    // the same contents in other files: the same fingerprint
    expect(loadConfiguration({ configFile: file(CONFIG), tokensFile: file(TOKENS), upstream: undefined }).fingerprint).toBe(first);

    writeFileSync(tokens, `${TOKENS}# a comment\n`);
    const second = load();
    expect(second).not.toBe(first);
    expect(load()).toBe(second);

    writeFileSync(config, `${CONFIG}# a comment\n`);
    const third = load();
    expect(third).not.toBe(second);
    expect(third).not.toBe(first);

    writeFileSync(config, CONFIG);
    writeFileSync(tokens, TOKENS);
    expect(load()).toBe(first);

    // without the tokens file the fingerprint differs
    expect(loadConfiguration({ configFile: config, tokensFile: undefined, upstream: undefined }).fingerprint).not.toBe(first);
  });
});
