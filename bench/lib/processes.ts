/**
 * Child processes of a benchmark run: spawning them with a log file in the work directory,
 * the list whose CPU time is sampled, stopping them, and the clean-up at the end (or on a
 * signal).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface Proc {
  name: string;
  group: string;
  child: ChildProcess;
  pid: number;
  log: string;
}

/** A process whose CPU time is sampled, by group (registry, nginx, proxy). */
export interface Sampled {
  group: string;
  pid: number;
  name: string;
}

export function exited(p: Proc): boolean {
  return p.child.exitCode !== null || p.child.signalCode !== null;
}

/** The end of a log file, for error messages. */
export function tail(file: string, bytes = 2000): string {
  try {
    const t = readFileSync(file, 'utf8');
    return t.slice(-bytes);
  } catch {
    return '';
  }
}

export class Processes {
  readonly work: string;
  /** The processes whose CPU time is sampled now; stopped ones are taken out. */
  readonly live: Sampled[] = [];
  private readonly keep: boolean;
  private readonly procs: Proc[] = [];
  private readonly cleanups: (() => Promise<void> | void)[] = [];
  private cleaning: Promise<void> | undefined;

  /** `keep`: leave the work directory in place at clean-up. */
  constructor(work: string, keep: boolean) {
    this.work = work;
    this.keep = keep;
  }

  /** Starts `cmd` with stdout and stderr appended to `<work>/<name>.log`. */
  spawn(name: string, group: string, cmd: string, args: string[], env: Record<string, string> = {}): Proc {
    const log = join(this.work, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
    const p: Proc = { name, group, child, pid: child.pid, log };
    this.procs.push(p);
    this.live.push({ group, pid: child.pid, name });
    return p;
  }

  /** Samples another process (one not started here, such as an nginx worker). */
  sample(s: Sampled): void {
    this.live.push(s);
  }

  /** Runs `fn` at clean-up, before the processes are stopped (last registered, first run). */
  onCleanup(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`. */
  async stop(p: Proc, timeoutMs = 15_000): Promise<void> {
    const i = this.live.findIndex((l) => l.pid === p.pid);
    if (i >= 0) this.live.splice(i, 1);
    if (exited(p)) return;
    const done = new Promise<void>((r) => p.child.once('exit', () => r()));
    p.child.kill('SIGTERM');
    const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
    await done;
    clearTimeout(t);
  }

  /** Stops everything and removes the work directory (unless kept); runs once. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      for (const c of this.cleanups.reverse()) {
        try {
          await c();
        } catch {
          // best effort
        }
      }
      await Promise.all(this.procs.filter((p) => !exited(p)).map((p) => this.stop(p, 5_000)));
      if (!this.keep) rmSync(this.work, { recursive: true, force: true });
      else console.log(`work directory kept: ${this.work}`);
    })();
    return this.cleaning;
  }

  /** On SIGINT or SIGTERM: clean up, then exit with 130. */
  cleanupOnSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        console.error(`\n${sig}: cleaning up`);
        void this.cleanup().then(() => process.exit(130));
      });
    }
  }
}
