// Runs a command that changes the cluster while holding the StatefulSet's operator lock (a Lease),
// renewed in the background, released at the end whatever happens.
import { hostname } from 'node:os';
import { GateError, NotFoundError } from '../core/errors.js';
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

/** The writes a lost lock must stop: every change to the cluster the walk makes. */
const WRITES = new Set<keyof Cluster>(['patchStatefulSet', 'setServiceAnnotation', 'evictPod', 'writeConfigMap']);

/** The cluster, with every write checked first against `check` (which throws when the lock is lost). */
export function guardWrites(cluster: Cluster, check: () => void): Cluster {
  return new Proxy(cluster, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (!WRITES.has(prop as keyof Cluster)) return value.bind(target);
      return (...args: unknown[]) => {
        check();
        return value.apply(target, args);
      };
    },
  });
}

/**
 * Runs `fn` holding the StatefulSet's Lease, renewed every third of its duration. `fn` gets the
 * cluster to use: once the Lease is lost (another session took it, or it could not be renewed
 * within its duration, so another may take it) its next write is refused and the walk stops.
 */
export async function withLock<T>(cluster: Cluster, ui: Ui, statefulSet: string, who: string, forceUnlock: boolean, fn: (cluster: Cluster) => Promise<T>, leaseSeconds = LEASE_SECONDS): Promise<T> {
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
  // Counted from the sending, as every other session counts it from the renewTime it carries.
  let renewedAt = Date.now();
  let lease: LeaseState;
  try {
    lease = await cluster.writeLease(name, current?.resourceVersion, me, acquiredAt, leaseSeconds);
  } catch (e) {
    if ((e as { status?: number }).status === 409) {
      throw new GateError(`another operator took the lock of statefulset "${statefulSet}" just now (lease ${name}); nothing was done`);
    }
    throw e;
  }
  let lost: string | undefined;
  // Why the last renewal failed (a 403 names the permission), for the message when the lock runs out.
  let renewError: string | undefined;
  let renewing = Promise.resolve();
  const timer = setInterval(() => {
    renewing = renewing.then(async () => {
      if (lost) return;
      // Others judge the Lease by the renewTime this request carries: count from its sending.
      const sentAt = Date.now();
      try {
        lease = await cluster.writeLease(name, lease.resourceVersion, me, acquiredAt, leaseSeconds);
        renewedAt = sentAt;
        renewError = undefined;
      } catch (e) {
        if ((e as { status?: number }).status !== 409) {
          renewError = (e as Error).message;
          return;
        }
        // A retried renewal whose first attempt landed also ends in 409: the Lease says whose it is.
        const now = await cluster.readLease(name).catch(() => undefined);
        if (now?.holder === me) {
          lease = now;
          renewedAt = sentAt;
        } else lost = 'another session took the lock';
      }
    });
  }, (leaseSeconds * 1000) / 3);
  timer.unref();
  const check = () => {
    const why = lost ?? (Date.now() - renewedAt > leaseSeconds * 1000 ? `the lock could not be renewed for ${leaseSeconds}s${renewError ? ` (${renewError})` : ''}, so another session may hold it` : undefined);
    if (why) {
      lost = why;
      throw new GateError(`${why} (lease ${cluster.namespace}/${name}); stopped before the next change. See kubectl zerolossupgrade status ${statefulSet}, then run the same command again`);
    }
  };
  try {
    return await fn(guardWrites(cluster, check));
  } finally {
    clearInterval(timer);
    await renewing;
    if (!lost) await cluster.deleteLease(name, lease.resourceVersion).catch((e: unknown) => releaseFailed(ui, cluster.namespace, name, leaseSeconds, e));
  }
}

/**
 * The work is done whether or not the Lease goes; a colleague is kept waiting until it expires, so
 * a failed release is said (a 403 names the permission). Gone already (404) or taken by another
 * session meanwhile (409) leaves nothing to release.
 */
function releaseFailed(ui: Ui, namespace: string, name: string, leaseSeconds: number, e: unknown): void {
  if (e instanceof NotFoundError || (e as { status?: number }).status === 409) return;
  ui.warn(`could not release the lock (lease ${namespace}/${name}): ${(e as Error).message}; others can take it ${leaseSeconds}s after its last renewal`);
}
