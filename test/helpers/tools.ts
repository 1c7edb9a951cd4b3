import { execFile } from 'node:child_process';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a real client (skopeo, podman, buildah) with a time bound; never throws on exit status. */
export function run(cmd: string, args: string[], timeoutMs = 120_000, env?: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? (((err as { code?: unknown }).code as number | null) ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

/** skopeo against plain-HTTP registries, with no credentials of its own. */
export function skopeo(args: string[], timeoutMs?: number): Promise<RunResult> {
  return run('skopeo', ['--insecure-policy', ...args], timeoutMs);
}
