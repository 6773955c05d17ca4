import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { main } from '../cli.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `niwt-${prefix}-`));
}

/** Runs the CLI in `cwd`, capturing stdout and stderr. */
export async function runCli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  const prev = process.cwd();
  process.stdout.write = ((s: string | Uint8Array) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => (err.push(String(s)), true)) as typeof process.stderr.write;
  process.chdir(cwd);
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.chdir(prev);
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/**
 * Runs one command group (`register*Commands`) through commander with stdout captured; a thrown error is returned, not
 * raised.
 */
export async function commandCli(
  register: (program: Command) => void,
  args: string[],
): Promise<{ stdout: string; error?: Error }> {
  const program = new Command('niwt').exitOverride();
  register(program);
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string | Uint8Array) => (out.push(String(s)), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(args, { from: 'user' });
    return { stdout: out.join('') };
  } catch (e) {
    return { stdout: out.join(''), error: e as Error };
  } finally {
    process.stdout.write = write;
  }
}
