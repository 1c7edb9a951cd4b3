/**
 * Proxy access control: the credential a caller presents (raw headers, Basic and Bearer), and
 * AccessControl in its three modes (none, static tokens, Kubernetes reviews with a cache).
 */
import { describe, expect, it } from 'vitest';
import { AccessControl, type AccessToken, type Decision, hashToken, KUBERNETES_CACHE_TTL_MS, KUBERNETES_NEGATIVE_TTL_MS, type TokenReviewer } from '../../src/access/control.ts';
import { type PresentedCredential, presentedCredential } from '../../src/access/credential.ts';
import type { Connector } from '../../src/connectors/model.ts';
import { connectorFor } from '../helpers/connectors.ts';

const CHALLENGE = { 'www-authenticate': 'Basic realm="oci-connector-proxy"' };

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

const conn = (namespace: string, name: string, params: Record<string, string> = {}): Connector => connectorFor('http://r', { namespace, name, params });

const caller = (token: string, username?: string): PresentedCredential => ({ kind: 'caller', caller: { token, username } });
const NONE: PresentedCredential = { kind: 'none' };

function tok(id: string, token: string, connectors: string[]): AccessToken {
  return { id, sha256: hashToken(token), connectors };
}

/** A decision that must have been made synchronously. */
function sync(d: Decision | Promise<Decision>): Decision {
  expect(d).not.toBeInstanceOf(Promise);
  return d as Decision;
}

/** A comparable view of a decision: the subject, or the error's status, code, message, detail and headers. */
function view(d: Decision): unknown {
  if (d.allowed) return { allowed: true, subject: d.subject };
  const e = d.error;
  return { allowed: false, status: e.status, code: e.code, message: e.message, detail: e.detail, headers: e.headers };
}

describe('presentedCredential', () => {
  const cases: [what: string, raw: string[], expected: PresentedCredential][] = [
    ['no headers', [], { kind: 'none' }],
    ['other headers only', ['Host', 'r', 'Accept', '*/*'], { kind: 'none' }],
    ['a header whose name merely contains authorization', ['Proxy-Authorization', `Basic ${b64('u:secret')}`], { kind: 'none' }],
    ['Basic with username and token', ['Authorization', `Basic ${b64('alice:s3cret-token')}`], caller('s3cret-token', 'alice')],
    ['Basic: the password is everything after the first colon', ['Authorization', `Basic ${b64('alice:a:b:c')}`], caller('a:b:c', 'alice')],
    ['Basic with an empty username', ['Authorization', `Basic ${b64(':tok')}`], caller('tok', '')],
    ['scheme is case-insensitive', ['Authorization', `bAsIc ${b64('u:p')}`], caller('p', 'u')],
    ['header name in lower case', ['authorization', `Basic ${b64('u:p')}`], caller('p', 'u')],
    ['surrounding whitespace is ignored', ['Authorization', `  Basic   ${b64('u:p')}  `], caller('p', 'u')],
    ['Bearer', ['Authorization', 'Bearer abc.def-ghi'], caller('abc.def-ghi')],
    ['bearer in lower case', ['Authorization', 'bearer xyz'], caller('xyz')],
    [
      'two Authorization headers, different case',
      ['Authorization', 'Bearer a', 'X-Other', 'v', 'authorization', 'Bearer b'],
      { kind: 'invalid', problem: 'more than one Authorization header' },
    ],
    [
      'two Authorization headers, same case, both valid',
      ['Authorization', `Basic ${b64('u:p')}`, 'Authorization', `Basic ${b64('u:p')}`],
      { kind: 'invalid', problem: 'more than one Authorization header' },
    ],
    ['scheme without a value', ['Authorization', 'Bearer'], { kind: 'invalid', problem: 'malformed Authorization header' }],
    ['no space between scheme and value', ['Authorization', `Basic${b64('u:p')}`], { kind: 'invalid', problem: 'malformed Authorization header' }],
    ['empty value', ['Authorization', ''], { kind: 'invalid', problem: 'malformed Authorization header' }],
    ['value with two words', ['Authorization', 'Bearer a b'], { kind: 'invalid', problem: 'malformed Authorization header' }],
    ['scheme with digits', ['Authorization', 'Basic2 abc'], { kind: 'invalid', problem: 'malformed Authorization header' }],
    ['unknown scheme Digest', ['Authorization', 'Digest username="u"'], { kind: 'invalid', problem: 'unsupported Authorization scheme "Digest"' }],
    ['unknown scheme name is cut to 20 characters', ['Authorization', `${'X'.repeat(30)} v`], { kind: 'invalid', problem: `unsupported Authorization scheme "${'X'.repeat(20)}"` }],
    ['Basic, not base64', ['Authorization', 'Basic !!!notbase64'], { kind: 'invalid', problem: 'Basic credentials are not base64' }],
    ['Basic, base64url alphabet', ['Authorization', 'Basic dTp-_w'], { kind: 'invalid', problem: 'Basic credentials are not base64' }],
    ['Basic without a colon', ['Authorization', `Basic ${b64('usertoken')}`], { kind: 'invalid', problem: 'Basic credentials lack a ":"' }],
    // An empty Basic pair is what clients without credentials for the host send (skopeo sends ":").
    ['Basic with an empty password: no credential', ['Authorization', `Basic ${b64('user:')}`], { kind: 'none' }],
    ['Basic ":": no credential', ['Authorization', 'Basic Og=='], { kind: 'none' }],
  ];
  it.each(cases)('%s', (_what, raw, expected) => {
    expect(presentedCredential(raw)).toEqual(expected);
  });
});

