#!/usr/bin/env node
// The `shoal` command: runs the compiled CLI (npm ci / npm install build it through `prepare`).
import { main } from '../dist/src/cli/main.js';

await main(process.argv);
