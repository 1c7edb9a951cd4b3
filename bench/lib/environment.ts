/** Versions of the tools and the machine, recorded with the results. */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { MiB, ROOT } from './constants.ts';

/** The first line of a command's output (or of its error), 'unknown' when there is none. */
function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]!
      .trim();
  } catch (err) {
    const e = err as { stderr?: string };
    return (e.stderr ?? '').split('\n')[0]!.trim() || 'unknown';
  }
}

/** HEAD's short hash, noting uncommitted changes under src/ (they are what is measured). */
function gitVersion(): string {
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    return head + (dirty ? ' (src/ has uncommitted changes)' : '');
  } catch {
    return 'unknown'; // not a checkout
  }
}

/** `work`: the work directory, whose file system type is recorded (tmpfs or not). */
export function versions(work: string): Record<string, string> {
  return {
    node: process.version,
    registry: firstLine('docker-registry', ['--version']),
    nginx: firstLine('sh', ['-c', 'nginx -v 2>&1']),
    haproxy: firstLine('sh', ['-c', 'haproxy -v 2>&1 | head -1']),
    wrk: firstLine('sh', ['-c', 'wrk --version 2>&1 | head -1']),
    curl: firstLine('curl', ['--version']),
    ab: firstLine('sh', ['-c', 'ab -V | head -1']),
    kernel: firstLine('uname', ['-r']),
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / MiB / 1024)} GiB`,
    workdir: firstLine('sh', ['-c', `df -T ${work} | tail -1 | awk '{print $1" "$2}'`]),
    git: gitVersion(),
  };
}
