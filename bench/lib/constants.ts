/** Constants shared by the benchmark modules. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MiB = 1024 * 1024;
/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RESULTS = join(ROOT, 'bench', 'results');
/** Connections of the request-rate load runs (wrk, ab). */
export const CONNS = 32;
/** Repositories the token-auth scenario cycles over: one token exchange each is expected. */
export const TOKEN_REPOS = 4;
/** The token server's user, and the credentials in the proxy's Secret. */
export const USER = { username: 'bench', password: 'bench-Pa55word-for-the-token-server' };
