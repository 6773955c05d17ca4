/** The `Dataset.fingerprint` of the built-in datasets: what a stage trained on or extracted from. */
import { fingerprintFiles, type Dataset } from '@niwt/core';

/** The dataset with `fingerprint` set to `compute`, run once on first use. */
export function withFingerprint<D extends Dataset>(dataset: D, compute: () => Promise<string>): D {
  let once: Promise<string> | undefined;
  return { ...dataset, fingerprint: () => (once ??= compute()) };
}

/**
 * Fingerprint of files that decide samples, labels and split (`files`), every sample's image, and the options
 * that change the pixels (`extra`). Class-attribute tables are not in it: they are knowledge, fingerprinted by
 * the knowledge encoder, and editing one must not retrain the network.
 */
export function sampleFilesFingerprint(
  dataset: Dataset,
  files: readonly string[],
  extra: Record<string, unknown>,
  withImages = true,
): Promise<string> {
  const images = withImages ? dataset.samples.map((s) => s.path) : [];
  return fingerprintFiles([...files, ...images], { base: dataset.root, extra: { dataset: dataset.name, ...extra } });
}
