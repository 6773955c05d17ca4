/** The published xlsa17 "proposed split" sizes (Xian et al. 2017), to validate user-supplied copies against. */

export interface PublishedSplit {
  readonly classes: number;
  readonly seen: number;
  readonly unseen: number;
  readonly attributes: number;
  readonly images: number;
  readonly trainval: number;
  readonly testSeen: number;
  readonly testUnseen: number;
  readonly train?: number;
  readonly val?: number;
  /** Classes of trainclasses1.txt / valclasses1.txt. */
  readonly trainClasses: number;
  readonly valClasses: number;
}

export const PUBLISHED: Readonly<Record<string, PublishedSplit>> = {
  AWA2: {
    classes: 50,
    seen: 40,
    unseen: 10,
    attributes: 85,
    images: 37322,
    trainval: 23527,
    testSeen: 5882,
    testUnseen: 7913,
    train: 20218,
    val: 9191,
    trainClasses: 27,
    valClasses: 13,
  },
  AWA1: {
    classes: 50,
    seen: 40,
    unseen: 10,
    attributes: 85,
    images: 30475,
    trainval: 19832,
    testSeen: 4958,
    testUnseen: 5685,
    train: 16864,
    val: 7926,
    trainClasses: 27,
    valClasses: 13,
  },
  CUB: {
    classes: 200,
    seen: 150,
    unseen: 50,
    attributes: 312,
    images: 11788,
    trainval: 7057,
    testSeen: 1764,
    testUnseen: 2967,
    train: 5875,
    val: 2946,
    trainClasses: 100,
    valClasses: 50,
  },
  SUN: {
    classes: 717,
    seen: 645,
    unseen: 72,
    attributes: 102,
    images: 14340,
    trainval: 10320,
    testSeen: 2580,
    testUnseen: 1440,
    train: 11600,
    val: 1300,
    trainClasses: 580,
    valClasses: 65,
  },
  APY: {
    classes: 32,
    seen: 20,
    unseen: 12,
    attributes: 64,
    images: 15339,
    trainval: 5932,
    testSeen: 1483,
    testUnseen: 7924,
    trainClasses: 15,
    valClasses: 5,
  },
};

/** The published entry for a folder named like an xlsa17 dataset (`AWA2`, `cub`…), if any. */
export function publishedFor(name: string): { readonly key: string; readonly sizes: PublishedSplit } | undefined {
  const key = name.toUpperCase();
  const sizes = PUBLISHED[key];
  return sizes ? { key, sizes } : undefined;
}

/** "23,527" */
export const fmt = (n: number): string => n.toLocaleString('en-US');
