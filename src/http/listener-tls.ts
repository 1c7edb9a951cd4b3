/**
 * HTTPS on the proxy's own listener (--tls-cert, --tls-key): the certificate and key read and
 * checked (a bad pair is a start-up error naming the file), and re-read when either file
 * changes, as cert-manager rotates them: new connections get the new certificate, connections
 * already open keep theirs, and a pair that does not check out is logged and not applied.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import type { Logger } from 'pino';
import { ConfigError } from '../connectors/documents.ts';
import { checkKeyPair, described, pemCertificates } from '../connectors/tls.ts';
import { watchFiles } from '../util/watch.ts';

export interface ListenerTlsFiles {
  cert: string;
  key: string;
}

/** PEM certificate chain and key, as https.createServer and setSecureContext take them. */
export interface ListenerTls {
  cert: string;
  key: string;
}

function read(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--${flag} ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Reads and checks the pair; throws ConfigError naming the flag and the file. */
export function readListenerTls(files: ListenerTlsFiles): ListenerTls {
  return checkKeyPair(read(files.cert, 'tls-cert'), read(files.key, 'tls-key'), { cert: `--tls-cert ${files.cert}`, key: `--tls-key ${files.key}` });
}

/** What the logs say of a certificate: its subject and expiry. */
export function describeListenerTls(tls: ListenerTls): { subject: string; notAfter: string } {
  return described(pemCertificates(tls.cert, 'certificate')[0]!);
}

/** Re-reads the pair whenever a file changes and gives it to the server's new connections. */
export function watchListenerTls(server: Server, files: ListenerTlsFiles, current: ListenerTls, log: Logger): { close(): void } {
  let applied = current;
  return watchFiles([files.cert, files.key], () => {
    let next: ListenerTls;
    try {
      next = readListenerTls(files);
    } catch (err) {
      log.error({ err: err instanceof ConfigError ? err.message : (err as Error).name }, 'listener certificate change rejected; still serving the previous certificate');
      return;
    }
    if (next.cert === applied.cert && next.key === applied.key) return;
    server.setSecureContext({ cert: next.cert, key: next.key });
    applied = next;
    log.info(describeListenerTls(next), 'listener certificate reloaded');
  });
}
