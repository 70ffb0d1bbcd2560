// The pods of the walk: the health gate before a batch, leaving through the Eviction API (so
// PodDisruptionBudgets count), and waiting for them to come back at the target revision.
import { formatDuration } from '../core/duration.js';
import { GateError } from '../core/errors.js';
import { servingOrdinals, type UpgradeRecord } from '../core/upgrade.js';
import { onRevision, podTrouble, type PodSnapshot } from '../core/workload.js';
import type { PodFeed } from '../k8s/types.js';
import { podNames, type Upgrade, type WalkContext } from './context.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Refuses unless every pod that should be serving (surge, upgraded, still pending: all but
 * `except`) is Running and Ready; names each that is not, and why.
 */
export function assertServing(up: Upgrade, except: number[], before: string): void {
  const trouble = servingOrdinals(up.record, except)
    .map((o) => [o, podTrouble(up.pods.find((p) => p.ordinal === o))] as const)
    .filter(([, t]) => t !== undefined);
  if (trouble.length === 0) return;
  const name = up.record.statefulSet;
  throw new GateError(
    `not every pod that should be serving is Running and Ready, so ${before} would cut capacity: ${trouble.map(([o, t]) => `${name}-${o}: ${t}`).join('; ')}. ` +
      `Nothing was changed. Look at them (kubectl describe pod ${name}-${trouble[0]![0]}), then run the same command again, or go back with kubectl zerolossupgrade rollback ${name} (or abort)`,
  );
}

/** A pod is rebuilt when it is on the target revision, Running and Ready, readiness gates included. */
export function isRebuilt(record: UpgradeRecord, pod: PodSnapshot | undefined): boolean {
  return onRevision(pod, record.targetRevision) && podTrouble(pod) === undefined;
}

/** Why a pod is not rebuilt yet, for the message when a wait runs out. */
export function notRebuilt(record: UpgradeRecord, pod: PodSnapshot | undefined): string {
  const trouble = podTrouble(pod);
  if (trouble) return trouble;
  return `on revision ${pod!.revision ?? 'unknown'}, not ${record.targetRevision}`;
}

/** Waits (watching) until these ordinals are rebuilt, with a line of progress. */
export async function waitRebuilt(ctx: WalkContext, up: Upgrade, ordinals: number[], feed?: PodFeed): Promise<PodSnapshot[]> {
  const names = podNames(up.record.statefulSet, ordinals);
  const progress = ctx.ui.progress(`waiting for ${names} to come back at revision ${up.record.targetRevision}, Running and Ready`);
  let wait;
  try {
    const done = (ps: PodSnapshot[]) => ordinals.every((o) => isRebuilt(up.record, ps.find((p) => p.ordinal === o)));
    wait = await (feed ? feed.until(done, ctx.timeoutMs) : ctx.cluster.waitForPods(up.sts, done, ctx.timeoutMs));
  } finally {
    progress.done(wait?.met ? `${names}: back at the new revision, Running and Ready` : `${names}: not ready`);
  }
  if (wait.met) return wait.pods;
  const last = wait.pods;
  const why = ordinals.filter((o) => !isRebuilt(up.record, last.find((p) => p.ordinal === o))).map((o) => `${up.record.statefulSet}-${o}: ${notRebuilt(up.record, last.find((p) => p.ordinal === o))}`);
  throw new GateError(
    `${names} did not become Ready at revision ${up.record.targetRevision} within --timeout (${formatDuration(ctx.timeoutMs)}): ${why.join('; ')}. They stay drained. ` +
      `Look at them (kubectl describe pod -n ${ctx.cluster.namespace} ${up.record.statefulSet}-${ordinals[0]}), then run the same command again to keep waiting, or roll back`,
  );
}

/**
 * Evicts one pod by uid, waiting while a PodDisruptionBudget refuses (never falling back to a plain
 * delete), at most --timeout. `stillDrained` runs before every attempt: when it says no, nothing is
 * evicted and the caller drains again. Returns false in that case.
 */
export async function evictWhenAllowed(ctx: WalkContext, pod: { pod: string; uid: string }, stillDrained: () => Promise<boolean>): Promise<boolean> {
  const deadline = ctx.now().getTime() + ctx.timeoutMs;
  let progress: ReturnType<WalkContext['ui']['progress']> | undefined;
  try {
    for (;;) {
      if (!(await stillDrained())) return false;
      const r = await ctx.cluster.evictPod(pod.pod, pod.uid);
      if (r.kind === 'evicted') {
        progress?.done(`${pod.pod}: the disruption budget allowed it`);
        progress = undefined;
        ctx.ui.info(`deleted pod ${pod.pod} (uid ${pod.uid})`);
        return true;
      }
      if (r.kind === 'gone') return true;
      const what = `waiting to evict ${pod.pod}: ${r.reason}`;
      if (progress) progress.update(what);
      else progress = ctx.ui.progress(what);
      if (ctx.now().getTime() >= deadline) {
        throw new GateError(
          `${pod.pod} was not evicted within --timeout (${formatDuration(ctx.timeoutMs)}): ${r.reason}. It was not deleted and stays drained; ` +
            `when the budget allows (kubectl get pdb -n ${ctx.cluster.namespace}), run the same command again`,
        );
      }
      await sleep(Math.min(2000, Math.max(0, deadline - ctx.now().getTime())));
    }
  } finally {
    progress?.done(`${pod.pod}: not evicted`);
  }
}
