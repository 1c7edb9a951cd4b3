/**
 * Maps a failure to reach the upstream into the OCI error the client sees: connection problems
 * are 502, timeouts 504. Messages name the connector and the upstream host, never credentials.
 */
import { RegistryError } from '../distribution/errors.ts';

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return (err as { code?: string } | undefined)?.code;
}

export function upstreamFailure(err: unknown, connector: string, host: string, role: 'upstream' | 'token server' = 'upstream'): RegistryError {
  if (err instanceof RegistryError) return err;
  const code = errorCode(err) ?? 'UNKNOWN';
  const detail = { connector, [role === 'upstream' ? 'upstream' : 'realm']: host, cause: code };
  if (TIMEOUT_CODES.has(code)) {
    return new RegistryError(504, 'UNAVAILABLE', `connector ${connector}: ${role} ${host} did not answer in time (${code})`, detail);
  }
  const what =
    code === 'ECONNREFUSED' ? 'refused the connection'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'could not be resolved'
    : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'closed the connection'
    : 'could not be reached';
  return new RegistryError(502, 'UNAVAILABLE', `connector ${connector}: ${role} ${host} ${what} (${code})`, detail);
}
