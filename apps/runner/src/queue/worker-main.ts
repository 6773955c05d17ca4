#!/usr/bin/env node
/**
 * A process entry with only the queue commands (`worker`, `queue enqueue`): what the distributed test
 * spawns and kills, and usable before `registerQueueCommands` is wired into cli.ts.
 */
import { Command, CommanderError } from 'commander';
import { report } from '../cli.js';
import { registerQueueCommands } from '../commands/queue.js';

const program = new Command('niwt').exitOverride();
registerQueueCommands(program);
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
  process.exit(0);
} catch (e) {
  process.exit(
    e instanceof CommanderError ? (e.exitCode === 0 ? 0 : 2) : report(e, process.argv.includes('--verbose')),
  );
}
