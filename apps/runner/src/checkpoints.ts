/**
 * Checkpoint folders of interruptible computations: `<cacheDir>/checkpoints/seen-network/<key>/` for the seen
 * network's training and `<cacheDir>/checkpoints/method/<key>/` for a method's fit. The computation writes and
 * resumes its own checkpoint there (see the backbones and NIWT READMEs); the runner removes the folder once the
 * result no longer needs it (the seen network is cached, or the method's fit returned).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { hashOf } from '@niwt/core';

export function seenNetworkCheckpointDir(cacheDir: string, key: string): string {
  return path.join(cacheDir, 'checkpoints', 'seen-network', key);
}

/** The folder of one method fit: the activations it runs on, its label and options, the seed, the design. */
export function methodCheckpointDir(
  cacheDir: string,
  parts: { activations: string; label: string; options: unknown; seed: number; design?: unknown },
): string {
  return path.join(cacheDir, 'checkpoints', 'method', hashOf(parts));
}

/** Removes a checkpoint folder, then `checkpoints/<kind>/` and `checkpoints/` when they are left empty. */
export async function removeCheckpointDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
  for (const parent of [path.dirname(dir), path.dirname(path.dirname(dir))]) {
    // rmdir removes only an empty folder: another computation's checkpoint keeps it
    if (
      !(await fs.rmdir(parent).then(
        () => true,
        () => false,
      ))
    )
      break;
  }
}
