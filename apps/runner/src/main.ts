#!/usr/bin/env node
import { lifecycle } from './lifecycle.js';
import { quietOnClosedPipes } from './closed-pipes.js';
import { redisPreflight } from './queue/redis-probe.js';

// the CLI process owns its signals: Ctrl-C and SIGTERM close open runs (see lifecycle.ts)
lifecycle.handleSignals = true;
quietOnClosedPipes();
// An unreachable Redis is reported before the CLI (tfjs, plugins) loads: seconds on a busy machine.
const early = await redisPreflight(process.argv.slice(2));
if (early !== undefined) process.exit(early);
const { main } = await import('./cli.js');
process.exitCode = await main(process.argv.slice(2));
