/**
 * `oci-connector-proxy health`: the container's HEALTHCHECK. Asks /healthz on the address the
 * proxy listens on (--listen or OCP_LISTEN, as the server reads them; a wildcard address is
 * asked on loopback) and answers with the exit code: 0 when it says 200, 1 otherwise.
 */
import { parseListen, UsageError } from './flags.ts';
import { type Io, processIo } from './io.ts';

const TIMEOUT_MS = 3_000;

export function healthUrl(argv: readonly string[], env: Record<string, string | undefined>): string {
  const i = argv.indexOf('--listen');
  if (i >= 0 && argv[i + 1] === undefined) throw new UsageError('health --listen: needs host:port');
  const unknown = i >= 0 ? argv.filter((_a, j) => j !== i && j !== i + 1) : argv;
  if (unknown.length) throw new UsageError(`health: unknown argument ${JSON.stringify(unknown[0])} (only --listen <host:port>)`);
  const { host, port } = parseListen((i >= 0 ? argv[i + 1] : env['OCP_LISTEN']) ?? '127.0.0.1:5000');
  const target = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${target.includes(':') ? `[${target}]` : target}:${port}/healthz`;
}

/** The exit code and one line saying why. */
export async function health(argv: readonly string[], env: Record<string, string | undefined>): Promise<{ code: number; line: string }> {
  const url = healthUrl(argv, env);
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.body?.cancel();
    return res.status === 200 ? { code: 0, line: `${url}: 200` } : { code: 1, line: `${url}: ${res.status}` };
  } catch (err) {
    return {
      code: 1,
      line: `${url}: ${(err as Error).name === 'TimeoutError' ? `no answer in ${TIMEOUT_MS} ms` : ((err as Error & { cause?: Error }).cause?.message ?? (err as Error).message)}`,
    };
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