describe('AccessControl: mode none', () => {
  const ac = new AccessControl({ mode: 'none' });
  const a = conn('ns', 'a');

  it('allows anyone, with no subject', () => {
    expect(view(sync(ac.decide(NONE, a)))).toEqual({ allowed: true, subject: undefined });
    expect(view(sync(ac.decide(caller('whatever'), a)))).toEqual({ allowed: true, subject: undefined });
    expect(view(sync(ac.decide({ kind: 'invalid', problem: 'x' }, a)))).toEqual({ allowed: true, subject: undefined });
  });

  it('requires no credential for plain connectors', () => {
    expect(ac.required([a, conn('ns', 'b')])).toBe(false);
    expect(ac.required([])).toBe(false);
  });

  it('a connector with access=static requires a token', () => {
    const s = conn('ns', 's', { access: 'static' });
    const withTokens = new AccessControl({ mode: 'none', tokens: [tok('ns/t', 'token-for-s-0123456', ['ns/s'])] });
    expect(withTokens.required([a, s])).toBe(true);
    expect(view(sync(withTokens.decide(NONE, s)))).toEqual({
      allowed: false,
      status: 401,
      code: 'UNAUTHORIZED',
      message: 'authentication required: send a proxy token as the Basic password or as a Bearer token',
      detail: undefined,
      headers: CHALLENGE,
    });
    expect(view(sync(withTokens.decide(caller('token-for-s-0123456'), s)))).toEqual({ allowed: true, subject: 'token:ns/t' });
    // the other connectors stay open
    expect(view(sync(withTokens.decide(NONE, a)))).toEqual({ allowed: true, subject: undefined });
  });

  it('an unknown access value falls back to the process mode', () => {
    expect(ac.modeFor(conn('ns', 'x', { access: 'bogus' }))).toBe('none');
    expect(ac.modeFor(conn('ns', 'x', { access: 'none' }))).toBe('none');
    expect(ac.modeFor(conn('ns', 'x', { access: 'static' }))).toBe('static');
    expect(ac.modeFor(conn('ns', 'x', { access: 'kubernetes' }))).toBe('kubernetes');
  });
});

