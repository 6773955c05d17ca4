/**
 * Renders one image of a class into an RGB byte buffer. Everything except the class's attribute
 * values is random nuisance — position, rotation, scale within the size class, colour tone,
 * stripe angle and period, background tone, gradient, texture and pixel noise — so that no single
 * pixel or global statistic gives a class away.
 */
import type { Rng } from '@niwt/core';
import { MAX_EXTENT, shapeDistance } from './geometry.js';
import type { Colour, ShapeClass, Size } from './vocabulary.js';

const BASE_COLOURS: Readonly<Record<Colour, readonly [number, number, number]>> = {
  red: [215, 45, 40],
  green: [45, 170, 65],
  blue: [45, 85, 215],
  yellow: [230, 205, 45],
};

/** Shape radius as a share of the image side, per size class (scale jitter stays inside). */
const RADIUS: Readonly<Record<Size, readonly [number, number]>> = {
  small: [0.17, 0.22],
  large: [0.28, 0.35],
};

/** Opacity of the shape's colour between its stripes. */
const STRIPE_GAP = 0.3;

/** Coarse grid of the low-frequency background texture. */
const TEXTURE_CELLS = 4;

const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);
/** Coverage of a pixel by the region `distance < 0` (distance in pixels): a one-pixel ramp. */
const coverage = (distance: number): number => clamp01(0.5 - distance);

export function renderImage(cls: ShapeClass, size: number, rng: Rng): Uint8Array {
  // Background: a greyish tone with a tint, a linear gradient and a smooth texture.
  const grey = rng.uniform(60, 190);
  const tint = [0, 1, 2].map(() => rng.uniform(-18, 18));
  const gradAngle = rng.uniform(0, 2 * Math.PI);
  const gradAmp = rng.uniform(0, 35);
  const gx = Math.cos(gradAngle) / size;
  const gy = Math.sin(gradAngle) / size;
  const texture = Array.from({ length: (TEXTURE_CELLS + 1) ** 2 }, () => 10 * rng.normal());
  const bgNoise = rng.uniform(3, 9);

  // Shape: radius in pixels, centre kept inside the image, rotation.
  const [rLo, rHi] = RADIUS[cls.size];
  const radius = size * rng.uniform(rLo, rHi);
  const margin = MAX_EXTENT * radius + 1;
  const cx = rng.uniform(margin, size - margin);
  const cy = rng.uniform(margin, size - margin);
  const angle = rng.uniform(0, 2 * Math.PI);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);

  // Colour tone: brightness and per-channel jitter, plus a soft shading across the shape.
  const brightness = rng.uniform(0.78, 1.08);
  const colour = BASE_COLOURS[cls.colour].map((c) => c * brightness + 10 * rng.normal());
  const shading = rng.uniform(-0.12, 0.12);
  const fgNoise = rng.uniform(2, 7);

  // Fill pattern parameters.
  // Both scale with the shape, so stripe count and outline share do not give its size away.
  const outlineWidth = Math.max(1.1, radius * rng.uniform(0.2, 0.26));
  const period = Math.max(3, radius * rng.uniform(0.55, 0.7));
  const stripeAngle = rng.uniform(0, Math.PI);
  const sx = Math.cos(stripeAngle) / period;
  const sy = Math.sin(stripeAngle) / period;
  const phase = rng.next();

  const out = new Uint8Array(size * size * 3);
  const reach = MAX_EXTENT * radius + 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const px = x + 0.5 - cx;
      const py = y + 0.5 - cy;
      // Local coordinates in units of the radius (rotation by -angle).
      const lx = (cos * px + sin * py) / radius;
      const ly = (-sin * px + cos * py) / radius;
      let alpha = 0;
      if (Math.abs(px) < reach && Math.abs(py) < reach) {
        const d = shapeDistance(cls.shape, lx, ly) * radius;
        alpha = coverage(d);
        if (alpha > 0 && cls.fill === 'outline') alpha *= 1 - coverage(d + outlineWidth);
        else if (alpha > 0 && cls.fill === 'stripes') {
          const t = px * sx + py * sy + phase;
          const f = t - Math.floor(t);
          // Between stripes the shape keeps a faint wash of its colour, so its silhouette survives.
          alpha *= STRIPE_GAP + (1 - STRIPE_GAP) * coverage((Math.abs(f - 0.25) - 0.25) * period);
        }
      }
      const bg = grey + gradAmp * ((x + 0.5) * gx + (y + 0.5) * gy - 0.5) + textureAt(texture, x / size, y / size);
      const shade = 1 + shading * lx;
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        let v = bg + tint[c] + bgNoise * rng.normal();
        if (alpha > 0) v += alpha * (colour[c] * shade + fgNoise * rng.normal() - v);
        out[o + c] = Math.round(Math.min(255, Math.max(0, v)));
      }
    }
  }
  return out;
}

/** Bilinear interpolation of the texture grid at (u, v) in [0, 1). */
function textureAt(grid: readonly number[], u: number, v: number): number {
  const n = TEXTURE_CELLS;
  const fx = u * n;
  const fy = v * n;
  const ix = Math.min(n - 1, Math.floor(fx));
  const iy = Math.min(n - 1, Math.floor(fy));
  const tx = fx - ix;
  const ty = fy - iy;
  const at = (i: number, j: number): number => grid[j * (n + 1) + i];
  const top = at(ix, iy) * (1 - tx) + at(ix + 1, iy) * tx;
  const bottom = at(ix, iy + 1) * (1 - tx) + at(ix + 1, iy + 1) * tx;
  return top * (1 - ty) + bottom * ty;
}
