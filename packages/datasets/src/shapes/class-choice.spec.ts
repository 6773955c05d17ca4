import { ConfigError } from '@niwt/core';
import { describe, expect, it } from 'vitest';
import { assertUnseenCovered, chooseClasses, PREFERRED_SUPPORT, valueSupport } from './class-choice.js';
import { parseShapesOptions, ShapesOptions, type ShapesOptionsInput } from './options.js';
import { ATTRIBUTE_NAMES, COMBINATION_COUNT, GROUPS, makeClass } from './vocabulary.js';

describe('chooseClasses', () => {
  const sizes: readonly (readonly [number, number])[] = [
    [20, 8],
    [10, 5],
    [6, 3],
    [40, 20],
    [100, 20],
  ];

  it.each(sizes)(
    'with %i seen / %i unseen, every unseen class recombines seen values (100 seeds)',
    (nSeen, nUnseen) => {
      for (let seed = 0; seed < 100; seed++) {
        const { seen, unseen } = chooseClasses(seed, nSeen, nUnseen);
        expect(seen).toHaveLength(nSeen);
        expect(unseen).toHaveLength(nUnseen);
        const names = [...seen, ...unseen].map((c) => c.name);
        expect(new Set(names).size).toBe(nSeen + nUnseen);
        const support = valueSupport(seen);
        for (const c of unseen)
          for (const a of c.attributes) expect(support[a], `${c.name} ${ATTRIBUTE_NAMES[a]}`).toBeGreaterThanOrEqual(1);
        expect(() => assertUnseenCovered(seen, unseen)).not.toThrow();
      }
    },
  );

  it('gives every value of the default unseen classes several seen classes, and uses every value', () => {
    for (let seed = 0; seed < 100; seed++) {
      const { seen, unseen } = chooseClasses(seed, 20, 8);
      const support = valueSupport(seen);
      for (const c of unseen)
        for (const a of c.attributes) expect(support[a]).toBeGreaterThanOrEqual(PREFERRED_SUPPORT);
      expect(Math.min(...support)).toBeGreaterThanOrEqual(PREFERRED_SUPPORT);
    }
  });

  it('balances the seen classes: each value about equally often', () => {
    const support = valueSupport(chooseClasses(7, 20, 8).seen);
    let offset = 0;
    for (const g of GROUPS) {
      const counts = support.slice(offset, offset + g.values.length);
      expect(Math.max(...counts) - Math.min(...counts), g.name).toBeLessThanOrEqual(1);
      offset += g.values.length;
    }
  });

  it('is deterministic in the seed', () => {
    expect(chooseClasses(7, 20, 8)).toEqual(chooseClasses(7, 20, 8));
    expect(chooseClasses(7, 20, 8)).not.toEqual(chooseClasses(8, 20, 8));
  });

  it('refuses impossible requests', () => {
    expect(() => chooseClasses(0, 2, 20)).toThrow(
      new ConfigError(
        'shapes: only 14 combinations are made of values seen among 2 seen classes, but 20 unseen classes ' +
          'were asked for; use more seenClasses or fewer unseenClasses',
      ),
    );
    expect(() => chooseClasses(0, 100, 21)).toThrow(
      new ConfigError(
        `shapes: 100 seen + 21 unseen classes exceed the ${COMBINATION_COUNT} combinations of attribute values`,
      ),
    );
  });

  it('catches an unseen value no seen class has', () => {
    const seen = [makeClass('circle', 'red', 'solid', 'small'), makeClass('square', 'blue', 'stripes', 'large')];
    expect(() => assertUnseenCovered(seen, [makeClass('circle', 'blue', 'solid', 'large')])).not.toThrow();
    expect(() => assertUnseenCovered(seen, [makeClass('star', 'red', 'outline', 'small')])).toThrow(
      'shapes: unseen class small-red-outline-star uses values no seen class has: shape:star, fill:outline',
    );
    expect(() => assertUnseenCovered(seen, [seen[0]])).toThrow(
      'shapes: unseen class small-red-solid-circle is also seen',
    );
  });
});

describe('ShapesOptions', () => {
  it('has the demo defaults', () => {
    expect(ShapesOptions.parse({})).toEqual({
      seed: 7,
      imageSize: 32,
      imagesPerClass: 60,
      seenClasses: 20,
      unseenClasses: 8,
      testFraction: 0.2,
    });
  });

  it('is strict and checks that the split is possible', () => {
    expect(ShapesOptions.safeParse({ sede: 1 }).success).toBe(false);
    expect(ShapesOptions.safeParse({ testFraction: 1 }).success).toBe(false);
    const r = ShapesOptions.safeParse({ seenClasses: 2, unseenClasses: 20 });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [i.path, i.message])).toEqual([
      [
        ['unseenClasses'],
        'only 14 combinations are made of values seen among 2 seen classes, but 20 unseen classes were asked ' +
          'for; use more seenClasses or fewer unseenClasses',
      ],
    ]);
  });

  it('reports invalid input as a ConfigError', () => {
    expect(() => parseShapesOptions({ sede: 1 } as unknown as ShapesOptionsInput)).toThrow(
      new ConfigError('shapes options: ✖ Unrecognized key: "sede"'),
    );
    expect(parseShapesOptions({ seed: 1 }).seed).toBe(1);
  });
});