describe('AccessControl: mode static', () => {
  const TOKEN_A = 'aaaaaaaaaaaaaaaa-token';
  const TOKEN_NS = 'nsnsnsnsnsnsnsns-token';
  const TOKEN_ALL = 'allallallallalla-token';
  const tokens = [tok('sec/only-a', TOKEN_A, ['ns/a']), tok('sec/ns-wide', TOKEN_NS, ['ns/*']), tok('sec/all', TOKEN_ALL, ['*'])];
  const ac = new AccessControl({ mode: 'static', tokens });
  const a = conn('ns', 'a');
  const b = conn('ns', 'b');
  const other = conn('other', 'a');

  const refusals: [what: string, credential: PresentedCredential, message: string][] = [
    ['no credential', NONE, 'authentication required: send a proxy token as the Basic password or as a Bearer token'],
    ['an invalid credential (the problem named)', presentedCredential(['Authorization', 'Digest x']), 'invalid credentials: unsupported Authorization scheme "Digest"'],
    ['a wrong token', caller('not-a-known-token-at-all'), 'the proxy token is not valid'],
  ];
  it.each(refusals)('%s: 401 with a Basic challenge', (_what, credential, message) => {
    expect(view(sync(ac.decide(credential, a)))).toEqual({ allowed: false, status: 401, code: 'UNAUTHORIZED', message, detail: undefined, headers: CHALLENGE });
  });

  it('a token that differs only by one character is refused', () => {
    expect(sync(ac.decide(caller(`${TOKEN_A.slice(0, -1)}X`), a)).allowed).toBe(false);
    expect(sync(ac.decide(caller(`${TOKEN_A} `), a)).allowed).toBe(false);
  });

  it('a token for another connector: 403 DENIED naming the token and the connector', () => {
    expect(view(sync(ac.decide(caller(TOKEN_A), b)))).toEqual({
      allowed: false,
      status: 403,
      code: 'DENIED',
      message: 'proxy token sec/only-a may not use connector ns/b',
      detail: { connector: 'ns/b' },
      headers: {},
    });
  });

  const grants: [what: string, token: string, c: Connector, subject: string | false][] = [
    ['exact ns/a on ns/a', TOKEN_A, a, 'token:sec/only-a'],
    ['exact ns/a on ns/b', TOKEN_A, b, false],
    ['exact ns/a on other/a', TOKEN_A, other, false],
    ['ns/* on ns/a', TOKEN_NS, a, 'token:sec/ns-wide'],
    ['ns/* on ns/b', TOKEN_NS, b, 'token:sec/ns-wide'],
    ['ns/* on other/a', TOKEN_NS, other, false],
    ['ns/* on nsx/a (no prefix match)', TOKEN_NS, conn('nsx', 'a'), false],
    ['* on ns/a', TOKEN_ALL, a, 'token:sec/all'],
    ['* on other/a', TOKEN_ALL, other, 'token:sec/all'],
  ];
  it.each(grants)('pattern %s', (_what, token, c, subject) => {
    const d = sync(ac.decide(caller(token, 'anyone'), c));
    if (subject === false) expect(view(d)).toMatchObject({ allowed: false, status: 403, code: 'DENIED' });
    else expect(view(d)).toEqual({ allowed: true, subject });
  });

  it('the Basic username plays no part', () => {
    expect(view(sync(ac.decide(caller(TOKEN_A, 'root'), a)))).toEqual({ allowed: true, subject: 'token:sec/only-a' });
    expect(view(sync(ac.decide(caller(TOKEN_A), a)))).toEqual({ allowed: true, subject: 'token:sec/only-a' });
  });

  it('access=none on a connector is ignored under static mode: it still needs a token', () => {
    const open = conn('ns', 'open', { access: 'none' });
    expect(ac.modeFor(open)).toBe('static');
    expect(ac.modeFor(conn('ns', 'k', { access: 'kubernetes' }))).toBe('kubernetes');
    expect(view(sync(ac.decide(NONE, open)))).toEqual({
      allowed: false,
      status: 401,
      code: 'UNAUTHORIZED',
      message: 'authentication required: send a proxy token as the Basic password or as a Bearer token',
      detail: undefined,
      headers: CHALLENGE,
    });
    expect(view(sync(ac.decide(caller('junk'), open)))).toEqual({
      allowed: false,
      status: 401,
      code: 'UNAUTHORIZED',
      message: 'the proxy token is not valid',
      detail: undefined,
      headers: CHALLENGE,
    });
    expect(view(sync(ac.decide(caller(TOKEN_A), open)))).toEqual({
      allowed: false,
      status: 403,
      code: 'DENIED',
      message: 'proxy token sec/only-a may not use connector ns/open',
      detail: { connector: 'ns/open' },
      headers: {},
    });
    expect(view(sync(ac.decide(caller(TOKEN_NS), open)))).toEqual({ allowed: true, subject: 'token:sec/ns-wide' });
  });

  it('required() is true under static mode, whatever access the connectors ask for', () => {
    expect(ac.required([conn('ns', 'open', { access: 'none' })])).toBe(true);
    expect(ac.required([])).toBe(true);
  });

  it('setTokens replaces the tokens: the old one is then refused', () => {
    const live = new AccessControl({ mode: 'static', tokens: [tok('sec/old', 'old-token-0123456789', ['*'])] });
    expect(view(sync(live.decide(caller('old-token-0123456789'), a)))).toEqual({ allowed: true, subject: 'token:sec/old' });
    live.setTokens([tok('sec/new', 'new-token-0123456789', ['ns/a'])]);
    expect(view(sync(live.decide(caller('old-token-0123456789'), a)))).toMatchObject({ allowed: false, status: 401, message: 'the proxy token is not valid' });
    expect(view(sync(live.decide(caller('new-token-0123456789'), a)))).toEqual({ allowed: true, subject: 'token:sec/new' });
    live.setTokens([]);
    expect(view(sync(live.decide(caller('new-token-0123456789'), a)))).toMatchObject({ allowed: false, status: 401 });
  });

  it('authenticated(): true for a known token whatever its connectors, false otherwise', async () => {
    expect(await ac.authenticated(caller(TOKEN_A))).toBe(true);
    expect(await ac.authenticated(caller(TOKEN_ALL, 'u'))).toBe(true);
    expect(await ac.authenticated(caller('not-a-known-token-at-all'))).toBe(false);
    expect(await ac.authenticated(NONE)).toBe(false);
    expect(await ac.authenticated({ kind: 'invalid', problem: 'x' })).toBe(false);
  });

  it('problems(): a connector with access=kubernetes and no reviewer', () => {
    expect(ac.problems([a, conn('kube', 'k', { access: 'kubernetes' }), conn('ns', 'open', { access: 'none' })])).toEqual([
      'connector kube/k: access mode "kubernetes" needs the Kubernetes source (--source kubernetes)',
    ]);
    expect(ac.problems([a, b])).toEqual([]);
  });

  it('kubernetes access without a reviewer: 503 UNAVAILABLE', () => {
    expect(view(sync(ac.decide(caller('sa-token'), conn('kube', 'k', { access: 'kubernetes' }))))).toEqual({
      allowed: false,
      status: 503,
      code: 'UNAVAILABLE',
      message: 'connector kube/k: access mode kubernetes is not available in this process',
      detail: undefined,
      headers: {},
    });
  });
});

