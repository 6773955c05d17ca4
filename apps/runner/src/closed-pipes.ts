/**
 * `niwt runs ls | head -3`: once the reader is gone, writes fail with EPIPE. That is the reader's choice,
 * not an error: stdout closing ends the command quietly with exit 0; stderr closing drops later messages.
 */
export function quietOnClosedPipes(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  process.stderr.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}
