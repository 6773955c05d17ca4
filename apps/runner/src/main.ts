#!/usr/bin/env node
import { main } from './cli.js';
import { lifecycle } from './lifecycle.js';
import { quietOnClosedPipes } from './closed-pipes.js';

// the CLI process owns its signals: Ctrl-C and SIGTERM close open runs (see lifecycle.ts)
lifecycle.handleSignals = true;
quietOnClosedPipes();
process.exitCode = await main(process.argv.slice(2));
