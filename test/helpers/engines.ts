/**
 * The real container engines, each started with paths of its own under one directory and no
 * change to the host's networking: dockerd (Debian's docker.io, vfs storage, no bridge, no
 * iptables; it runs its own containerd under its exec root) and containerd (its own config,
 * root, state and socket, the CRI plugin off, driven with ctr). Each is stopped by its pid;
 * dockerd's netns mount is unmounted. Host names for the tests go into /etc/hosts between
 * markers and come out again (a crashed run's are removed first).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './ports.ts';
import { type RunResult, run } from './tools.ts';

/** Debian's docker client (the machine may have a newer one first on PATH). */
export const DOCKER = '/usr/bin/docker';
const DOCKERD_KEY = '/etc/docker/key.json';
const MARK_BEGIN = '# oci-connector-proxy tests: begin';
const MARK_END = '# oci-connector-proxy tests: end';

/** Adds `names` (all 127.0.0.1) to /etc/hosts; the returned function restores the file. */
export function addHosts(names: readonly string[]): () => void {
  removeHosts();
  const original = readFileSync('/etc/hosts', 'utf8');
  writeFileSync('/etc/hosts', `${original.replace(/\n?$/, '\n')}${MARK_BEGIN}\n${names.map((n) => `127.0.0.1 ${n}`).join('\n')}\n${MARK_END}\n`);
  return removeHosts;
}

function removeHosts(): void {
  const text = readFileSync('/etc/hosts', 'utf8');
  const start = text.indexOf(MARK_BEGIN);
  if (start === -1) return;
  const end = text.indexOf(MARK_END, start);
  writeFileSync('/etc/hosts', text.slice(0, start) + (end === -1 ? '' : text.slice(end + MARK_END.length + 1)));
}

/**
 * dockerd reads a registry's CA only from /etc/docker/certs.d/<host:port>/ca.crt: this puts one
 * there; the returned function removes it (and the directories it had to make).
 */
export function addDockerCa(registry: string, pem: string): () => void {
  const made = ['/etc/docker', '/etc/docker/certs.d', `/etc/docker/certs.d/${registry}`].filter((d) => !existsSync(d));
  mkdirSync(`/etc/docker/certs.d/${registry}`, { recursive: true });
  writeFileSync(`/etc/docker/certs.d/${registry}/ca.crt`, pem);
  return () => {
    rmSync(`/etc/docker/certs.d/${registry}/ca.crt`, { force: true });
    for (const d of made.reverse()) rmSync(d, { recursive: true, force: true });
  };
}

export interface Engine {
  dir: string;
  process: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function started(cmd: string, args: string[], dir: string): { process: ChildProcess; output: () => string } {
  let out = '';
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-100_000)));
  p.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-100_000)));
  writeFileSync(join(dir, 'started'), `${cmd} ${args.join(' ')}\n`);
  return { process: p, output: () => out };
}

export interface Dockerd extends Engine {
  socket: string;
  /** The docker client against this daemon, with `config` as its DOCKER_CONFIG directory. */
  docker(args: string[], options?: { config?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult>;
}

export async function startDockerd(dir: string, daemonJson: object): Promise<Dockerd> {
  for (const d of ['data', 'exec']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'daemon.json'), JSON.stringify(daemonJson, null, 2));
  const socket = join(dir, 'docker.sock');
  // prettier-ignore
  const args = [
    '--storage-driver=vfs',
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'exec'),
    '--pidfile',
    join(dir, 'docker.pid'),
    '-H',
    `unix://${socket}`,
    '--config-file',
    join(dir, 'daemon.json'),
  ];
  // dockerd writes its identity key to /etc/docker/key.json (no flag moves it): removed again on stop unless it was there.
  const keyExisted = existsSync(DOCKERD_KEY);
  const { process: p, output } = started('dockerd', args, dir);
  const docker: Dockerd['docker'] = (a, o = {}) =>
    run(DOCKER, ['-H', `unix://${socket}`, ...a], o.timeoutMs ?? 180_000, { DOCKER_CONFIG: o.config ?? join(dir, 'client'), ...o.env });
  await waitFor(
    'dockerd',
    async () => {
      if (p.exitCode !== null) throw new Error(`dockerd exited: ${output().slice(-2000)}`);
      return existsSync(socket) && (await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 })).code === 0;
    },
    60_000,
  );
  return {
    dir,
    process: p,
    output,
    socket,
    docker,
    async stop() {
      await stopProcess(p);
      if (!keyExisted) rmSync(DOCKERD_KEY, { force: true });
      // dockerd leaves its network namespace mounted under its exec root.
      for (const m of readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1])
        .filter((x): x is string => !!x && x.startsWith(dir))) {
        try {
          execFileSync('umount', ['-l', m]);
        } catch {
          // already gone
        }
      }
    },
  };
}

export interface Containerd extends Engine {
  socket: string;
  ctr(args: string[], timeoutMs?: number): Promise<RunResult>;
}

export async function startContainerd(dir: string): Promise<Containerd> {
  const socket = join(dir, 'containerd.sock');
  writeFileSync(
    join(dir, 'config.toml'),
    `version = 2\nroot = "${join(dir, 'root')}"\nstate = "${join(dir, 'state')}"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${socket}"\n[ttrpc]\n  address = "${socket}.ttrpc"\n`,
  );
  const { process: p, output } = started('containerd', ['--config', join(dir, 'config.toml')], dir);
  const ctr: Containerd['ctr'] = (a, timeoutMs = 120_000) => run('ctr', ['--address', socket, '--namespace', 'ocp-tests', ...a], timeoutMs);
  await waitFor(
    'containerd',
    async () => {
      if (p.exitCode !== null) throw new Error(`containerd exited: ${output().slice(-2000)}`);
      return existsSync(socket) && (await ctr(['version'], 10_000)).code === 0;
    },
    30_000,
  );
  return { dir, process: p, output, socket, ctr, stop: () => stopProcess(p) };
}
