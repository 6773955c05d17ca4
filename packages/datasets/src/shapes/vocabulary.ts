/**
 * The visual attributes of the shapes dataset. A class is one value of every group; its name and
 * its attribute columns follow from the values, so the vocabulary is the single source of truth.
 */
export const GROUPS = [
  { name: 'shape', values: ['circle', 'square', 'triangle', 'cross', 'star'] },
  { name: 'colour', values: ['red', 'green', 'blue', 'yellow'] },
  { name: 'fill', values: ['solid', 'stripes', 'outline'] },
  { name: 'size', values: ['small', 'large'] },
] as const;

export type Shape = (typeof GROUPS)[0]['values'][number];
export type Colour = (typeof GROUPS)[1]['values'][number];
export type Fill = (typeof GROUPS)[2]['values'][number];
export type Size = (typeof GROUPS)[3]['values'][number];

export interface ShapeClass {
  readonly shape: Shape;
  readonly colour: Colour;
  readonly fill: Fill;
  readonly size: Size;
  /** `<size>-<colour>-<fill>-<shape>`, e.g. `large-red-stripes-circle`. */
  readonly name: string;
  /** Column of each of the class's values in `ATTRIBUTE_NAMES`, one per group. */
  readonly attributes: readonly number[];
}

/** `group:value` for every value, group by group: `shape:circle`, …, `size:large`. */
export const ATTRIBUTE_NAMES: readonly string[] = GROUPS.flatMap((g) => g.values.map((v) => `${g.name}:${v}`));

const groupOffsets = GROUPS.map((_, gi) => GROUPS.slice(0, gi).reduce((n, g) => n + g.values.length, 0));

export function makeClass(shape: Shape, colour: Colour, fill: Fill, size: Size): ShapeClass {
  const values: readonly string[] = [shape, colour, fill, size];
  const attributes = GROUPS.map((g, gi) => groupOffsets[gi] + (g.values as readonly string[]).indexOf(values[gi]));
  return { shape, colour, fill, size, name: `${size}-${colour}-${fill}-${shape}`, attributes };
}

/** Every combination of values, in a fixed order (shape slowest, size fastest). */
export function allCombinations(): ShapeClass[] {
  const out: ShapeClass[] = [];
  for (const shape of GROUPS[0].values)
    for (const colour of GROUPS[1].values)
      for (const fill of GROUPS[2].values)
        for (const size of GROUPS[3].values) out.push(makeClass(shape, colour, fill, size));
  return out;
}

export const COMBINATION_COUNT = GROUPS.reduce((n, g) => n * g.values.length, 1);
