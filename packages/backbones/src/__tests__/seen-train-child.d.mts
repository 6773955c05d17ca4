import type { SeenTrainingReport } from '@niwt/core';

export const EPOCHS: number;
export function trainTiny(
  checkpointDir: string | undefined,
  outDir: string,
  onTick?: (detail: string) => void,
): Promise<SeenTrainingReport>;
