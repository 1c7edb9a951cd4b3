#!/usr/bin/env node
/**
 * The executable: runs the command (src/cli/main.ts) with this process's arguments. `health`
 * runs every few seconds as the container's HEALTHCHECK, so it loads only its own module.
 */
const argv = process.argv.slice(2);
const code = argv[0] === 'health' ? await (await import('./cli/health.ts')).runHealth(argv.slice(1), process.env) : await (await import('./cli/main.ts')).main(argv);
if (code !== undefined) process.exit(code);