/** A TokenReviewer that knows fixed tokens and grants, counting its calls; answers can be held back. */
class FakeReviewer implements TokenReviewer {
  authenticateCalls: string[] = [];
  authorizeCalls: string[] = [];
  users = new Map<string, string>([['sa-token-alice', 'system:serviceaccount:ns:alice']]);
  grants = new Set<string>(['system:serviceaccount:ns:alice ns/a']);
  failAuthenticate: Error | undefined;
  failAuthorize: Error | undefined;
  gate: Promise<void> | undefined;

  async authenticate(token: string): Promise<{ username: string } | undefined> {
    this.authenticateCalls.push(token);
    if (this.gate) await this.gate;
    if (this.failAuthenticate) throw this.failAuthenticate;
    const username = this.users.get(token);
    return username === undefined ? undefined : { username };
  }

  async authorize(user: { username: string }, c: Pick<Connector, 'namespace' | 'name'>): Promise<boolean> {
    this.authorizeCalls.push(`${user.username} ${c.namespace}/${c.name}`);
    if (this.failAuthorize) throw this.failAuthorize;
    return this.grants.has(`${user.username} ${c.namespace}/${c.name}`);
  }
}

describe('AccessControl: mode kubernetes', () => {
  const ALICE = 'system:serviceaccount:ns:alice';
  const T0 = 1_000_000;
  const a = conn('ns', 'a');
  const b = conn('ns', 'b');

  function setup(start = T0): { ac: AccessControl; reviewer: FakeReviewer; clock: { t: number } } {
    const reviewer = new FakeReviewer();
    const clock = { t: start };
    const ac = new AccessControl({ mode: 'kubernetes', reviewer, now: () => clock.t });
    return { ac, reviewer, clock };
  }

  it('allowed: the subject is the username', async () => {
    const { ac, reviewer } = setup();
    const d = ac.decide(caller('sa-token-alice', 'ignored'), a);
    expect(d).toBeInstanceOf(Promise);
    expect(view(await d)).toEqual({ allowed: true, subject: ALICE });
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice']);
    expect(reviewer.authorizeCalls).toEqual([`${ALICE} ns/a`]);
  });

  it('no credential: 401 with a Basic challenge, without asking the reviewer', () => {
    const { ac, reviewer } = setup();
    expect(view(sync(ac.decide(NONE, a)))).toMatchObject({ allowed: false, status: 401, code: 'UNAUTHORIZED', headers: CHALLENGE });
    expect(reviewer.authenticateCalls).toEqual([]);
  });

  it('a repeat within the TTL is answered from the cache, synchronously', async () => {
    const { ac, reviewer, clock } = setup();
    await ac.decide(caller('sa-token-alice'), a);
    clock.t = T0 + KUBERNETES_CACHE_TTL_MS - 1;
    expect(view(sync(ac.decide(caller('sa-token-alice'), a)))).toEqual({ allowed: true, subject: ALICE });
    expect(view(sync(ac.decide(caller('sa-token-alice', 'other-user'), a)))).toEqual({ allowed: true, subject: ALICE });
    expect(reviewer.authenticateCalls).toHaveLength(1);
    expect(reviewer.authorizeCalls).toHaveLength(1);
  });

  it('the cache is per connector and per token', async () => {
    const { ac, reviewer } = setup();
    reviewer.grants.add(`${ALICE} ns/b`);
    reviewer.users.set('sa-token-alice-2', ALICE);
    await ac.decide(caller('sa-token-alice'), a);
    expect(view(await ac.decide(caller('sa-token-alice'), b))).toEqual({ allowed: true, subject: ALICE });
    expect(view(await ac.decide(caller('sa-token-alice-2'), a))).toEqual({ allowed: true, subject: ALICE });
    // the TokenReview is cached per token (one for sa-token-alice across both connectors),
    // the SubjectAccessReview per token and connector
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice', 'sa-token-alice-2']);
    expect(reviewer.authorizeCalls).toEqual([`${ALICE} ns/a`, `${ALICE} ns/b`, `${ALICE} ns/a`]);
  });

  it('the entry expires on the injected clock (no cache read since it was stored)', async () => {
    const { ac, reviewer, clock } = setup();
    await ac.decide(caller('sa-token-alice'), a);
    clock.t = T0 + KUBERNETES_CACHE_TTL_MS + 1;
    const d = ac.decide(caller('sa-token-alice'), a);
    expect(d).toBeInstanceOf(Promise);
    expect(view(await d)).toEqual({ allowed: true, subject: ALICE });
    expect(reviewer.authenticateCalls).toHaveLength(2);
  });

  // Expiry is checked against the injected clock on every read (lru-cache's own ttl coarsens
  // its clock reading, so a clock moved right after a hit was once not seen).
  it('after a cache hit, advancing the clock past the TTL asks the reviewer again', async () => {
    const { ac, reviewer, clock } = setup();
    await ac.decide(caller('sa-token-alice'), a);
    expect(sync(ac.decide(caller('sa-token-alice'), a)).allowed).toBe(true); // a hit
    clock.t = T0 + KUBERNETES_CACHE_TTL_MS + 1;
    await ac.decide(caller('sa-token-alice'), a);
    expect(reviewer.authenticateCalls).toHaveLength(2);
  });

  // lru-cache took a start time of 0 to mean "no TTL"; expiry is ours now.
  it('an answer stored at clock 0 expires after the TTL', async () => {
    const { ac, reviewer, clock } = setup(0);
    await ac.decide(caller('sa-token-alice'), a);
    clock.t = KUBERNETES_CACHE_TTL_MS * 100;
    await ac.decide(caller('sa-token-alice'), a);
    expect(reviewer.authenticateCalls).toHaveLength(2);
  });

  it('denied: 403 DENIED, not cached (authorize is asked again, authenticate is not)', async () => {
    const { ac, reviewer } = setup();
    expect(view(await ac.decide(caller('sa-token-alice'), b))).toEqual({
      allowed: false,
      status: 403,
      code: 'DENIED',
      message: `${ALICE} may not get connector ns/b`,
      detail: { connector: 'ns/b' },
      headers: {},
    });
    const again = ac.decide(caller('sa-token-alice'), b);
    expect(again).toBeInstanceOf(Promise);
    expect(view(await again)).toMatchObject({ allowed: false, status: 403 });
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice']);
    expect(reviewer.authorizeCalls).toEqual([`${ALICE} ns/b`, `${ALICE} ns/b`]);
  });

  it('a token that does not authenticate: 401, refused for KUBERNETES_NEGATIVE_TTL_MS, authorize not asked', async () => {
    const { ac, reviewer, clock } = setup();
    const refused = {
      allowed: false,
      status: 401,
      code: 'UNAUTHORIZED',
      message: 'the proxy token is not valid',
      detail: undefined,
      headers: CHALLENGE,
    };
    expect(view(await ac.decide(caller('sa-token-unknown'), a))).toEqual(refused);
    // within the negative TTL the refusal is reused, for any connector
    expect(view(await ac.decide(caller('sa-token-unknown'), a))).toEqual(refused);
    clock.t = T0 + KUBERNETES_NEGATIVE_TTL_MS - 1;
    // the same answer for every connector: a refused token learns nothing about which exist
    expect(view(await ac.decide(caller('sa-token-unknown'), b))).toEqual(refused);
    expect(reviewer.authenticateCalls).toEqual(['sa-token-unknown']);
    // past it, the token is reviewed again
    clock.t = T0 + KUBERNETES_NEGATIVE_TTL_MS + 1;
    expect(view(await ac.decide(caller('sa-token-unknown'), a))).toEqual(refused);
    expect(reviewer.authenticateCalls).toEqual(['sa-token-unknown', 'sa-token-unknown']);
    expect(reviewer.authorizeCalls).toEqual([]);
  });

  it('a refused token that becomes valid is accepted once the negative TTL has passed', async () => {
    const { ac, reviewer, clock } = setup();
    expect(view(await ac.decide(caller('sa-token-bob'), a))).toMatchObject({ allowed: false, status: 401 });
    reviewer.users.set('sa-token-bob', 'system:serviceaccount:ns:bob');
    reviewer.grants.add('system:serviceaccount:ns:bob ns/a');
    clock.t = T0 + KUBERNETES_NEGATIVE_TTL_MS - 1;
    expect(view(await ac.decide(caller('sa-token-bob'), a))).toMatchObject({ allowed: false, status: 401 });
    clock.t = T0 + KUBERNETES_NEGATIVE_TTL_MS + 1;
    expect(view(await ac.decide(caller('sa-token-bob'), a))).toEqual({ allowed: true, subject: 'system:serviceaccount:ns:bob' });
    expect(reviewer.authenticateCalls).toEqual(['sa-token-bob', 'sa-token-bob']);
    expect(reviewer.authorizeCalls).toEqual(['system:serviceaccount:ns:bob ns/a']);
  });

  /** Errors a review can throw, and the suffix each gives the 503 message: never the error's own message. */
  const failures: [what: string, err: () => Error, suffix: string][] = [
    ['a plain error', () => new Error('connect ECONNREFUSED 10.0.0.1:443'), ''],
    ['a string code (a socket error)', () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }), ''],
    ['an API error with a numeric code', () => Object.assign(new Error('HTTP-Code: 500 Body: {"internal":"secret"}'), { code: 500 }), ': Kubernetes API status 500'],
    ['a TimeoutError', () => Object.assign(new Error('review timed out after 10000 ms'), { name: 'TimeoutError' }), ': no answer in time'],
  ];

  it.each(failures)('a failing TokenReview (%s): 503 UNAVAILABLE, not cached', async (_what, err, suffix) => {
    const { ac, reviewer } = setup();
    reviewer.failAuthenticate = err();
    expect(view(await ac.decide(caller('sa-token-alice'), a))).toEqual({
      allowed: false,
      status: 503,
      code: 'UNAVAILABLE',
      message: `connector ns/a: token review failed${suffix}`,
      detail: undefined,
      headers: {},
    });
    expect(reviewer.authorizeCalls).toEqual([]);
    reviewer.failAuthenticate = undefined;
    expect(view(await ac.decide(caller('sa-token-alice'), a))).toEqual({ allowed: true, subject: ALICE });
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice', 'sa-token-alice']);
    expect(reviewer.authorizeCalls).toEqual([`${ALICE} ns/a`]);
  });

  it.each(failures)('a failing SubjectAccessReview (%s): 503 UNAVAILABLE, not cached', async (_what, err, suffix) => {
    const { ac, reviewer } = setup();
    reviewer.failAuthorize = err();
    expect(view(await ac.decide(caller('sa-token-alice'), a))).toEqual({
      allowed: false,
      status: 503,
      code: 'UNAVAILABLE',
      message: `connector ns/a: access review failed${suffix}`,
      detail: undefined,
      headers: {},
    });
    reviewer.failAuthorize = undefined;
    expect(view(await ac.decide(caller('sa-token-alice'), a))).toEqual({ allowed: true, subject: ALICE });
    // the token's user stays cached; only the access review is asked again
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice']);
    expect(reviewer.authorizeCalls).toEqual([`${ALICE} ns/a`, `${ALICE} ns/a`]);
  });

  it('concurrent decisions share one TokenReview per token and one SubjectAccessReview per token and connector', async () => {
    const { ac, reviewer } = setup();
    let open!: () => void;
    reviewer.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const first = ac.decide(caller('sa-token-alice'), a);
    const second = ac.decide(caller('sa-token-alice', 'someone'), a);
    const otherConnector = ac.decide(caller('sa-token-alice'), b);
    expect([first, second, otherConnector].every((d) => d instanceof Promise)).toBe(true);
    open();
    const [d1, d2, d3] = await Promise.all([first, second, otherConnector]);
    expect(view(d1)).toEqual({ allowed: true, subject: ALICE });
    expect(view(d2)).toEqual({ allowed: true, subject: ALICE });
    expect(view(d3)).toMatchObject({ allowed: false, status: 403 });
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice']);
    expect(reviewer.authorizeCalls).toEqual([`${ALICE} ns/a`, `${ALICE} ns/b`]);
  });

  it('concurrent denied decisions share one review, and the next one asks authorize again', async () => {
    const { ac, reviewer } = setup();
    const [d1, d2] = await Promise.all([ac.decide(caller('sa-token-alice'), b), ac.decide(caller('sa-token-alice'), b)]);
    expect(view(d1)).toMatchObject({ allowed: false, status: 403 });
    expect(view(d2)).toMatchObject({ allowed: false, status: 403 });
    expect(reviewer.authenticateCalls).toHaveLength(1);
    expect(reviewer.authorizeCalls).toHaveLength(1);
    await ac.decide(caller('sa-token-alice'), b);
    expect(reviewer.authenticateCalls).toHaveLength(1);
    expect(reviewer.authorizeCalls).toHaveLength(2);
  });

  it('access=none on a connector is ignored: it still needs a ServiceAccount token; access=static uses the static tokens', async () => {
    const reviewer = new FakeReviewer();
    const ac = new AccessControl({ mode: 'kubernetes', reviewer, tokens: [tok('sec/t', 'static-token-012345', ['ns/*'])] });
    const open = conn('ns', 'open', { access: 'none' });
    expect(ac.modeFor(open)).toBe('kubernetes');
    expect(view(sync(ac.decide(NONE, open)))).toEqual({
      allowed: false,
      status: 401,
      code: 'UNAUTHORIZED',
      message: 'authentication required: send a proxy token as the Basic password or as a Bearer token',
      detail: undefined,
      headers: CHALLENGE,
    });
    expect(view(sync(ac.decide(caller('static-token-012345'), conn('ns', 's', { access: 'static' }))))).toEqual({ allowed: true, subject: 'token:sec/t' });
    expect(reviewer.authenticateCalls).toEqual([]);
    // a token on the access=none connector goes through the Kubernetes reviews
    expect(view(await ac.decide(caller('sa-token-alice'), open))).toEqual({
      allowed: false,
      status: 403,
      code: 'DENIED',
      message: `${ALICE} may not get connector ns/open`,
      detail: { connector: 'ns/open' },
      headers: {},
    });
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice']);
    expect(reviewer.authorizeCalls).toEqual([`${ALICE} ns/open`]);
  });

  it('authenticated(): a known static token without asking; otherwise the cached TokenReview; errors are false', async () => {
    const reviewer = new FakeReviewer();
    const clock = { t: T0 };
    const ac = new AccessControl({ mode: 'kubernetes', reviewer, tokens: [tok('sec/t', 'static-token-012345', ['ns/*'])], now: () => clock.t });
    expect(await ac.authenticated(caller('static-token-012345'))).toBe(true);
    expect(reviewer.authenticateCalls).toEqual([]);
    expect(await ac.authenticated(NONE)).toBe(false);
    expect(await ac.authenticated({ kind: 'invalid', problem: 'x' })).toBe(false);
    expect(reviewer.authenticateCalls).toEqual([]);

    expect(await ac.authenticated(caller('sa-token-alice'))).toBe(true);
    expect(await ac.authenticated(caller('sa-token-unknown'))).toBe(false);
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice', 'sa-token-unknown']);
    // both answers are cached: a failing reviewer is not asked
    reviewer.failAuthenticate = new Error('down');
    expect(await ac.authenticated(caller('sa-token-alice'))).toBe(true);
    expect(await ac.authenticated(caller('sa-token-unknown'))).toBe(false);
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice', 'sa-token-unknown']);
    // the same cache serves decide(): only the access review is asked
    reviewer.failAuthenticate = undefined;
    expect(view(await ac.decide(caller('sa-token-alice'), a))).toEqual({ allowed: true, subject: ALICE });
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice', 'sa-token-unknown']);
    expect(reviewer.authorizeCalls).toEqual([`${ALICE} ns/a`]);

    // a token not cached, with a failing reviewer: false, and the failure is not cached
    reviewer.users.set('sa-token-alice-2', ALICE);
    reviewer.failAuthenticate = new Error('down');
    expect(await ac.authenticated(caller('sa-token-alice-2'))).toBe(false);
    reviewer.failAuthenticate = undefined;
    expect(await ac.authenticated(caller('sa-token-alice-2'))).toBe(true);
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice', 'sa-token-unknown', 'sa-token-alice-2', 'sa-token-alice-2']);

    // past the TTL the reviewer is asked again
    clock.t = T0 + KUBERNETES_CACHE_TTL_MS + 1;
    reviewer.failAuthenticate = new Error('down');
    expect(await ac.authenticated(caller('sa-token-alice'))).toBe(false);
    expect(reviewer.authenticateCalls).toEqual(['sa-token-alice', 'sa-token-unknown', 'sa-token-alice-2', 'sa-token-alice-2', 'sa-token-alice']);
  });

  it('problems(): none with a reviewer; every connector without one, access=none included', () => {
    const { ac } = setup();
    expect(ac.problems([a, b, conn('ns', 'open', { access: 'none' })])).toEqual([]);
    const bare = new AccessControl({ mode: 'kubernetes' });
    expect(bare.problems([a, b, conn('ns', 'open', { access: 'none' }), conn('ns', 's', { access: 'static' })])).toEqual([
      'connector ns/a: access mode "kubernetes" needs the Kubernetes source (--source kubernetes)',
      'connector ns/b: access mode "kubernetes" needs the Kubernetes source (--source kubernetes)',
      'connector ns/open: access mode "kubernetes" needs the Kubernetes source (--source kubernetes)',
    ]);
  });
});
