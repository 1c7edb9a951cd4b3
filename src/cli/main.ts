/**
 * The command: `oci-connector-proxy [flags]` serves, `oci-connector-proxy render <file> …`
 * prints a client configuration (`oci-connector-proxy health` is src/cli/health.ts, which
 * src/cli.ts runs without loading the rest). `main` returns the exit code for errors it reports itself (one
 * line on stderr, `oci-connector-proxy: <problem>`): 2 for a bad flag or configuration, 1 for an
 * address that cannot be taken; undefined while serving or after printing.
 */
import { ConfigError } from '../connectors/parse.ts';
import { FlagError, USAGE, UsageError } from './flags.ts';
import { type Io, processIo } from './io.ts';
import { render } from './render.ts';
import { ListenError, serve } from './serve.ts';
import { readSettings } from './settings.ts';

export async function main(argv: readonly string[], env: Record<string, string | undefined> = process.env, io: Io = processIo): Promise<number | undefined> {
  const problem = (message: string, code = 2): number => {
    io.stderr(`oci-connector-proxy: ${message}\n`);
    return code;
  };
  try {
    if (argv[0] === 'render') {
      io.stdout(render(argv.slice(1), env));
      return undefined;
    }
    const settings = await readSettings(argv, env);
    if (!settings) {
      io.stdout(USAGE + '\n');
      return undefined;
    }
    await serve(settings);
    return undefined;
  } catch (err) {
    if (err instanceof FlagError) return problem(`${err.message}\n${USAGE}`);
    if (err instanceof ConfigError || err instanceof UsageError) return problem(err.message);
    if (err instanceof ListenError) return problem(err.message, 1);
    throw err;
  }
}
