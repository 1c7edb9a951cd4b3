/** The process logger's second line of defence: credentials are censored wherever a log call puts them. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';

describe('createLogger redaction', () => {
  it('censors authorization, password, token and credentials at the top level, one level down, and in request headers', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger('info', sink);
    const secrets = [
      's-authorization',
      's-password',
      's-token',
      's-credentials',
      's-nested-auth',
      's-nested-pass',
      's-nested-token',
      's-headers',
      's-req-headers',
      's-nested-creds',
    ];
    log.info({ authorization: secrets[0], password: secrets[1], token: secrets[2], credentials: { username: 'u', password: secrets[3] } }, 'top');
    log.info({ upstream: { authorization: secrets[4], password: secrets[5], token: secrets[6], credentials: secrets[9] } }, 'nested');
    log.info({ headers: { authorization: secrets[7] } }, 'headers');
    log.info({ req: { headers: { authorization: secrets[8] } } }, 'req');
    const text = lines.join('');
    expect(lines).toHaveLength(4);
    for (const s of secrets) expect(text).not.toContain(s);
    expect(text.match(/\[redacted\]/g)!.length).toBeGreaterThanOrEqual(secrets.length - 1);
  });
});
