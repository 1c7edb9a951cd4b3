/** The scrubber: every form a credential takes in an upstream's text is removed, headers and error bodies alike; data is not touched. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { credentialScrubber, MAX_ERROR_BODY, REDACTED, Scrubber, scrubLayer } from '../../src/upstream/scrub.ts';
import type { UpstreamRequest, UpstreamResponse } from '../../src/upstream/types.ts';

const CREDS = { username: 'robot$ci', password: 'p@ss w0rd/+X' };

describe('Scrubber', () => {
  const s = credentialScrubber(CREDS);
  const forms: [what: string, text: string][] = [
    ['plain', CREDS.password],
    ['URL-encoded', encodeURIComponent(CREDS.password)],
    ['form-encoded', new URLSearchParams({ p: CREDS.password }).toString().slice(2)],
    ['base64', Buffer.from(CREDS.password).toString('base64')],
    ['Basic user:password', Buffer.from(`${CREDS.username}:${CREDS.password}`).toString('base64')],
    ['the username', CREDS.username],
  ];
  it.each(forms)('removes the %s form', (_what, secret) => {
    expect(s.text(`before ${secret} after`)).toBe(`before ${REDACTED} after`);
    expect(s.finds(`x ${secret}`)).toBe(true);
  });

  it('removes a username only as a whole word, and short ones not at all', () => {
    const named = new Scrubber([], 'ci-bot');
    expect(named.text('user ci-bot denied; ci-bots and aci-bot stay')).toBe(`user ${REDACTED} denied; ci-bots and aci-bot stay`);
    expect(new Scrubber([], 'ci').text('specific ci')).toBe('specific ci');
  });

  it("with() adds one request's credential; the longest secret goes first", () => {
    const t = s.with(['Bearer tok-123456', 'tok-123456']);
    expect(t.text('got Bearer tok-123456 and tok-123456')).toBe(`got ${REDACTED} and ${REDACTED}`);
    expect(new Scrubber([]).empty).toBe(true);
    expect(credentialScrubber(undefined).empty).toBe(true);
  });
});

describe('scrubLayer', () => {
  const req = (auth?: string, method = 'GET'): UpstreamRequest => ({
    method,
    path: '/v2/a/manifests/1',
    headers: auth ? ['authorization', auth] : [],
    body: null,
    scopes: [],
    traffic: 'small',
  });
  const res = (status: number, body: Buffer | string, headers: Record<string, string> = {}): UpstreamResponse => ({
    statusCode: status,
    headers: { ...headers },
    body: Readable.from([Buffer.from(body)], { objectMode: false }),
  });
  const text = async (r: UpstreamResponse): Promise<string> => {
    let out = '';
    for await (const c of r.body) out += (c as Buffer).toString();
    return out;
  };

  it('error bodies and headers lose the sent Authorization and the credentials; the length follows', async () => {
    const layer = scrubLayer(credentialScrubber(CREDS));
    const sent = 'Bearer tok-abcdef';
    const out = await layer(async () => res(401, `{"message":"bad ${sent} for ${CREDS.username}"}`, { 'x-echo': sent, 'content-length': '99' }))(req(sent));
    const body = await text(out);
    expect(body).toBe(`{"message":"bad ${REDACTED} for ${REDACTED}"}`);
    expect(out.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(out.headers['x-echo']).toBe(REDACTED);
  });

  it('successful bodies are data: passed as they are (headers still scrubbed)', async () => {
    const layer = scrubLayer(credentialScrubber(CREDS));
    const original = res(200, `blob bytes ${CREDS.password}`, { etag: `"${CREDS.password}"` });
    const out = await layer(async () => original)(req('Basic x'));
    expect(out.body).toBe(original.body);
    expect(out.headers['etag']).toBe(`"${REDACTED}"`);
  });

  it('an error body is read up to the bound; a compressed one is withheld', async () => {
    const layer = scrubLayer(credentialScrubber(CREDS));
    const long = await layer(async () => res(500, 'x'.repeat(MAX_ERROR_BODY * 2)))(req('Basic y'));
    expect((await text(long)).length).toBe(MAX_ERROR_BODY);
    const gz = await layer(async () => res(400, Buffer.from([0x1f, 0x8b, 1, 2]), { 'content-encoding': 'gzip' }))(req('Basic y'));
    expect(await text(gz)).toContain('compressed error body was withheld');
    expect(gz.headers['content-encoding']).toBeUndefined();
  });

  it('an anonymous request to an anonymous connector passes untouched', async () => {
    const original = res(404, 'nothing to hide');
    expect(await scrubLayer(credentialScrubber(undefined))(async () => original)(req())).toBe(original);
  });
});
