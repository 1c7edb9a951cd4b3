/**
 * `oci-connector-proxy health`: the container's HEALTHCHECK. Asks /healthz on the address the
 * proxy listens on (--listen or OCP_LISTEN, as the server reads them; a wildcard address is
 * asked on loopback), over HTTPS when OCP_TLS_CERT says the proxy serves it (the certificate is
 * not checked: this asks the process next door whether it is up), and answers with the exit
 * code: 0 when it says 200, 1 otherwise.
 */
import { get as httpsGet } from 'node:https';
import { parseListen, UsageError } from './flags.ts';
import { type Io, processIo } from './io.ts';
import { get as httpGet } from '../util/node-http.ts';

const TIMEOUT_MS = 3_000;

export function healthUrl(argv: readonly string[], env: Record<string, string | undefined>): string {
  const i = argv.indexOf('--listen');
  if (i >= 0 && argv[i + 1] === undefined) throw new UsageError('health --listen: needs host:port');
  const unknown = i >= 0 ? argv.filter((_a, j) => j !== i && j !== i + 1) : argv;
  if (unknown.length) throw new UsageError(`health: unknown argument ${JSON.stringify(unknown[0])} (only --listen <host:port>)`);
  const { host, port } = parseListen((i >= 0 ? argv[i + 1] : env['OCP_LISTEN']) ?? '127.0.0.1:5000');
  const target = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const scheme = env['OCP_TLS_CERT'] ? 'https' : 'http';
  return `${scheme}://${target.includes(':') ? `[${target}]` : target}:${port}/healthz`;
}

/** The status of one GET, or the error; bounded by TIMEOUT_MS. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsGet : httpGet)(url, { rejectUnauthorized: false, timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

/** The exit code and one line saying why. */
export async function health(argv: readonly string[], env: Record<string, string | undefined>): Promise<{ code: number; line: string }> {
  const url = healthUrl(argv, env);
  try {
    const status = await get(url);
    return { code: status === 200 ? 0 : 1, line: `${url}: ${status}` };
  } catch (err) {
    return { code: 1, line: `${url}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

/** The command: prints the line (stdout on success, stderr otherwise) and returns the exit code. */
export async function runHealth(argv: readonly string[], env: Record<string, string | undefined>, io: Io = processIo): Promise<number> {
  try {
    const { code, line } = await health(argv, env);
    (code === 0 ? io.stdout : io.stderr)(`${line}\n`);
    return code;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`oci-connector-proxy: ${err.message}\n`);
    return 2;
  }
}
