#!/usr/bin/env node
/** The executable: runs the command (src/cli/main.ts) with this process's arguments. */
import { main } from './cli/main.ts';

const code = await main(process.argv.slice(2));
if (code !== undefined) process.exit(code);
