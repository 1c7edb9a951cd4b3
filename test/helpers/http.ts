/** Raw HTTP helpers for protocol tests. */
import { connect } from 'node:net';
import { request as undiciRequest } from 'undici';
import { basicAuthorization } from '../../src/util/basic.ts';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: () => unknown;
}

export async function http(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer | string | NodeJS.ReadableStream | AsyncIterable<Buffer> } = {},
): Promise<Answer> {
  const res = await undiciRequest(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers,
    body: init.body as Buffer | undefined,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, json: () => JSON.parse(body.toString()) };
}

/** Sends bytes exactly as given (no client-side path normalisation) and returns the raw answer. */
export function rawRequest(port: number, text: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(out);
    }, timeoutMs);
    sock.on('data', (d) => {
      out += d.toString('latin1');
      if (/\r\n\r\n/.test(out)) {
        const len = /content-length: (\d+)/i.exec(out);
        const headEnd = out.indexOf('\r\n\r\n') + 4;
        if (len && out.length - headEnd >= Number(len[1])) {
          clearTimeout(timer);
          sock.destroy();
          resolve(out);
        }
      }
    });
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    sock.write(text);
  });
}

/** An `Authorization: Basic base64(username:password)` value, as a client sends it. */
export function basic(username: string, password: string): string {
  return basicAuthorization({ username, password });
}

export function ociCode(a: Answer): string | undefined {
  return (a.json() as { errors?: { code: string }[] }).errors?.[0]?.code;
}
