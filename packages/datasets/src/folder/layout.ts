/** File names of the folder format, in one place so messages and the README cannot drift apart. */
export const FILES = {
  classes: 'classes.txt',
  attributes: 'attributes.txt',
  classAttributes: 'class-attributes.txt',
  split: 'split.yaml',
  images: 'images',
} as const;

/** Image extensions the loader picks up (compared case-insensitively). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'] as const;

/** Defaults of the optional `split.yaml` keys. */
export const SPLIT_DEFAULTS = { testFraction: 0.2, seed: 0 } as const;
