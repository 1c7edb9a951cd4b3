/**
 * The health check of one connector, with its credentials, through its own upstream client:
 * ping `/v2/` (LivenessReady), then, when `spec.auth.params[repository]` names a repository,
 * authenticate and list its tags (AuthReady). Reasons are the product's: NonAuthProbe,
 * AuthenticationFailed (with the status code), ConnectionFailed (with the network error).
 */
import { upstreamRepository } from '../connectors/model.ts';
import { normalizeScopes } from '../distribution/scope.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import { causeChain, errorCode, errorReason, isTimeout, TokenServerError, UpstreamError, UpstreamRefused } from '../upstream/errors.ts';
import { handshakeProblem, tlsProblem } from '../upstream/tls.ts';
import { upstreamFailure } from '../upstream/failures.ts';
import { discard } from '../upstream/types.ts';
import type { Observed } from './conditions.ts';

/** A network or TLS failure as a condition shows it: `connect ECONNREFUSED 127.0.0.1:1`, or the TLS problem named. */
function networkError(err: unknown, timeoutMs: number, host: string): string {
  if (isTimeout(err)) return `no answer within ${timeoutMs} ms`;
  const code = errorCode(err);
  const tls = code && tlsProblem(code, errorReason(err));
  return tls ? `tls: ${host} ${tls} (${code})` : causeChain(err);
}

/** A failed ping in words; a TLS connection closed without a word is asked again why (handshakeProblem). */
async function pingFailure(client: UpstreamClient, err: unknown, timeoutMs: number): Promise<string> {
  const code = errorCode(err);
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') {
    const tlsCode = await handshakeProblem(client.connector, Math.min(timeoutMs, 2_000));
    const tls = tlsCode && tlsProblem(tlsCode);
    if (tls) return `tls: ${client.host} ${tls} (${tlsCode})`;
  }
  return networkError(err, timeoutMs, client.host);
}

/** A refusal of the credentials (by the registry or its token server), rather than a failure to reach them. */
function isRefusal(err: unknown): boolean {
  return err instanceof UpstreamRefused || (err instanceof TokenServerError && err.kind === 'refused');
}

export function secretCondition(client: UpstreamClient): Observed {
  return client.connector.credentials
    ? { type: 'SecretReady', status: 'True', reason: '', message: '' }
    : { type: 'SecretReady', status: 'True', reason: 'SecretOptional', message: 'the connector has no secret; the registry is used anonymously' };
}

/** Runs the checks; never throws. */
export async function probe(client: UpstreamClient, timeoutMs: number): Promise<Observed[]> {
  client.acquire();
  try {
    return await probeHeld(client, timeoutMs);
  } finally {
    client.release();
  }
}

async function probeHeld(client: UpstreamClient, timeoutMs: number): Promise<Observed[]> {
  const signal = AbortSignal.timeout(timeoutMs);
  const origin = client.connector.upstreamOrigin;
  const secret = secretCondition(client);

  let liveness: Observed;
  try {
    const status = await client.ping(signal);
    liveness =
      status >= 500
        ? { type: 'LivenessReady', status: 'False', reason: 'ConnectionFailed', message: `Get "${origin}/v2/": status code ${status}` }
        : { type: 'LivenessReady', status: 'True', reason: '', message: '' };
  } catch (err) {
    liveness = { type: 'LivenessReady', status: 'False', reason: 'ConnectionFailed', message: `Get "${origin}/v2/": ${await pingFailure(client, err, timeoutMs)}` };
  }

  const repo = client.connector.healthRepository;
  let auth: Observed;
  if (repo === undefined) {
    auth = { type: 'AuthReady', status: 'True', reason: 'NonAuthProbe', message: 'no repository is named in spec.auth.params, so authentication is not checked' };
  } else if (liveness.status !== 'True') {
    auth = { type: 'AuthReady', status: 'False', reason: 'ConnectionFailed', message: liveness.message };
  } else {
    const repository = upstreamRepository(client.connector, repo);
    const path = `/v2/${repository}/tags/list?n=1`;
    const scopes = normalizeScopes([{ type: 'repository', name: repository, actions: ['pull'] }]);
    try {
      const res = await client.send({ method: 'GET', path, headers: ['accept', 'application/json'], body: null, signal, scopes, traffic: 'small' });
      discard(res.body);
      auth =
        res.statusCode === 200
          ? { type: 'AuthReady', status: 'True', reason: '', message: '' }
          : { type: 'AuthReady', status: 'False', reason: 'AuthenticationFailed', message: `Authentication failed: status code ${res.statusCode}` };
    } catch (err) {
      const worded = upstreamFailure(err, client);
      auth = isRefusal(err)
        ? { type: 'AuthReady', status: 'False', reason: 'AuthenticationFailed', message: `Authentication failed: status code ${worded.status}: ${worded.message}` }
        : {
            type: 'AuthReady',
            status: 'False',
            reason: 'ConnectionFailed',
            message: err instanceof UpstreamError ? worded.message : `Get "${origin}${path}": ${networkError(err, timeoutMs, client.host)}`,
          };
    }
  }
  return [secret, liveness, auth];
}
