#!/usr/bin/env node
// The committed `bin` of @niwt/runner. npm links a workspace's bin at `npm ci` time, before the build exists,
// and skips a bin whose file is missing; this launcher always exists and imports the built CLI.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(`niwt: the CLI is not built (${fileURLToPath(main)} is missing); run \`npm run build\` first\n`);
  process.exit(2);
}
await import(main.href);
