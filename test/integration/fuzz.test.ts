/**
 * Property-based fuzzing of the proxy's front door with fast-check (fixed seed, bounded runs):
 * request paths built from the API's pieces and from hostile ones (percent-encodings, dot
 * segments, upper case, over-long names, bad digests and tags), query strings, header names and
 * values, methods and bodies, all sent byte for byte on raw sockets to an in-process proxy in
 * front of a scripted upstream that answers 200 to everything and records every request.
 *
 * For every case: the proxy answers; it never answers 5xx (the upstream never does, so any 5xx
 * would be the proxy's own); every non-2xx answer (all the proxy's own) is an OCI error body;
 * whatever reaches the upstream is a valid API path by the grammar of src/distribution/names.ts,
 * is the client's path with only the connector prefix removed, carries the client's method and the
 * connector's own token (from the token-server fixture), never a client credential. Afterwards the
 * proxy still answers /healthz, and no answer or log line holds the connector's password, a token
 * the token server issued, or a client credential.
 */
import { METHODS } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestProblem, nameProblem, tagProblem } from '../../src/distribution/names.ts';
import { Exposure, header, isOciErrorBody, jsonOf, type RawAnswer, rawExchange } from '../helpers/fault-tools.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { type RunningProxy, startProxy } from '../helpers/proxy.ts';
import { startScriptedUpstream, type ScriptedUpstream } from '../helpers/scripted-upstream.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';

const SEED = 20_261_128;
const RUNS = 1000;
const MANIFEST_MAX = 4096;
const PREFIXES = ['/namespaces/default/connectors/upstream', '/namespaces/team/connectors/other'];
const USER = { username: 'fuzz-robot', password: 'fuzz-upstream-Pa55word' };
const CLIENT_SECRETS = ['secret-client-token', 'Y2k6c2VjcmV0LWNsaWVudC10b2tlbg=='];

let ts: TokenServer;
let upstream: ScriptedUpstream;
let proxy: RunningProxy;
let port: number;
const exposure = new Exposure();

