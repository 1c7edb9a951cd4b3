/**
 * A Docker/OCI token server (the "realm" of a `Bearer` challenge) for tests, trusted by the real
 * CNCF distribution registry 2.8 through `auth.token.rootcertbundle`; plus an htpasswd helper for
 * registries that take Basic auth directly.
 *
 * Tokens are RS256 JWTs signed by a fresh RSA key with a self-signed certificate. Distribution 2.8
 * finds the signing key from the JWT header in this order: `x5c` (certificate chain, verified
 * against the root bundle), then `jwk`, then `kid` (a libtrust key id looked up among the bundle
 * certificates' public keys). Both `x5c` and a libtrust `kid` work; by default both are sent.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Fault modes, settable while running (`setMode`). */
export type TokenServerMode =
  /** Normal operation. */
  | 'ok'
  /** Every /token request answers 503 with a text body. */
  | 'down5xx'
  /** Every /token request answers 200 `application/json` with a body that is not JSON. */
  | 'garbage'
  /** Every /token request answers 200 `{"token":"","access_token":"","expires_in":…,"issued_at":…}`. */
  | 'emptyToken'
  /** Requests are answered normally, but only after `settings.slowMs` milliseconds. */
  | 'slow';

/** Which key-identifying fields the JWT header carries. */
export type TokenHeaderStyle = 'x5c' | 'kid' | 'x5c+kid';

/** Actions a principal may have on a resource: (name, type) → actions, e.g. ['pull', 'push']. `'*'` allows every action. */
export type Rights = (name: string, type: string) => string[];

export interface TokenUser {
  password: string;
  /** Called with the repository name (or other resource name) and the scope type ('repository', 'registry'). */
  rights: Rights;
}

export interface TokenServerOptions {
  /** Users that may authenticate (Basic on GET, username/password on POST). */
  users?: Record<string, TokenUser>;
  /** Rights of anonymous GET requests (no Authorization header). Default: nothing. */
  anonymousRights?: Rights;
  /** The registry's service name (the token `aud` when the request names none). Default 'ocp-test-registry'. */
  service?: string;
  /** The token `iss`. Default 'ocp-test-token-server'. */
  issuer?: string;
  /** `expires_in` and the JWT lifetime, in seconds. Default 300. Note distribution adds 60 s leeway to `exp`. */
  expiresIn?: number;
  /** Whether `POST /token` (OAuth2) is served; when false it answers 404 so clients fall back to GET. Default true. */
  postEnabled?: boolean;
  /** Initial fault mode. Default 'ok'. */
  mode?: TokenServerMode;
  /** Delay of the 'slow' mode, in ms. Default 10_000. */
  slowMs?: number;
  /** Header fields identifying the signing key. Default 'x5c+kid'. */
  header?: TokenHeaderStyle;
  /** Which token fields a success response carries. Default 'both'. */
  tokenField?: 'both' | 'token' | 'access_token';
  /** Whether success responses carry `issued_at`. Default true. */
  includeIssuedAt?: boolean;
  /** Serve HTTPS with this certificate and key (the realm is then https://). */
  tls?: { cert: string; key: string };
}

/** Mutable at run time: changes apply to the next request. */
export interface TokenServerSettings {
  mode: TokenServerMode;
  expiresIn: number;
  postEnabled: boolean;
  slowMs: number;
  header: TokenHeaderStyle;
  tokenField: 'both' | 'token' | 'access_token';
  includeIssuedAt: boolean;
}

