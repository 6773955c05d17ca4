/** `niwt weights inspect` lists a Keras .h5's layers and shapes. */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { registerWeightsCommands } from '../commands/weights.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

describe('niwt weights inspect', () => {
  it('lists layers and shapes of a Keras .h5', async () => {
    const dir = execFileSync(path.join(repo, 'scripts/keras-fixtures.sh'), [], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 1_800_000,
    })
      .trim()
      .split('\n')
      .pop()!;
    const program = new Command().exitOverride();
    registerWeightsCommands(program);
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    try {
      await program.parseAsync(['node', 'niwt', 'weights', 'inspect', path.join(dir, 'resnet50.apps.h5')]);
    } finally {
      spy.mockRestore();
    }
    const text = out.join('');
    expect(text).toMatch(/keras-h5, 107 layers with weights/);
    expect(text).toMatch(/conv1_conv\s+\[7, 7, 3, 64\] \[64\]/);
    expect(text).toMatch(/predictions\s+\[2048, 1000\] \[1000\]/);
  }, 1_800_000);
});
