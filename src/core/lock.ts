// The operator lock: one Lease per StatefulSet, held while a command changes anything. Pure decision.

export const LEASE_SECONDS = 30;
export const leaseName = (statefulSet: string) => `zerolossupgrade-${statefulSet}`;

export interface LeaseState {
  holder?: string;
  acquiredAt?: string;
  renewedAt?: string;
  durationSeconds?: number;
  resourceVersion: string;
}

export type LockDecision = { kind: 'take'; takeover: boolean } | { kind: 'refuse'; holder: string; since: string };

/** The holder identity a session writes: who, and where it runs, so a dead session can be recognised. */
export const holderIdentity = (who: string, host: string, pid: number) => `${who} (${host} pid ${pid})`;

/** The host and pid in a holder identity, if it has them. */
export function holderProcess(holder: string): { host: string; pid: number } | undefined {
  const m = /\((\S+) pid (\d+)\)$/.exec(holder);
  return m ? { host: m[1]!, pid: Number(m[2]) } : undefined;
}

/**
 * Free, expired, forced, or held by a session known to be gone (same machine, process ended): take
 * it. Held by someone else and renewed within its TTL: refuse.
 */
export function decideLock(lease: LeaseState | undefined, me: string, now: Date, forceUnlock: boolean, holderGone = false): LockDecision {
  if (!lease?.holder) return { kind: 'take', takeover: false };
  if (lease.holder === me) return { kind: 'take', takeover: false };
  const renewed = new Date(lease.renewedAt ?? lease.acquiredAt ?? 0).getTime();
  const expired = now.getTime() > renewed + (lease.durationSeconds ?? LEASE_SECONDS) * 1000;
  if (expired || forceUnlock || holderGone) return { kind: 'take', takeover: true };
  return { kind: 'refuse', holder: lease.holder, since: lease.acquiredAt ?? lease.renewedAt ?? 'unknown' };
}
