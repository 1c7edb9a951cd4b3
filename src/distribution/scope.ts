/**
 * Token scopes (CNCF distribution token auth): computed from the request before it is sent,
 * so a blob upload gets its token before its body goes out. Pure.
 *
 *   scope = type ":" name ":" action *("," action)     e.g. repository:library/ubuntu:pull
 *
 * The name may contain ':' (a registry port), so the type ends at the first colon and the
 * actions begin after the last.
 */
import type { Route } from './route.ts';

export interface Scope {
  type: string;
  name: string;
  actions: string[];
}

export function parseScope(s: string): Scope | undefined {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first <= 0 || last <= first + 1 || last === s.length - 1) return undefined; // empty type, name or actions
  const actions = s
    .slice(last + 1)
    .split(',')
    .filter(Boolean);
  if (actions.length === 0) return undefined;
  return { type: s.slice(0, first), name: s.slice(first + 1, last), actions };
}

/** Scopes from a challenge's `scope` parameter: space-separated. */
export function parseScopes(param: string | undefined): Scope[] {
  if (!param) return [];
  return param
    .split(' ')
    .filter(Boolean)
    .map(parseScope)
    .filter((s): s is Scope => s !== undefined);
}

export function formatScope(s: Scope): string {
  return `${s.type}:${s.name}:${[...new Set(s.actions)].sort().join(',')}`;
}

/** Merges scopes of the same resource, actions as a set; stable, sorted output. */
export function normalizeScopes(scopes: Scope[]): string[] {
  const byResource = new Map<string, Scope>();
  for (const s of scopes) {
    const key = `${s.type}:${s.name}`;
    const have = byResource.get(key);
    if (have) have.actions = [...new Set([...have.actions, ...s.actions])];
    else byResource.set(key, { ...s, actions: [...s.actions] });
  }
  return [...byResource.values()].map(formatScope).sort();
}

/**
 * What a request needs: pull to read; pull,push to upload or put a manifest; delete to delete;
 * pull on the source of a cross-repository mount; registry:catalog:* for the catalog.
 * `repository` is the name as the upstream knows it.
 */
export function scopesFor(method: string, route: Route, repository: string | undefined, mountFrom: string | undefined): Scope[] {
  switch (route.endpoint) {
    case 'base':
      return [];
    case 'catalog':
      return [{ type: 'registry', name: 'catalog', actions: ['*'] }];
    default:
      break;
  }
  if (repository === undefined) return [];
  if (method === 'DELETE' && route.endpoint !== 'upload') return [{ type: 'repository', name: repository, actions: ['delete'] }];
  if (route.endpoint === 'upload-start' || route.endpoint === 'upload' || (route.endpoint === 'manifest' && method === 'PUT')) {
    const scopes: Scope[] = [{ type: 'repository', name: repository, actions: ['pull', 'push'] }];
    if (mountFrom !== undefined && mountFrom !== repository) scopes.push({ type: 'repository', name: mountFrom, actions: ['pull'] });
    return scopes;
  }
  return [{ type: 'repository', name: repository, actions: ['pull'] }];
}

/**
 * The scopes a registry token grants, from the `access` claim of a JWT as distribution's token
 * servers issue them (`[{type, name, actions}]`); undefined for a token that is not such a JWT.
 * The signature is not checked: this only says what the token claims, to name a refused action.
 */
export function grantedScopes(token: string): Scope[] | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const access = (claims as { access?: unknown } | null)?.access;
  if (!Array.isArray(access)) return undefined;
  return access
    .filter((a): a is { type: string; name: string; actions: unknown[] } => typeof a?.type === 'string' && typeof a?.name === 'string' && Array.isArray(a?.actions))
    .map((a) => ({ type: a.type, name: a.name, actions: a.actions.filter((x): x is string => typeof x === 'string') }));
}

/** The actions of `wanted` (normalised scope strings) that `granted` does not cover, as `push on team/app`. */
export function missingActions(wanted: readonly string[], granted: readonly Scope[]): string[] {
  const missing: string[] = [];
  for (const w of wanted) {
    const s = parseScope(w);
    if (!s) continue;
    const have = new Set(granted.filter((g) => g.type === s.type && g.name === s.name).flatMap((g) => g.actions));
    for (const action of s.actions) if (!have.has(action) && !have.has('*')) missing.push(`${action} on ${s.name}`);
  }
  return missing;
}
