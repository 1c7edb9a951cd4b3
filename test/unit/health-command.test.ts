import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { health, healthUrl, runHealth } from '../../src/cli/health.ts';

describe('oci-connector-proxy health: the address it asks', () => {
  it.each([
    [[], {}, 'http://127.0.0.1:5000/healthz'],
    [[], { OCP_LISTEN: '0.0.0.0:5000' }, 'http://127.0.0.1:5000/healthz'],
    [[], { OCP_LISTEN: ':7000' }, 'http://127.0.0.1:7000/healthz'],
    [[], { OCP_LISTEN: '[::]:5000' }, 'http://[::1]:5000/healthz'],
    [[], { OCP_LISTEN: '[::1]:6000' }, 'http://[::1]:6000/healthz'],
    [['--listen', '10.0.0.7:5001'], { OCP_LISTEN: '0.0.0.0:5000' }, 'http://10.0.0.7:5001/healthz'],
  ])('%j with %j asks %s', (argv, env, url) => {
    expect(healthUrl(argv, env)).toBe(url);
  });

  it.each([
    [['--listen'], /--listen: needs host:port/],
    [['--verbose'], /unknown argument "--verbose"/],
    [['--listen', 'nonsense'], /must be host:port/],
  ])('%j is a usage error', async (argv, message) => {
    const err: string[] = [];
    expect(await runHealth(argv, {}, { stdout: () => undefined, stderr: (t) => err.push(t) })).toBe(2);
    expect(err.join('')).toMatch(message);
  });
});

describe('oci-connector-proxy health against a server', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  async function answering(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return `127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  it('exits 0 when /healthz says 200, and asks nothing else', async () => {
    const paths: string[] = [];
    const listen = await answering((req, res) => {
      paths.push(req.url ?? '');
      res.end('ok');
    });
    const out: string[] = [];
    expect(await runHealth([], { OCP_LISTEN: listen }, { stdout: (t) => out.push(t), stderr: () => undefined })).toBe(0);
    expect(paths).toEqual(['/healthz']);
    expect(out.join('')).toBe(`http://${listen}/healthz: 200\n`);
  });

  it('exits 1 and says the status when /healthz says 503', async () => {
    const listen = await answering((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    expect(await health([], { OCP_LISTEN: listen })).toEqual({ code: 1, line: `http://${listen}/healthz: 503` });
  });

  it('exits 1 and says why when nothing listens', async () => {
    const listen = await answering(() => undefined);
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const r = await health([], { OCP_LISTEN: listen });
    expect(r.code).toBe(1);
    expect(r.line).toMatch(/ECONNREFUSED/);
  });
});
