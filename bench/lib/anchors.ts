/**
 * The anchors: plain reverse proxies in front of each upstream, the yardsticks of the proxy.
 * nginx (bench/nginx.conf: no buffering), nginx-tuned (bench/nginx-tuned.conf: buffering on,
 * large buffers), haproxy (bench/haproxy.cfg: one thread, http-reuse always), node-relay
 * (bench/node-relay.ts: the least a Node HTTP proxy does) and node-tcp (bench/node-tcp.ts: bytes
 * piped through Node below HTTP); each is its own process on its own ports,
 * and its CPU is sampled under its own group (its id).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, waitFor } from '../../test/helpers/ports.ts';
import { type AnchorId, ROOT } from './constants.ts';
import { exited, type Proc, type Processes, tail } from './processes.ts';
import { childrenOf } from './sampling.ts';
import { defaultProxyNodeFlags } from './servers.ts';

export interface Anchor {
  id: AnchorId;
  proc: Proc;
  /** The listening URL in front of each upstream, by upstream name. */
  urls: Record<string, string>;
}

/** One listening port per upstream: upstream name, upstream port, listening port. */
async function listeners(upstreams: Record<string, number>): Promise<{ name: string; port: number; listen: number }[]> {
  const out: { name: string; port: number; listen: number }[] = [];
  for (const [name, port] of Object.entries(upstreams)) out.push({ name, port, listen: await freePort() });
  return out;
}

/** Waits until every URL answers /v2/ (200 open, 401 token auth); samples the children too. */
async function ready(procs: Processes, anchor: Anchor, why: () => string): Promise<Anchor> {
  for (const url of Object.values(anchor.urls)) {
    await waitFor(`${anchor.id} on ${url}`, async () => {
      if (exited(anchor.proc)) throw new Error(why());
      const res = await request(`${url}/v2/`);
      await res.body.dump();
      return res.statusCode === 200 || res.statusCode === 401;
    });
  }
  // nginx's master only accepts connections; its worker does the proxying, so sample it too.
  for (const w of childrenOf(anchor.proc.pid)) procs.sample({ group: anchor.id, pid: w, name: `${anchor.id} worker` });
  return anchor;
}

/** One `upstream` + `server` block per upstream, for the nginx configurations' {{SERVERS}}. */
function nginxServer(name: string, upstreamPort: number, listen: number): string {
  return `  upstream up_${name} {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 100000;
    keepalive_timeout 75s;
  }
  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass http://up_${name};
    }
  }
`;
}

const NGINX_CONF = { nginx: 'nginx.conf', 'nginx-tuned': 'nginx-tuned.conf' } as const;

/** nginx with bench/<NGINX_CONF[id]> in front of each upstream (name to port). */
export async function startNginx(procs: Processes, id: 'nginx' | 'nginx-tuned', upstreams: Record<string, number>): Promise<Anchor> {
  const dir = join(procs.work, id);
  mkdirSync(dir);
  const ls = await listeners(upstreams);
  const conf = readFileSync(join(ROOT, 'bench', NGINX_CONF[id]), 'utf8')
    .replaceAll('{{DIR}}', dir)
    .replaceAll('{{ACCESS_LOG}}', `${join(dir, 'access.log')} combined buffer=256k flush=1s`)
    .replace('{{SERVERS}}', ls.map((l) => nginxServer(l.name, l.port, l.listen)).join(''));
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);
  const proc = procs.spawn(id, id, 'nginx', ['-e', join(dir, 'error.log'), '-p', dir, '-c', confFile]);
  const urls = Object.fromEntries(ls.map((l) => [l.name, `http://127.0.0.1:${l.listen}`]));
  return ready(procs, { id, proc, urls }, () => `${id} exited: ${tail(proc.log)} ${tail(join(dir, 'error.log'))}`);
}

/** One frontend + backend per upstream, for bench/haproxy.cfg's {{FRONTENDS}}. */
function haproxyFrontend(name: string, upstreamPort: number, listen: number): string {
  return `frontend fe_${name}
  bind 127.0.0.1:${listen}
  default_backend be_${name}

backend be_${name}
  server ${name} 127.0.0.1:${upstreamPort}

`;
}

/** haproxy with bench/haproxy.cfg in front of each upstream (name to port), in the foreground. */
export async function startHaproxy(procs: Processes, upstreams: Record<string, number>): Promise<Anchor> {
  const dir = join(procs.work, 'haproxy');
  mkdirSync(dir);
  const ls = await listeners(upstreams);
  const cfg = readFileSync(join(ROOT, 'bench', 'haproxy.cfg'), 'utf8').replace('{{FRONTENDS}}', ls.map((l) => haproxyFrontend(l.name, l.port, l.listen)).join(''));
  const cfgFile = join(dir, 'haproxy.cfg');
  writeFileSync(cfgFile, cfg);
  const proc = procs.spawn('haproxy', 'haproxy', 'haproxy', ['-db', '-f', cfgFile]);
  const urls = Object.fromEntries(ls.map((l) => [l.name, `http://127.0.0.1:${l.listen}`]));
  return ready(procs, { id: 'haproxy', proc, urls }, () => `haproxy exited: ${tail(proc.log)}`);
}

/** bench/<id>.ts (node-relay, node-tcp) in front of each upstream, at the proxy's node flags unless given others. */
export async function startNodeAnchor(
  procs: Processes,
  id: 'node-relay' | 'node-tcp',
  upstreams: Record<string, number>,
  nodeFlags: string[] = defaultProxyNodeFlags(),
  name: string = id,
): Promise<Anchor> {
  const ls = await listeners(upstreams);
  const args = [...nodeFlags, join(ROOT, 'bench', `${id}.ts`), ...ls.map((l) => `${l.listen}=${l.port}`)];
  const proc = procs.spawn(name, id, join(ROOT, 'scripts', 'node'), args);
  const urls = Object.fromEntries(ls.map((l) => [l.name, `http://127.0.0.1:${l.listen}`]));
  return ready(procs, { id, proc, urls }, () => `${id} exited: ${tail(proc.log)}`);
}

/** All the anchors in front of the same upstreams. */
export async function startAnchors(procs: Processes, upstreams: Record<string, number>): Promise<Record<AnchorId, Anchor>> {
  return {
    nginx: await startNginx(procs, 'nginx', upstreams),
    'nginx-tuned': await startNginx(procs, 'nginx-tuned', upstreams),
    haproxy: await startHaproxy(procs, upstreams),
    'node-relay': await startNodeAnchor(procs, 'node-relay', upstreams),
    'node-tcp': await startNodeAnchor(procs, 'node-tcp', upstreams),
  };
}