export interface ResourceActions {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequestRecord {
  method: string;
  /** Path with query string, as received. */
  url: string;
  /** Scopes asked, one entry per scope (space-separated values are split). */
  scopes: string[];
  service: string | null;
  /** GET `account` or POST `username`. */
  account: string | null;
  clientId: string | null;
  grantType: string | null;
  /** GET `offline_token=true` or POST `access_type=offline`. */
  offline: boolean;
  /** The authenticated user, null when anonymous or refused. */
  user: string | null;
  status: number;
  mode: TokenServerMode;
  /** What the issued token grants (absent when no token was issued). */
  granted?: ResourceActions[];
}

export interface TokenServerCounts {
  /** All requests to /token (any method, any outcome, any mode). */
  total: number;
  get: number;
  post: number;
  /** Per scope string as asked (e.g. 'repository:a/b:pull,push'), over GET and POST. */
  byScope: Record<string, number>;
  /** Per method then scope: `byMethodScope.GET['repository:a/b:pull']`. */
  byMethodScope: Record<string, Record<string, number>>;
}

export interface IssueOptions {
  /** `sub`. Default ''. */
  subject?: string;
  access?: ResourceActions[];
  /** Default: the configured service. */
  audience?: string;
  /** Default: the configured issuer. */
  issuer?: string;
  /** Lifetime in seconds. Default settings.expiresIn. */
  expiresIn?: number;
  /** Default settings.header. */
  header?: TokenHeaderStyle;
  /** Issued-at override, seconds since the epoch. */
  now?: number;
  /** A `kid` to send instead of the libtrust key id (for forged-token tests). */
  kid?: string;
}

export interface TokenServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** `${url}/token` */
  realm: string;
  service: string;
  issuer: string;
  /** Temp dir with key.pem and cert.pem. */
  dir: string;
  /** PEM certificate file for `auth.token.rootcertbundle`. */
  certPath: string;
  /** The libtrust key id of the signing key (what `kid` carries). */
  keyId: string;
  settings: TokenServerSettings;
  setMode(mode: TokenServerMode): void;
  /** Every access token issued (over HTTP or by `issueToken`), in order. */
  tokens: string[];
  /** Every refresh token issued, in order. */
  refreshTokens: string[];
  /** Tokens, refresh tokens and user passwords: strings that must never appear in logs or client-visible output. */
  secrets(): string[];
  requests: TokenRequestRecord[];
  counts: TokenServerCounts;
  resetCounts(): void;
  /** Signs a token directly, bypassing HTTP (also recorded in `tokens`). */
  issueToken(options?: IssueOptions): string;
  /** The registry's `auth:` YAML section, for `startRegistry({ extraConfig, readyStatus: 401 })`. */
  registryConfig(overrides?: { realm?: string; service?: string; issuer?: string }): string;
  stop(): Promise<void>;
}

/** libtrust key id: base32 of the first 240 bits of SHA-256 over the DER SubjectPublicKeyInfo, in 4-character groups joined by ':'. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out.match(/.{1,4}/g)!.join(':');
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Splits `type:name:actions` on the first and the last colon (the name may hold a registry port). */
export function parseScope(scope: string): { type: string; name: string; actions: string[] } | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return null;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

/** The asked actions the rights allow; `'*'` in the rights allows every asked action. */
function intersect(asked: string[], allowed: string[]): string[] {
  if (allowed.includes('*')) return [...new Set(asked)];
  return [...new Set(asked.filter((a) => allowed.includes(a)))];
}