beforeAll(async () => {
  ts = await startTokenServer({ users: { [USER.username]: { password: USER.password, rights: () => ['*'] } } });
  // Token auth like a real registry's, but every API request is answered 200 whatever it carries:
  // what the proxy forwards is judged afterwards, from what this records.
  upstream = await startScriptedUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      const auth = req.headers['authorization'];
      if (req.url === '/v2/' && !(auth?.startsWith('Bearer ') && ts.tokens.includes(auth.slice(7)))) {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${ts.realm}",service="${ts.service}"`, 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
      res.end(req.method === 'HEAD' ? undefined : '{}');
    });
  }, false);
  proxy = await startProxy(
    [connectorFor(upstream.url, { name: 'upstream', credentials: USER }), connectorFor(upstream.url, { name: 'other', namespace: 'team', credentials: USER })],
    { defaultConnector: 'default/upstream', manifestMaxBytes: MANIFEST_MAX },
  );
  exposure.watch(() => proxy.logs.join('\n'));
  port = Number(proxy.host.split(':')[1]);
  // Let each connector learn the upstream's (open) challenge first: those probes are not the cases'.
  for (const p of ['', ...PREFIXES]) {
    const a = await rawExchange(port, `GET /v2${p}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(a?.status).toBe(200);
  }
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
  await ts?.stop();
});

// ---------------------------------------------------------------------------------------------
// The grammar oracle: is a path the upstream received a valid Distribution API request?

const UPLOAD_ID = /^[A-Za-z0-9._~=+-]{1,256}$/;

function referenceProblem(ref: string): string | null {
  return ref.includes(':') ? digestProblem(ref) : tagProblem(ref);
}

/** null when `method url` is a valid API request by the spec's grammar; else why not. */
function upstreamProblem(method: string, url: string): string | null {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  if (!path.startsWith('/v2/')) return `path ${path} is outside /v2/`;
  const rest = path.slice(4).split('/');
  if (rest.length === 1 && (rest[0] === '' || rest[0] === '_catalog')) return null;
  const n = rest.length;
  const candidates: { nameEnd: number; check: () => string | null }[] = [];
  const last = rest[n - 1]!;
  const prev = rest[n - 2];
  if (prev === 'tags' && last === 'list') candidates.push({ nameEnd: n - 2, check: () => null });
  if (prev === 'manifests') {
    candidates.push({
      nameEnd: n - 2,
      check: () =>
        referenceProblem(last) ??
        (method === 'PUT'
          ? (params
              .getAll('tag')
              .map(tagProblem)
              .find((p) => p !== null) ?? null)
          : null),
    });
  }
  if (prev === 'referrers') candidates.push({ nameEnd: n - 2, check: () => digestProblem(last) });
  const uploadStart = (): string | null =>
    [...params.getAll('digest'), ...params.getAll('mount')].map(digestProblem).find((p) => p !== null) ??
    params
      .getAll('from')
      .map(nameProblem)
      .find((p) => p !== null) ??
    null;
  if (prev === 'blobs' && last === 'uploads') candidates.push({ nameEnd: n - 2, check: uploadStart });
  if (rest[n - 3] === 'blobs' && prev === 'uploads') {
    candidates.push({
      nameEnd: n - 3,
      check: () =>
        last === ''
          ? uploadStart()
          : !UPLOAD_ID.test(last)
            ? `upload id ${last}`
            : method === 'PUT'
              ? (params
                  .getAll('digest')
                  .map(digestProblem)
                  .find((p) => p !== null) ?? null)
              : null,
    });
  }
  if (prev === 'blobs') candidates.push({ nameEnd: n - 2, check: () => digestProblem(last) });
  if (candidates.length === 0) return `no endpoint in ${path}`;
  const problems: string[] = [];
  for (const c of candidates) {
    const p = nameProblem(rest.slice(0, c.nameEnd).join('/')) ?? c.check();
    if (p === null) return null;
    problems.push(p);
  }
  return problems.join('; ');
}

/** What the upstream should receive for a client target: the connector prefix removed, nothing else changed. */
function expectedForward(target: string): string {
  let t = target;
  for (const p of PREFIXES) {
    if (t.startsWith('/v2' + p + '/') || t.startsWith('/v2' + p + '?') || t === '/v2' + p) {
      t = '/v2' + t.slice(3 + p.length);
      break;
    }
  }
  const q = t.indexOf('?');
  const path = q < 0 ? t : t.slice(0, q);
  // The query goes upstream re-encoded from its parsed parameters, never as the client's bytes,
  // and without `ns` (a mirror request's registry: a lookup key, never forwarded).
  const params = new URLSearchParams(q < 0 ? '' : t.slice(q + 1));
  params.delete('ns');
  return (path === '/v2' ? '/v2/' : path) + (params.size ? '?' + params.toString() : '');
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const chars = (s: string): string[] => [...s];
const LOWER = chars('abcdefghijklmnopqrstuvwxyz0123456789');
const HEX = chars('0123456789abcdef');
/** Printable ASCII the HTTP parser takes in a request target, but '%' (percent-encodings come whole). */
const TARGET_CHARS = chars('!"$&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~#');
/** Well-formed percent-encodings: separators, dots, NUL, space, letters, a three-byte UTF-8 character, '%' itself. */
const GOOD_PERCENT = ['%2F', '%2f', '%2e', '%2E', '%00', '%20', '%41', '%61', '%3A', '%40', '%5C', '%3F', '%23', '%E2%82%AC', '%25', '%2e%2e'];
/** Malformed ones: not hex, truncated, or not UTF-8 (an overlong '/', a lone continuation byte). */
const BAD_PERCENT = ['%', '%z', '%zz', '%2', '%bb', '%ff', '%c3%28', '%C0%AF', '%e2%82'];
const TCHARS = chars("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
const VALUE_CHARS = [...chars(' \t!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~'), '\u00e9', '\u00ff', '\u0080'];

const alnum = fc.string({ unit: fc.constantFrom(...LOWER), minLength: 1, maxLength: 8 });
const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...HEX), minLength: n, maxLength: n });
const pieces = (percents: string[]): fc.Arbitrary<string> =>
  fc.string({ unit: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...TARGET_CHARS) }, { weight: 1, arbitrary: fc.constantFrom(...percents) }), maxLength: 12 });
const fuzz = pieces(GOOD_PERCENT);

const validComponent = fc
  .tuple(alnum, fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), alnum), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([sep, a]) => sep + a).join(''));
const component = fc.oneof(
  { weight: 20, arbitrary: validComponent },
  { weight: 2, arbitrary: fuzz },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '..',
      '.',
      '',
      'A',
      'Team',
      '_catalog',
      'manifests',
      'blobs',
      'uploads',
      'tags',
      'list',
      'namespaces',
      'connectors',
      'v2',
      'a'.repeat(300),
      'a-',
      '-a',
      'a..b',
      'a___b',
    ),
  },
);
const name = fc.array(component, { minLength: 1, maxLength: 4 }).map((cs) => cs.join('/'));
const digest = fc.oneof(
  { weight: 4, arbitrary: hex(64).map((h) => 'sha256:' + h) },
  { weight: 1, arbitrary: hex(128).map((h) => 'sha512:' + h) },
  { weight: 1, arbitrary: hex(64).map((h) => 'blake3:' + h) },
  { weight: 1, arbitrary: hex(64).map((h) => 'sha256:' + h.toUpperCase()) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 0, max: 70 })
      .chain(hex)
      .map((h) => 'sha256:' + h),
  },
  { weight: 1, arbitrary: hex(32).map((h) => 'md5:' + h) },
  { weight: 1, arbitrary: hex(64).map((h) => 'sha256+b64:' + h) },
  { weight: 1, arbitrary: fc.constantFrom('sha256:', ':abc', 'sha256', 'SHA256:' + 'a'.repeat(64), 'sha256:' + 'g'.repeat(64)) },
  { weight: 1, arbitrary: fuzz },
);
const tag = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/) },
  { weight: 1, arbitrary: fc.constantFrom('-x', '.x', 'a'.repeat(128), 'a'.repeat(129), 'latest', 'v1.0') },
  { weight: 1, arbitrary: fuzz },
);
const reference = fc.oneof({ weight: 3, arbitrary: tag }, { weight: 2, arbitrary: digest });
const uploadId = fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9._~=+-]{1,40}$/), fc.constant('a'.repeat(257)), fuzz);
const tail = fc.oneof(
  reference.map((r) => '/manifests/' + r),
  digest.map((d) => '/blobs/' + d),
  fc.constantFrom('/blobs/uploads/', '/blobs/uploads', '/tags/list', '/tags/list/', '/manifests/', '/blobs/'),
  uploadId.map((u) => '/blobs/uploads/' + u),
  digest.map((d) => '/referrers/' + d),
  fuzz.map((f) => '/' + f),
);
const prefix = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 4, arbitrary: fc.constantFrom(...PREFIXES) },
  { weight: 1, arbitrary: fc.tuple(component, component).map(([ns, n]) => `/namespaces/${ns}/connectors/${n}`) },
);
const queryValue = fc.oneof(digest, name, tag, pieces([...GOOD_PERCENT, ...BAD_PERCENT]));
const query = fc.option(
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom('digest', 'mount', 'from', 'n', 'last', 'ns', 'tag', '_state'), alnum), queryValue), { minLength: 1, maxLength: 4 })
    .map((pairs) => '?' + pairs.map(([k, v]) => `${k}=${v}`).join('&')),
  { nil: '' },
);
const target = (percents: string[]): fc.Arbitrary<string> => {
  const f = percents === GOOD_PERCENT ? fuzz : pieces(percents);
  return fc.oneof(
    { weight: 12, arbitrary: fc.tuple(prefix, name, tail, query).map(([p, n, t, q]) => `/v2${p}/${n}${t}${q}`) },
    { weight: 2, arbitrary: fc.tuple(prefix, fc.constantFrom('', '/', '/_catalog', '/_catalog/'), query).map(([p, t, q]) => `/v2${p}${t}${q}`) },
    { weight: 1, arbitrary: fc.tuple(prefix, f, f).map(([p, a, b]) => `/v2${p}/${a}/${b}`) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('', '/v2', '/v2/', '/healthz', '/readyz', '/connectors', '/connectors/default/upstream', '/connectors/default/upstream/configurations'), f)
        .map(([a, b]) => `${a}/${b}`),
    },
  );
};
const method = fc.oneof(
  { weight: 8, arbitrary: fc.constant('GET') },
  { weight: 3, arbitrary: fc.constant('HEAD') },
  { weight: 6, arbitrary: fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom(...METHODS.filter((m) => m !== 'CONNECT')) },
);
const headerName = fc.oneof(
  fc.constantFrom(
    'Authorization',
    'authorization',
    'Accept',
    'Content-Type',
    'Range',
    'Content-Range',
    'X-Forwarded-Host',
    'X-Forwarded-Proto',
    'Forwarded',
    'Cookie',
    'TE',
    'Upgrade',
    'Proxy-Authorization',
    'If-None-Match',
    'Docker-Content-Digest',
    'Keep-Alive',
    'Trailer',
    'X-Real-IP',
  ),
  fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 12 }).map((s) => 'X-' + s),
);
const headerValue = fc.oneof(
  fc.constantFrom(
    'Basic Y2k6c2VjcmV0LWNsaWVudC10b2tlbg==',
    'Bearer secret-client-token',
    'bytes=0-10',
    '0-',
    'application/vnd.oci.image.manifest.v1+json',
    'trailers',
    'h2c',
    '*/*',
  ),
  fc.string({ unit: fc.constantFrom(...VALUE_CHARS), maxLength: 40 }).map((s) => s.trim()),
);
const host = fc.constantFrom('HOST', 'c-upstream.default', 'c-other.team.svc.cluster.local:5000', 'C-OTHER.TEAM', 'evil.example', '127.0.0.2:1', 'a@b', '[::1]:5000');
const body = fc.record({
  size: fc.oneof(
    { weight: 5, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 2048 }) },
    { weight: 2, arbitrary: fc.integer({ min: 2049, max: 32 * 1024 }) },
  ),
  chunked: fc.boolean(),
});

interface Case {
  method: string;
  target: string;
  host: string;
  headers: [string, string][];
  body: { size: number; chunked: boolean };
}
const caseOf = (percents: string[]): fc.Arbitrary<Case> =>
  fc.record({ method, target: target(percents), host, headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }), body });

function wire(c: Case): Buffer {
  const lines = [`${c.method} ${c.target} HTTP/1.1`, `Host: ${c.host === 'HOST' ? proxy.host : c.host}`, ...c.headers.map(([n, v]) => `${n}: ${v}`)];
  let payload = Buffer.alloc(0);
  if (c.body.size > 0) {
    const bytes = Buffer.alloc(c.body.size, 0x61);
    if (c.body.chunked) {
      lines.push('Transfer-Encoding: chunked');
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 1000) {
        const part = bytes.subarray(i, i + 1000);
        parts.push(Buffer.from(part.length.toString(16) + '\r\n'), part, Buffer.from('\r\n'));
      }
      payload = Buffer.concat([...parts, Buffer.from('0\r\n\r\n')]);
    } else {
      lines.push(`Content-Length: ${bytes.length}`);
      payload = bytes;
    }
  }
  lines.push('Connection: close');
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), payload]);
}

// ---------------------------------------------------------------------------------------------

const statuses = new Map<string, number>();
let forwarded = 0;

async function send(c: Case): Promise<{ answer: RawAnswer | null; reached: ScriptedUpstream['seen'] }> {
  const before = upstream.seen.length;
  const answer = await rawExchange(port, wire(c), { head: c.method === 'HEAD', timeoutMs: 5_000 });
  if (answer) exposure.add(answer.raw);
  // The proxy's challenge probe (GET /v2/ with no token) is not the case's request.
  return { answer, reached: upstream.seen.slice(before).filter((s) => !(s.url === '/v2/' && s.headers['authorization'] === undefined)) };
}

/**
 * 2xx answers the proxy gives itself: health, management, metrics, and the API base GET /v2/
 * (with or without a connector prefix: once an upstream has answered, pings are answered locally).
 */
const LOCAL_OK = /^\/(healthz|readyz|connectors|metrics)(\/|$|\?)|^\/v2\/?(\?|$)|^\/v2\/namespaces\/[^/?]+\/connectors\/[^/?]+\/?(\?|$)/;

describe('fuzzing the front door', () => {
  it(`${RUNS} hostile requests: no crash, no 5xx, OCI errors, nothing invalid forwarded (seed ${SEED})`, async () => {
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(caseOf(GOOD_PERCENT), async (c) => {
        cases++;
        const { answer, reached } = await send(c);
        expect(answer, 'the proxy answers').not.toBeNull();
        const a = answer!;
        const code = (jsonOf(a) as { errors?: { code?: string }[] } | undefined)?.errors?.[0]?.code;
        const key = code ? `${a.status} ${code}` : String(a.status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        expect(a.status, `never a 5xx of its own: ${a.body.toString().slice(0, 300)}`).toBeLessThan(500);
        expect(a.complete, 'a complete answer').toBe(true);
        if (a.status < 200 || a.status >= 300) {
          // The upstream only ever answers 200: this is the proxy's own answer.
          expect(reached, 'an error answered without forwarding').toEqual([]);
          if (c.method === 'HEAD') expect(header(a, 'content-type')).toMatch(/^application\/json/);
          else expect(isOciErrorBody(jsonOf(a)), `an OCI error body: ${a.body.toString().slice(0, 200)}`).toBe(true);
        } else if (!LOCAL_OK.test(c.target)) {
          expect(reached.length, 'a 2xx came from the upstream').toBe(1);
        }
        expect(reached.length, 'at most one upstream request per client request').toBeLessThanOrEqual(1);
        for (const r of reached) {
          forwarded++;
          expect(upstreamProblem(r.method, r.url), `forwarded ${r.method} ${r.url}`).toBeNull();
          expect(r.url).toBe(expectedForward(c.target));
          expect(r.method).toBe(c.method);
          // The connector's own token, never what the client sent.
          const auth = r.headers['authorization'];
          expect(auth?.startsWith('Bearer ') && ts.tokens.includes(auth.slice(7)), `upstream Authorization ${auth}`).toBe(true);
          for (const h of ['proxy-authorization', 'cookie', 'forwarded', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'te', 'upgrade', 'keep-alive', 'trailer']) {
            expect([h, r.headers[h]]).toEqual([h, undefined]);
          }
          expect(r.headers['host']).toBe(`127.0.0.1:${upstream.port}`);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: false },
    );
    const health = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(health?.status).toBe(200);
    const histogram = [...statuses.entries()]
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([s, n]) => `${s}×${n}`)
      .join(' ');
    console.log(`fuzz: ${cases} cases run (seed ${SEED}), ${forwarded} forwarded upstream, statuses ${histogram}`);
    expect(cases).toBe(RUNS);
  }, 60_000);

  // A request path with a malformed percent-encoding ('%zz', a lone '%', '%2', or bytes that are
  // not UTF-8 such as '%bb') is never forwarded, and its answer is an OCI error body (404
  // UNSUPPORTED on the API, as the README promises for any percent-encoding), not the 400 body of
  // Fastify's router (FST_ERR_BAD_URL): src/distribution/route.ts refuses such API paths, and
  // src/http/app.ts answers the ones Fastify cannot decode.
  it('paths with malformed percent-encodings are answered with OCI error bodies, 404 UNSUPPORTED on the API (60 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(
        caseOf(BAD_PERCENT).filter((c) => BAD_PERCENT.some((p) => c.target.split('?')[0]!.includes(p))),
        async (c) => {
          const { answer, reached } = await send(c);
          expect(reached).toEqual([]);
          expect(answer).not.toBeNull();
          expect(answer!.status).toBeLessThan(500);
          if (c.method !== 'HEAD') expect(isOciErrorBody(jsonOf(answer!)), answer!.body.toString().slice(0, 200)).toBe(true);
        },
      ),
      { seed: SEED, numRuns: 60, endOnFailure: true },
    );
  });

  it('no answer or log line holds the connector password, a token the token server issued, or a client credential', () => {
    const secrets = [USER.password, ...ts.secrets(), ...CLIENT_SECRETS];
    expect(ts.tokens.length).toBeGreaterThan(0);
    console.log(`fuzz leak scan: ${secrets.length} secrets over ${exposure.size()} characters of answers and logs`);
    expect(exposure.find(secrets)).toEqual([]);
  });

  it('the grammar oracle itself accepts the API and refuses what it must', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    for (const ok of [
      '/v2/',
      '/v2/_catalog?n=1',
      '/v2/a/b/manifests/v1',
      `/v2/a/manifests/${d}`,
      `/v2/a/blobs/${d}`,
      '/v2/a/blobs/uploads/',
      '/v2/a/blobs/uploads',
      `/v2/a/blobs/uploads/?mount=${d}&from=b/c`,
      '/v2/a/blobs/uploads/u-1?_state=x',
      '/v2/a/tags/list?n=1&last=b',
      `/v2/a/referrers/${d}`,
      '/v2/a/manifests/manifests/v1',
    ]) {
      expect([ok, upstreamProblem('GET', ok)]).toEqual([ok, null]);
    }
    for (const bad of [
      '/v2/A/manifests/v1',
      '/v2/a/manifests/-x',
      '/v2/a/blobs/sha256:abc',
      '/v2/a%2Fb/manifests/v1',
      '/v2/../manifests/v1',
      '/v2/a//b/manifests/v1',
      '/v2/a/blobs/uploads/?digest=md5:x',
      '/v2/a/blobs/uploads/?from=A',
      '/x/v2/a/manifests/v1',
      '/v2/a/unknown',
    ]) {
      expect([bad, upstreamProblem('GET', bad) === null]).toEqual([bad, false]);
    }
    expect(upstreamProblem('PUT', '/v2/a/manifests/v1?tag=-bad')).not.toBeNull();
    expect(expectedForward('/v2/namespaces/team/connectors/other/a/manifests/v1?x=1')).toBe('/v2/a/manifests/v1?x=1');
    expect(expectedForward('/v2/namespaces/default/connectors/upstream')).toBe('/v2/');
  });
});
