import { describe, expect, it } from 'vitest';
import { RelativeEarlyStop } from '../index.js';

describe('NIWT 1%-in-40-steps rule', () => {
  it('stops exactly 40 steps after the last >1% improvement', () => {
    const stop = new RelativeEarlyStop(40, 0.01);
    const losses = [1.0, 0.9, 0.85]; // improvements of 10% and 5.6%
    // slow drift: < 1% vs the monitor until its 21st step
    for (let i = 0; i < 21; i++) losses.push(0.85 * (1 - 0.0005 * (i + 1)));
    for (let i = 0; i < 100; i++) losses.push(0.84); // a plateau 0.13% below the new monitor
    let stoppedAt = -1;
    for (let i = 0; i < losses.length; i++) {
      if (stop.step(losses[i])) {
        stoppedAt = i;
        break;
      }
    }
    // The drift reaches 1% below 0.85 at 0.85·(1−0.0005·21) < 0.8415 → step index 2+21 = 23 resets the monitor;
    // then 40 more non-improving steps are needed.
    const resetAt = losses.findIndex((l, i) => i > 2 && 1 - l / 0.85 > 0.01);
    expect(resetAt).toBe(23);
    expect(stoppedAt).toBe(resetAt + 40);
  });

  it('compares against the last improving value, not the running minimum', () => {
    const stop = new RelativeEarlyStop(3, 0.01);
    stop.step(1.0);
    stop.step(0.995); // 0.5%: no reset, but a running minimum would move
    stop.step(0.992);
    expect(stop.monitored).toBe(1.0);
    expect(stop.step(0.991)).toBe(true);
  });

  it('never stops while every step improves by more than 1%', () => {
    const stop = new RelativeEarlyStop(2, 0.01);
    let l = 1;
    for (let i = 0; i < 50; i++) {
      l *= 0.95;
      expect(stop.step(l)).toBe(false);
    }
  });
});
