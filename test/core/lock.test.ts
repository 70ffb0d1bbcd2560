import { describe, expect, it } from 'vitest';
import { decideLock, holderIdentity, holderProcess } from '../../src/core/lock.js';

const now = new Date('2026-11-26T12:00:00Z');
const held = (renewedAt: string, holder = 'bob@laptop:41') => ({ holder, acquiredAt: '2026-11-26T11:50:00Z', renewedAt, durationSeconds: 30, resourceVersion: '5' });

describe('decideLock', () => {
  it('takes a free lock', () => {
    expect(decideLock(undefined, 'alice', now, false)).toEqual({ kind: 'take', takeover: false });
    expect(decideLock({ resourceVersion: '1' }, 'alice', now, false)).toEqual({ kind: 'take', takeover: false });
  });
  it('refuses a live lock of someone else, naming the holder and since when', () => {
    expect(decideLock(held('2026-11-26T11:59:45Z'), 'alice', now, false)).toEqual({ kind: 'refuse', holder: 'bob@laptop:41', since: '2026-11-26T11:50:00Z' });
  });
  it('takes over a lock not renewed within its TTL', () => {
    expect(decideLock(held('2026-11-26T11:59:29Z'), 'alice', now, false)).toEqual({ kind: 'take', takeover: true });
  });
  it('takes over a live lock with --force-unlock', () => {
    expect(decideLock(held('2026-11-26T11:59:59Z'), 'alice', now, true)).toEqual({ kind: 'take', takeover: true });
  });
  it('keeps its own lock', () => {
    expect(decideLock(held('2026-11-26T11:59:59Z', 'alice'), 'alice', now, false)).toEqual({ kind: 'take', takeover: false });
  });
  it('takes over from a session known to be gone', () => {
    expect(decideLock(held('2026-11-26T11:59:59Z'), 'alice', now, false, true)).toEqual({ kind: 'take', takeover: true });
  });
  it('reads host and pid back from a holder identity', () => {
    expect(holderProcess(holderIdentity('alice@corp', 'laptop-7', 4242))).toEqual({ host: 'laptop-7', pid: 4242 });
    expect(holderProcess('someone else')).toBeUndefined();
  });
});
