/**
 * Shape outlines as signed distance functions (negative inside, in units of the shape radius).
 * A distance per pixel gives anti-aliased edges, outlines and stripes without supersampling.
 */
import type { Shape } from './vocabulary.js';

type Polygon = readonly (readonly [number, number])[];

function regular(points: number, radii: readonly number[]): Polygon {
  const n = points * radii.length;
  return Array.from({ length: n }, (_, k) => {
    const a = -Math.PI / 2 + (2 * Math.PI * k) / n;
    const r = radii[k % radii.length];
    return [r * Math.cos(a), r * Math.sin(a)] as const;
  });
}

const ARM = 0.95;
const HALF_WIDTH = 0.32;
/** Sizes are balanced so that every shape of radius 1 looks about as big. */
const POLYGONS: Readonly<Record<Exclude<Shape, 'circle'>, Polygon>> = {
  square: [
    [-0.74, -0.74],
    [0.74, -0.74],
    [0.74, 0.74],
    [-0.74, 0.74],
  ],
  triangle: regular(3, [1.18]),
  cross: [
    [HALF_WIDTH, -ARM],
    [HALF_WIDTH, -HALF_WIDTH],
    [ARM, -HALF_WIDTH],
    [ARM, HALF_WIDTH],
    [HALF_WIDTH, HALF_WIDTH],
    [HALF_WIDTH, ARM],
    [-HALF_WIDTH, ARM],
    [-HALF_WIDTH, HALF_WIDTH],
    [-ARM, HALF_WIDTH],
    [-ARM, -HALF_WIDTH],
    [-HALF_WIDTH, -HALF_WIDTH],
    [-HALF_WIDTH, -ARM],
  ],
  star: regular(5, [1.08, 0.46]),
};

const CIRCLE_RADIUS = 0.88;

/** Furthest any shape reaches from its centre (radius 1), to keep shapes inside the image. */
export const MAX_EXTENT = 1.18;

/** Signed distance from (x, y) to the shape of radius 1 centred at the origin. */
export function shapeDistance(shape: Shape, x: number, y: number): number {
  return shape === 'circle' ? Math.hypot(x, y) - CIRCLE_RADIUS : polygonDistance(POLYGONS[shape], x, y);
}

/** Exact signed distance to a simple polygon (after Inigo Quilez's sdPolygon). */
function polygonDistance(v: Polygon, px: number, py: number): number {
  let d = (px - v[0][0]) ** 2 + (py - v[0][1]) ** 2;
  let s = 1;
  for (let i = 0, j = v.length - 1; i < v.length; j = i, i++) {
    const ex = v[j][0] - v[i][0];
    const ey = v[j][1] - v[i][1];
    const wx = px - v[i][0];
    const wy = py - v[i][1];
    const t = Math.min(1, Math.max(0, (wx * ex + wy * ey) / (ex * ex + ey * ey)));
    const bx = wx - ex * t;
    const by = wy - ey * t;
    d = Math.min(d, bx * bx + by * by);
    const c1 = py >= v[i][1];
    const c2 = py < v[j][1];
    const c3 = ex * wy > ey * wx;
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) s = -s;
  }
  return s * Math.sqrt(d);
}
