// Runs a command that changes the cluster while holding the StatefulSet's operator lock (a Lease),
// renewed in the background, released at the end whatever happens.
import { hostname } from 'node:os';
import { GateError } from '../core/errors.js';
import { LEASE_SECONDS, decideLock, holderIdentity, holderProcess, leaseName, type LeaseState } from '../core/lock.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';

/** A holder on this machine whose process has ended (a crash, Ctrl-C, kill) holds nothing any more. */
function sessionGone(holder: string): boolean {
  const p = holderProcess(holder);
  if (!p || p.host !== hostname() || p.pid === process.pid) return false;
  try {
    process.kill(p.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export async function withLock<T>(cluster: Cluster, ui: Ui, statefulSet: string, who: string, forceUnlock: boolean, fn: () => Promise<T>): Promise<T> {
  const name = leaseName(statefulSet);
  const me = holderIdentity(who, hostname(), process.pid);
  const current = await cluster.readLease(name);
  const decision = decideLock(current, me, new Date(), forceUnlock, current?.holder ? sessionGone(current.holder) : false);
  if (decision.kind === 'refuse') {
    throw new GateError(
      `statefulset "${statefulSet}" is being changed by ${decision.holder} since ${decision.since} (lease ${cluster.namespace}/${name}); ` +
        `wait for them, or if that session is gone pass --force-unlock`,
    );
  }
  if (decision.takeover) ui.warn(`taking over the lock of ${current!.holder} (lease ${name})`);
  const acquiredAt = new Date().toISOString();
  let lease: LeaseState;
  try {
    lease = await cluster.writeLease(name, current?.resourceVersion, me, acquiredAt, LEASE_SECONDS);
  } catch (e) {
    if ((e as { status?: number }).status === 409) {
      throw new GateError(`another operator took the lock of statefulset "${statefulSet}" just now (lease ${name}); nothing was done`);
    }
    throw e;
  }
  let renewing = Promise.resolve();
  const timer = setInterval(() => {
    renewing = renewing.then(async () => {
      lease = await cluster.writeLease(name, lease.resourceVersion, me, acquiredAt, LEASE_SECONDS).catch(() => lease);
    });
  }, (LEASE_SECONDS * 1000) / 3);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
    await renewing;
    await cluster.deleteLease(name, lease.resourceVersion).catch(() => undefined);
  }
}
