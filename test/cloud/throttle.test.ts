import { describe, expect, it } from 'vitest';
import { throttle, type Clock } from '../../src/cloud/throttle.js';

/** A clock that moves only when every task is waiting on it. */
function fakeClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      await new Promise((r) => setImmediate(r));
      c.t += ms;
    },
  };
  return c;
}

describe('throttle', () => {
  it('starts at most perSecond requests in any second and at most `concurrency` at once, all of them in order', async () => {
    const clock = fakeClock();
    const limit = throttle(5, 3, clock);
    const starts: number[] = [];
    let inFlight = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 23 }, (_, i) =>
        limit(async () => {
          starts.push(clock.t);
          order.push(i);
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setImmediate(r));
          inFlight--;
        }),
      ),
    );
    expect(order).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(most).toBe(3);
    for (const s of starts) expect(starts.filter((x) => x >= s && x < s + 1000).length).toBeLessThanOrEqual(5);
    // 23 requests at 5 a second take at least 4 whole seconds of the clock.
    expect(Math.max(...starts)).toBeGreaterThanOrEqual(4000);
  });

  it('a failed request frees its place', async () => {
    const limit = throttle(100, 1, fakeClock());
    await expect(limit(async () => Promise.reject(new Error('RequestLimitExceeded')))).rejects.toThrow('RequestLimitExceeded');
    expect(await limit(async () => 'next')).toBe('next');
  });
});
