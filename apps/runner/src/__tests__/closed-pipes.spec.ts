/**
 * `niwt runs ls | head -3`: a reader that goes away is not an error. The reader's end is closed before
 * the command writes (deterministic, unlike racing `head`), so the first write meets EPIPE.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, tempDir } from './helpers.js';

const MAIN = path.join(REPO, 'apps/runner/dist/main.js');

function withClosedStdout(
  args: string[],
  cwd: string,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the first line
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('output to a closed pipe ends quietly', () => {
  it.each([
    ['runs ls', ['runs', 'ls']],
    ['plugins ls --json', ['plugins', 'ls', '--json']],
  ])(
    'niwt %s: exit 0, nothing on stderr',
    async (_name, args) => {
      const r = await withClosedStdout(args, tempDir('pipes'));
      expect(r).toEqual({ code: 0, signal: null, stderr: '' });
    },
    60_000,
  );
});