function parseBasic(header: string | undefined): { user: string; password: string } | null | 'malformed' {
  if (!header) return null;
  const [scheme, value] = header.split(' ', 2);
  if (scheme?.toLowerCase() !== 'basic' || !value) return 'malformed';
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ocp-token-server-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  try {
    await execFileAsync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '3',
      '-subj',
      '/CN=ocp-test-token-server',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const privateKey = createPrivateKey(readFileSync(keyPath));
  const cert = new X509Certificate(readFileSync(certPath));
  const certDerB64 = cert.raw.toString('base64');
  const keyId = libtrustKeyId(createPublicKey(privateKey));

  const service = options.service ?? 'ocp-test-registry';
  const issuer = options.issuer ?? 'ocp-test-token-server';
  const users = options.users ?? {};
  const anonymousRights: Rights = options.anonymousRights ?? (() => []);
  const settings: TokenServerSettings = {
    mode: options.mode ?? 'ok',
    expiresIn: options.expiresIn ?? 300,
    postEnabled: options.postEnabled ?? true,
    slowMs: options.slowMs ?? 10_000,
    header: options.header ?? 'x5c+kid',
    tokenField: options.tokenField ?? 'both',
    includeIssuedAt: options.includeIssuedAt ?? true,
  };
  const tokens: string[] = [];
  const refreshTokens: string[] = [];
  /** refresh token → user */
  const refreshOwners = new Map<string, string>();
  const requests: TokenRequestRecord[] = [];
  const emptyCounts = (): TokenServerCounts => ({ total: 0, get: 0, post: 0, byScope: {}, byMethodScope: {} });
  const counts = emptyCounts();
  /** Pending 'slow' delays: stop() releases them. */
  const delays = new Map<NodeJS.Timeout, () => void>();
  let stopped = false;

  function issueToken(o: IssueOptions = {}): string {
    const now = o.now ?? Math.floor(Date.now() / 1000);
    const style = o.header ?? settings.header;
    const header: Record<string, unknown> = { typ: 'JWT', alg: 'RS256' };
    if (style !== 'x5c') header.kid = o.kid ?? keyId;
    if (style !== 'kid') header.x5c = [certDerB64];
    const claims = {
      iss: o.issuer ?? issuer,
      sub: o.subject ?? '',
      aud: o.audience ?? service,
      exp: now + (o.expiresIn ?? settings.expiresIn),
      nbf: now - 1,
      iat: now,
      jti: randomBytes(16).toString('hex'),
      access: o.access ?? [],
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), privateKey);
    const token = `${signingInput}.${b64url(signature)}`;
    tokens.push(token);
    return token;
  }

  function grant(scopes: string[], rights: Rights): ResourceActions[] {
    const out: ResourceActions[] = [];
    for (const scope of scopes) {
      const parsed = parseScope(scope);
      if (!parsed) continue;
      const existing = out.find((r) => r.type === parsed.type && r.name === parsed.name);
      const actions = intersect(parsed.actions, rights(parsed.name, parsed.type));
      if (existing) existing.actions = [...new Set([...existing.actions, ...actions])];
      else out.push({ type: parsed.type, name: parsed.name, actions });
    }
    return out;
  }

  function newRefreshToken(user: string): string {
    const rt = `ocp-refresh-${randomBytes(24).toString('hex')}`;
    refreshTokens.push(rt);
    refreshOwners.set(rt, user);
    return rt;
  }

  function send(res: ServerResponse, rec: TokenRequestRecord, status: number, body: unknown, headers: Record<string, string> = {}): void {
    rec.status = status;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
    res.end(text);
  }

  function success(res: ServerResponse, rec: TokenRequestRecord, user: string | null, scopes: string[], rights: Rights, aud: string, refresh?: string): void {
    const granted = grant(scopes, rights);
    const token = issueToken({ subject: user ?? '', access: granted, audience: aud });
    rec.granted = granted;
    const body: Record<string, unknown> = {};
    if (settings.tokenField !== 'access_token') body.token = token;
    if (settings.tokenField !== 'token') body.access_token = token;
    body.expires_in = settings.expiresIn;
    if (settings.includeIssuedAt) body.issued_at = new Date().toISOString();
    if (refresh) body.refresh_token = refresh;
    send(res, rec, 200, body);
  }

  function checkUser(name: string, password: string): TokenUser | null {
    const u = Object.hasOwn(users, name) ? users[name] : undefined;
    return u && u.password === password ? u : null;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname !== '/token') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const method = req.method ?? 'GET';
    const form = method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const rawScopes = method === 'POST' ? [form.get('scope') ?? ''] : form.getAll('scope');
    const scopes = rawScopes.flatMap((s) => s.split(' ')).filter((s) => s !== '');
    const offline = method === 'POST' ? form.get('access_type') === 'offline' : form.get('offline_token') === 'true';
    const rec: TokenRequestRecord = {
      method,
      url: req.url ?? '',
      scopes,
      service: form.get('service'),
      account: method === 'POST' ? form.get('username') : form.get('account'),
      clientId: form.get('client_id'),
      grantType: method === 'POST' ? form.get('grant_type') : null,
      offline,
      user: null,
      status: 0,
      mode: settings.mode,
    };
    requests.push(rec);
    counts.total++;
    if (method === 'GET') counts.get++;
    if (method === 'POST') counts.post++;
    const perMethod = (counts.byMethodScope[method] ??= {});
    for (const s of scopes) {
      counts.byScope[s] = (counts.byScope[s] ?? 0) + 1;
      perMethod[s] = (perMethod[s] ?? 0) + 1;
    }

    if (settings.mode === 'slow') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          delays.delete(t);
          resolve();
        }, settings.slowMs);
        delays.set(t, resolve);
      });
      if (res.destroyed || stopped) return;
    }
    switch (settings.mode) {
      case 'down5xx':
        return send(res, rec, 503, 'token service unavailable');
      case 'garbage':
        rec.status = 200;
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>this is not json{');
        return;
      case 'emptyToken':
        return send(res, rec, 200, { token: '', access_token: '', expires_in: settings.expiresIn, issued_at: new Date().toISOString() });
      default:
        break;
    }
    const aud = rec.service || service;

    if (method === 'GET') {
      const basic = parseBasic(req.headers.authorization);
      if (basic === 'malformed')
        return send(
          res,
          rec,
          401,
          { errors: [{ code: 'UNAUTHORIZED', message: 'malformed Authorization header' }] },
          { 'www-authenticate': 'Basic realm="ocp-test-token-server"' },
        );
      if (basic === null) return success(res, rec, null, scopes, anonymousRights, aud);
      const u = checkUser(basic.user, basic.password);
      if (!u)
        return send(res, rec, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }, { 'www-authenticate': 'Basic realm="ocp-test-token-server"' });
      rec.user = basic.user;
      return success(res, rec, basic.user, scopes, u.rights, aud, offline ? newRefreshToken(basic.user) : undefined);
    }

    if (method === 'POST') {
      if (!settings.postEnabled) return send(res, rec, 404, '404 page not found');
      if (!rec.clientId) return send(res, rec, 400, { error: 'invalid_request', error_description: 'missing client_id' });
      const grantType = rec.grantType;
      if (grantType === 'password') {
        const name = form.get('username');
        const u = name !== null ? checkUser(name, form.get('password') ?? '') : null;
        if (!u || name === null) return send(res, rec, 401, { error: 'invalid_grant', error_description: 'invalid username or password' });
        rec.user = name;
        return success(res, rec, name, scopes, u.rights, aud, offline ? newRefreshToken(name) : undefined);
      }
      if (grantType === 'refresh_token') {
        const rt = form.get('refresh_token') ?? '';
        const name = refreshOwners.get(rt);
        const u = name !== undefined && Object.hasOwn(users, name) ? users[name] : undefined;
        if (!u || name === undefined) return send(res, rec, 401, { error: 'invalid_grant', error_description: 'invalid refresh token' });
        rec.user = name;
        // Like distribution's contrib token server: the same refresh token is handed back.
        return success(res, rec, name, scopes, u.rights, aud, rt);
      }
      return send(res, rec, 400, { error: 'unsupported_grant_type' });
    }
    return send(res, rec, 405, 'method not allowed', { allow: 'GET, POST' });
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const realm = `${url}/token`;

  return {
    url,
    port,
    realm,
    service,
    issuer,
    dir,
    certPath,
    keyId,
    settings,
    setMode(mode) {
      settings.mode = mode;
    },
    tokens,
    refreshTokens,
    secrets() {
      return [...tokens, ...refreshTokens, ...Object.values(users).map((u) => u.password)];
    },
    requests,
    counts,
    resetCounts() {
      Object.assign(counts, emptyCounts());
      requests.length = 0;
    },
    issueToken,
    registryConfig(o = {}) {
      return `auth:
  token:
    realm: "${o.realm ?? realm}"
    service: "${o.service ?? service}"
    issuer: "${o.issuer ?? issuer}"
    rootcertbundle: "${certPath}"
`;
    },
    async stop() {
      stopped = true;
      for (const [t, release] of delays) {
        clearTimeout(t);
        release();
      }
      delays.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const htpasswdDirs: string[] = [];
let htpasswdCleanup = false;

/**
 * The registry's `auth:` YAML section for Basic auth against an htpasswd file (bcrypt, made by
 * `htpasswd -Bbn`). The file lives in a temp dir (or `options.dir`) removed at process exit.
 */
export function basicAuthRegistryConfig(users: Record<string, string>, options: { realm?: string; dir?: string } = {}): string {
  let dir = options.dir;
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'ocp-htpasswd-'));
    htpasswdDirs.push(dir);
    if (!htpasswdCleanup) {
      htpasswdCleanup = true;
      process.once('exit', () => {
        for (const d of htpasswdDirs) rmSync(d, { recursive: true, force: true });
      });
    }
  }
  const lines = Object.entries(users).map(([user, password]) => execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }).trim());
  const path = join(dir, 'htpasswd');
  writeFileSync(path, lines.join('\n') + '\n');
  return `auth:
  htpasswd:
    realm: "${options.realm ?? 'ocp-test-registry'}"
    path: "${path}"
`;
}
