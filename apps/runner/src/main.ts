#!/usr/bin/env node
import { main } from './cli.js';
import { quietOnClosedPipes } from './closed-pipes.js';

quietOnClosedPipes();
process.exitCode = await main(process.argv.slice(2));
