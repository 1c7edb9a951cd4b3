/** WWW-Authenticate parsing (RFC 7235 / RFC 9110 §11.6.1) and the choice of the challenge to answer. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Challenge, parseChallenges, supportedChallenge } from '../../src/upstream/challenge.ts';
import { formatScope, parseScopes } from '../../src/distribution/scope.ts';

interface Fixture {
  registry: string;
  header: string;
  expected: Challenge[];
  supported: string | null;
  scopes: string[];
}

const fixtures = (JSON.parse(readFileSync(new URL('../../fixtures/challenges.json', import.meta.url), 'utf8')) as { challenges: Fixture[] }).challenges;

describe('parseChallenges: real registries (fixtures/challenges.json)', () => {
  it('has the ten recorded registries', () => {
    expect(fixtures).toHaveLength(10);
  });

  it.each(fixtures.map((f) => [f.registry, f] as const))('%s', (_name, f) => {
    const parsed = parseChallenges(f.header);
    expect(parsed).toEqual(f.expected);
    expect(supportedChallenge(parsed)?.scheme ?? null).toBe(f.supported);
    expect(parseScopes(parsed[0]?.params['scope']).map(formatScope)).toEqual(f.scopes);
  });

  it('parses the same headers sent as an array of header lines, in order', () => {
    expect(parseChallenges(fixtures.map((f) => f.header))).toEqual(fixtures.flatMap((f) => f.expected));
  });

  it('parses all fixtures joined into one header with ", "', () => {
    expect(parseChallenges(fixtures.map((f) => f.header).join(', '))).toEqual(fixtures.flatMap((f) => f.expected));
  });
});

describe('parseChallenges: RFC 7235 / 9110 grammar', () => {
  const cases: [what: string, header: string | string[] | undefined, expected: Challenge[]][] = [
    ['undefined header', undefined, []],
    ['empty header', '', []],
    ['empty array', [], []],
    ['only whitespace', '   \t ', []],
    [
      'RFC 7235 §4.1 example: two challenges in one header, token and quoted values, escaped quotes',
      'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
      [
        { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
        { scheme: 'basic', params: { realm: 'simple' } },
      ],
    ],
    [
      'Basic then Bearer in one header',
      'Basic realm="reg", Bearer realm="https://auth.example/token",service="reg"',
      [
        { scheme: 'basic', params: { realm: 'reg' } },
        { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg' } },
      ],
    ],
    [
      'several header lines, several challenges each',
      ['Negotiate, Basic realm="a"', 'Bearer realm="https://b/t",service="s", NTLM'],
      [
        { scheme: 'negotiate', params: {} },
        { scheme: 'basic', params: { realm: 'a' } },
        { scheme: 'bearer', params: { realm: 'https://b/t', service: 's' } },
        { scheme: 'ntlm', params: {} },
      ],
    ],
    [
      'a malformed header line does not spoil the next one',
      ['Bearer realm="unterminated', 'Basic realm="ok"'],
      [
        { scheme: 'bearer', params: {} },
        { scheme: 'basic', params: { realm: 'ok' } },
      ],
    ],
    [
      'scheme and parameter names are case-insensitive; values keep their case',
      'BEARER REALM="https://Auth.Example/Token",Service="Reg.Example",SCOPE="repository:Foo:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://Auth.Example/Token', service: 'Reg.Example', scope: 'repository:Foo:pull' } }],
    ],
    ['mixed-case scheme', 'bAsIc ReAlM="x"', [{ scheme: 'basic', params: { realm: 'x' } }]],
    ['escaped quotes and backslashes inside a quoted string', 'Basic realm="say \\"hi\\" C:\\\\dir\\\\"', [{ scheme: 'basic', params: { realm: 'say "hi" C:\\dir\\' } }]],
    ['a backslash before an ordinary character is dropped (quoted-pair)', 'Basic realm="\\a\\b"', [{ scheme: 'basic', params: { realm: 'ab' } }]],
    [
      'commas inside quoted strings do not split',
      'Bearer realm="https://a.example/t?x=1,2",service="a, b",scope="repository:x:pull,push repository:y:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://a.example/t?x=1,2', service: 'a, b', scope: 'repository:x:pull,push repository:y:pull' } }],
    ],
    [
      'an escaped quote followed by a comma stays inside the string',
      'Basic realm="a\\",b", Bearer realm="https://r/t"',
      [
        { scheme: 'basic', params: { realm: 'a",b' } },
        { scheme: 'bearer', params: { realm: 'https://r/t' } },
      ],
    ],
    [
      'whitespace around "=" and around commas',
      'Bearer realm = "https://a/t" ,  service\t=\tsvc ,scope= "repository:x:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://a/t', service: 'svc', scope: 'repository:x:pull' } }],
    ],
    ['several spaces between scheme and first parameter', 'Bearer    realm="https://a/t"', [{ scheme: 'bearer', params: { realm: 'https://a/t' } }]],
    ['empty list elements are ignored (RFC 9110 §5.6.1)', ', Bearer realm="https://a/t",, ,service="s",', [{ scheme: 'bearer', params: { realm: 'https://a/t', service: 's' } }]],
    [
      'token (unquoted) parameter values',
      'Bearer realm="https://a/t",error=invalid_token,error_description=expired',
      [{ scheme: 'bearer', params: { realm: 'https://a/t', error: 'invalid_token', error_description: 'expired' } }],
    ],
    ['empty quoted value', 'Bearer realm=""', [{ scheme: 'bearer', params: { realm: '' } }]],
    ['token68', 'Negotiate abc==', [{ scheme: 'negotiate', params: {}, token68: 'abc==' }]],
    ['token68 without padding', 'Negotiate YIIB+w/x-._~', [{ scheme: 'negotiate', params: {}, token68: 'YIIB+w/x-._~' }]],
    [
      'token68 followed by another challenge',
      'Negotiate abc==, Basic realm="x"',
      [
        { scheme: 'negotiate', params: {}, token68: 'abc==' },
        { scheme: 'basic', params: { realm: 'x' } },
      ],
    ],
    ['a token68 challenge takes no parameters', 'Negotiate abc==, realm="x"', [{ scheme: 'negotiate', params: {}, token68: 'abc==' }]],
    ['bare scheme', 'Basic', [{ scheme: 'basic', params: {} }]],
    [
      'bare schemes in a list',
      'Negotiate, NTLM, Basic',
      [
        { scheme: 'negotiate', params: {} },
        { scheme: 'ntlm', params: {} },
        { scheme: 'basic', params: {} },
      ],
    ],
    ['bare scheme then parameters for it after a comma', 'Bearer, realm="https://a/t", service="s"', [{ scheme: 'bearer', params: { realm: 'https://a/t', service: 's' } }]],
    ['a later parameter of the same name wins', 'Bearer realm="https://a/t",realm="https://b/t"', [{ scheme: 'bearer', params: { realm: 'https://b/t' } }]],
  ];

  it.each(cases)('%s', (_what, header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});

describe('parseChallenges: malformed input never throws', () => {
  const cases: [what: string, header: string, expected: Challenge[]][] = [
    ['unterminated quote', 'Bearer realm="https://a/t', [{ scheme: 'bearer', params: {} }]],
    [
      'unterminated quote in a later parameter keeps the earlier ones',
      'Bearer realm="https://a/t", service="unterminated',
      [{ scheme: 'bearer', params: { realm: 'https://a/t' } }],
    ],
    ['unterminated quote swallows what follows (it is inside the string)', 'Bearer realm="https://a/t, Basic realm="x"', [{ scheme: 'bearer', params: {} }]],
    ['junk after a quoted string', 'Bearer realm="https://a/t"junk', [{ scheme: 'bearer', params: {} }]],
    ['missing comma between parameters', 'Bearer realm="https://a/t" service="s"', [{ scheme: 'bearer', params: {} }]],
    ['unquoted URL value (not a token)', 'Bearer realm=https://a/t', [{ scheme: 'bearer', params: {} }]],
    // `realm=` is also a valid token68 (RFC 7235 §2.1 notes the ambiguity): read as one
    ['parameter with no value reads as token68', 'Bearer realm=', [{ scheme: 'bearer', params: {}, token68: 'realm=' }]],
    ['later parameter with no value is dropped', 'Bearer realm="https://a/t", service=', [{ scheme: 'bearer', params: { realm: 'https://a/t' } }]],
    ['parameter before any scheme is dropped', 'realm="x", Basic realm="y"', [{ scheme: 'basic', params: { realm: 'y' } }]],
    [
      'a malformed element drops parameters until the next challenge',
      'Bearer realm="https://a/t", @@@, service="s", Basic realm="b"',
      [
        { scheme: 'bearer', params: { realm: 'https://a/t' } },
        { scheme: 'basic', params: { realm: 'b' } },
      ],
    ],
    ['lone quote', '"', []],
    ['only commas', ',,,', []],
    ['only equals signs', '===', []],
    ['punctuation', '@@@ !!! ((()))', []],
    ['quoted string only', '"Bearer realm=x"', []],
    ['trailing backslash inside a quote', 'Basic realm="abc\\', [{ scheme: 'basic', params: {} }]],
    ['control characters', 'Basic\u0000realm="x"', []],
  ];

  it.each(cases)('%s', (_what, header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });

  it('handles very long hostile headers without throwing', () => {
    const hostile = [
      'Bearer realm="' + '\\'.repeat(100_001),
      'Bearer realm="' + '\\"'.repeat(50_000),
      'Bearer ' + 'a='.repeat(50_000),
      'Bearer ' + '"'.repeat(100_000),
      ','.repeat(100_000),
      'Negotiate ' + 'A'.repeat(100_000) + '=',
    ];
    for (const h of hostile) expect(() => parseChallenges(h)).not.toThrow();
    expect(parseChallenges('Negotiate ' + 'A'.repeat(100_000) + '=')).toEqual([{ scheme: 'negotiate', params: {}, token68: 'A'.repeat(100_000) + '=' }]);
  });

  it('never throws on random input built from header characters', () => {
    const alphabet = 'Bbearic rlm="\\,=\t sx:/.';
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 2000; i++) {
      let s = '';
      const len = rand(60);
      for (let j = 0; j < len; j++) s += alphabet[rand(alphabet.length)];
      const out = parseChallenges(s);
      expect(Array.isArray(out)).toBe(true);
      for (const c of out) expect(c.scheme).toBe(c.scheme.toLowerCase());
    }
  });
});

describe('supportedChallenge', () => {
  const cases: [what: string, header: string | string[], expected: Challenge | undefined][] = [
    [
      'Bearer with a realm over Basic listed first',
      'Basic realm="reg", Bearer realm="https://auth.example/token",service="reg"',
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg' } },
    ],
    [
      'Bearer with a realm over Basic listed after it',
      ['Bearer realm="https://auth.example/token"', 'Basic realm="reg"'],
      { scheme: 'bearer', params: { realm: 'https://auth.example/token' } },
    ],
    ['Basic when alone', 'Basic realm="Registry Realm"', { scheme: 'basic', params: { realm: 'Registry Realm' } }],
    ['bare Basic when alone', 'Basic', { scheme: 'basic', params: {} }],
    ['Basic over a Bearer without realm', 'Bearer service="reg", Basic realm="r"', { scheme: 'basic', params: { realm: 'r' } }],
    ['Basic over a Bearer with an empty realm', 'Bearer realm="", Basic realm="r"', { scheme: 'basic', params: { realm: 'r' } }],
    ['Basic among unsupported schemes', 'Negotiate abc==, NTLM, Basic realm="r"', { scheme: 'basic', params: { realm: 'r' } }],
    [
      'the first Bearer that has a realm',
      'Bearer service="no-realm", Bearer realm="https://one/t", Bearer realm="https://two/t"',
      { scheme: 'bearer', params: { realm: 'https://one/t' } },
    ],
    ['undefined for Negotiate only', 'Negotiate abc==', undefined],
    ['undefined for Negotiate and NTLM', ['Negotiate', 'NTLM'], undefined],
    ['undefined for a Bearer without realm only', 'Bearer service="reg"', undefined],
    ['undefined for a malformed Bearer only', 'Bearer realm="https://a/t', undefined],
    ['undefined for nothing', [], undefined],
  ];

  it.each(cases)('%s', (_what, header, expected) => {
    expect(supportedChallenge(parseChallenges(header))).toEqual(expected);
  });

  it('returns the challenge object itself', () => {
    const list = parseChallenges('Basic realm="r", Bearer realm="https://a/t"');
    expect(supportedChallenge(list)).toBe(list[1]);
  });
});
