import { pino, type Logger } from 'pino';

/** Paths pino censors wherever they appear, as a second line of defence: nothing logs them on purpose. */
const REDACT = [
  'authorization',
  'password',
  'token',
  '*.authorization',
  '*.password',
  '*.token',
  'headers.authorization',
  'req.headers.authorization',
  'credentials',
  '*.credentials',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'oci-connector-proxy' } };
  return destination ? pino(options, destination as unknown as pino.DestinationStream) : pino(options);
}
export type { Logger };
