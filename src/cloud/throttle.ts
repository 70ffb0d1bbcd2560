// A request-rate limit for Tencent Cloud's APIs: at most `perSecond` requests started in any second
// and `concurrency` in flight, the rest queued in order. The stricter documented figures (20
// requests a second per API) are the default, so parallel reads never earn a RequestLimitExceeded.

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

export type Throttle = <T>(task: () => Promise<T>) => Promise<T>;

/** `windowMs` over a second leaves room for requests that arrive later than they left. */
export function throttle(perSecond: number, concurrency: number, clock: Clock = realClock, windowMs = 1000): Throttle {
  const started: number[] = [];
  let running = 0;
  const waiting: (() => void)[] = [];
  // Each slot is handed out in turn: a request waits for a free place, then for the rate.
  let gate = Promise.resolve();
  const free = () => new Promise<void>((r) => (running < concurrency ? r() : waiting.push(r)));
  return async (task) => {
    const turn = gate.then(async () => {
      await free();
      running++;
      for (;;) {
        const now = clock.now();
        while (started.length > 0 && started[0]! <= now - windowMs) started.shift();
        if (started.length < perSecond) break;
        await clock.sleep(started[0]! + windowMs - now);
      }
      started.push(clock.now());
    });
    gate = turn.catch(() => undefined);
    await turn;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
