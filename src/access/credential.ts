/**
 * The credential a caller presents to the proxy itself: HTTP Basic (any username, the token as
 * the password) or `Authorization: Bearer <token>`. Pure; reads raw headers so that duplicate
 * Authorization headers (which Node would silently collapse to the first) are seen and refused.
 */

export interface Caller {
  /** The proxy token (Basic password or Bearer token). Never logged. */
  token: string;
  /** The Basic username, or undefined for Bearer. Informational only. */
  username: string | undefined;
}

export type PresentedCredential = { kind: 'none' } | { kind: 'caller'; caller: Caller } | { kind: 'invalid'; problem: string };

const NONE: PresentedCredential = { kind: 'none' };

export function presentedCredential(rawHeaders: readonly string[]): PresentedCredential {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length !== 13 || rawHeaders[i]!.toLowerCase() !== 'authorization') continue;
    if (value !== undefined) return { kind: 'invalid', problem: 'more than one Authorization header' };
    value = rawHeaders[i + 1]!;
  }
  if (value === undefined) return NONE;
  return parseAuthorization(value);
}

export function parseAuthorization(value: string): PresentedCredential {
  const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(value);
  if (!m) return { kind: 'invalid', problem: 'malformed Authorization header' };
  const scheme = m[1]!.toLowerCase();
  const param = m[2]!;
  if (scheme === 'bearer') return { kind: 'caller', caller: { token: param, username: undefined } };
  if (scheme !== 'basic') return { kind: 'invalid', problem: `unsupported Authorization scheme ${JSON.stringify(m[1]!.slice(0, 20))}` };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(param)) return { kind: 'invalid', problem: 'Basic credentials are not base64' };
  const decoded = Buffer.from(param, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return { kind: 'invalid', problem: 'Basic credentials lack a ":"' };
  const token = decoded.slice(colon + 1);
  // Clients without credentials for a host send an empty Basic pair (skopeo sends ":"): none.
  if (token === '') return NONE;
  return { kind: 'caller', caller: { token, username: decoded.slice(0, colon) } };
}
