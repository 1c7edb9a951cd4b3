/**
 * `WWW-Authenticate` parsing (RFC 9110 §11.6.1): several challenges in one header or in several
 * headers, auth-params with tokens or quoted strings (backslash escapes), token68,
 * case-insensitive scheme and parameter names. Pure.
 *
 *   challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *
 * The header is split on commas outside quoted strings; each element then either starts a new
 * challenge (`scheme`, `scheme token68`, `scheme name=value`) or adds a parameter to the current
 * one (`name=value`).
 */

export interface Challenge {
  /** Lower-cased scheme, e.g. `bearer`, `basic`. */
  scheme: string;
  /** Lower-cased parameter names to unescaped values. */
  params: Record<string, string>;
  token68?: string;
}

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const PARAM_RE = new RegExp(`^(${TOKEN})[ \\t]*=[ \\t]*("(?:[^"\\\\]|\\\\.)*"|${TOKEN})$`, 's');
const SCHEME_RE = new RegExp(`^(${TOKEN})(?:[ \\t]+(.*))?$`, 's');
const TOKEN68_RE = /^[A-Za-z0-9\-._~+/]+=*$/;

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let inQuote = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (inQuote) {
      cur += ch;
      if (ch === '\\' && i + 1 < s.length) cur += s[++i];
      else if (ch === '"') inQuote = false;
    } else if (ch === '"') {
      inQuote = true;
      cur += ch;
    } else if (ch === ',') {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function unquote(v: string): string {
  if (!v.startsWith('"')) return v;
  return v.slice(1, -1).replace(/\\(.)/gs, '$1');
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseChallenges(h));
  const out: Challenge[] = [];
  let current: Challenge | undefined;
  for (const element of splitTopLevel(header)) {
    const param = PARAM_RE.exec(element);
    if (param && current && current.token68 === undefined) {
      current.params[param[1]!.toLowerCase()] = unquote(param[2]!);
      continue;
    }
    const start = SCHEME_RE.exec(element);
    if (!start) {
      current = undefined; // malformed element: ignore it and what follows until a new challenge
      continue;
    }
    current = { scheme: start[1]!.toLowerCase(), params: {} };
    out.push(current);
    const rest = start[2]?.trim();
    if (!rest) continue;
    const first = PARAM_RE.exec(rest);
    if (first) current.params[first[1]!.toLowerCase()] = unquote(first[2]!);
    else if (TOKEN68_RE.test(rest)) current.token68 = rest;
    else current = undefined;
  }
  return out;
}

/** The challenge the proxy answers: Bearer (with a realm) first, then Basic. */
export function supportedChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer' && c.params['realm']) ?? challenges.find((c) => c.scheme === 'basic');
}
