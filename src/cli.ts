#!/usr/bin/env node
// authd's command line: `authd <command>` (the package's bin, built to dist/cli.js), or
// `npm run authd -- <command>` in a checkout (through tsx). The commands live in
// src/commands/, one small module each; `authd help` lists them.
import { runCommand } from './commands/index.js'

process.exitCode = await runCommand(process.argv.slice(2))
