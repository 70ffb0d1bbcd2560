// What every step of the walk works with: the cluster, the terminal, who is walking, the limits the
// operator set, the evidence; and the record on the StatefulSet, read and written compare-and-swap.
import { formatDuration } from '../core/duration.js';
import { GateError } from '../core/errors.js';
import { RECORD_ANNOTATION, decodeRecord, encodeRecord, type UpgradeRecord } from '../core/upgrade.js';
import type { PodSnapshot, StatefulSetSnapshot } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import type { DrainEvidence } from './evidence.js';
import type { SoakOptions } from './soak.js';

export interface WalkContext {
  cluster: Cluster;
  ui: Ui;
  now: () => Date;
  /** Who confirms: the API server's name for the user. */
  who: string;
  minDrainMs: number;
  timeoutMs: number;
  /** What Tencent Cloud says about drained pods (or why nothing). */
  evidence: DrainEvidence;
  /** Warnings already given in this run (said once, not before every batch). */
  warned: Set<string>;
  /** The soak gate's options (next); absent: only a soak start recorded, with no analyses. */
  soak?: SoakOptions;
}

export interface Upgrade {
  sts: StatefulSetSnapshot;
  pods: PodSnapshot[];
  record: UpgradeRecord;
}

export const podNames = (statefulSet: string, ordinals: number[]) => ordinals.map((o) => `${statefulSet}-${o}`).join(', ') || 'none';
export const noUpgradeMessage = (name: string) => `no upgrade is in progress on statefulset "${name}"; start one with: kubectl zerolossupgrade start ${name}`;

export async function readUpgrade(cluster: Cluster, name: string): Promise<Upgrade> {
  return upgradeOf(name, await cluster.readStatefulSetWithPods(name));
}

/** The upgrade recorded on a StatefulSet just read; refuses when none is, or the record does not read. */
export function upgradeOf(name: string, { sts, pods }: { sts: StatefulSetSnapshot; pods: PodSnapshot[] }): Upgrade {
  const text = sts.annotations[RECORD_ANNOTATION];
  if (!text) throw new GateError(noUpgradeMessage(name));
  try {
    return { sts, pods, record: decodeRecord(text) };
  } catch (e) {
    throw new GateError(
      `statefulset "${name}": ${(e as Error).message}. Nothing was changed. Look at it with kubectl get statefulset ${name} -o jsonpath='{.metadata.annotations.zerolossupgrade\\.io/upgrade}'; ` +
        `if the upgrade is over, remove it (kubectl annotate statefulset ${name} ${RECORD_ANNOTATION}-) after checking each Service's lb-rs-weight`,
    );
  }
}

/**
 * Writes the record on the StatefulSet, compare-and-swap: the patch carries the resourceVersion we
 * read. On a conflict, read again: our value already there means an earlier attempt landed (a
 * lost response); the old one still there means only the controller moved (retry); anything else
 * means someone else is walking.
 */
export async function saveRecord(cluster: Cluster, sts: StatefulSetSnapshot, record: UpgradeRecord | null): Promise<StatefulSetSnapshot> {
  const ours = sts.annotations[RECORD_ANNOTATION];
  const wanted = record ? encodeRecord(record) : undefined;
  let current = sts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await cluster.patchStatefulSet(sts.name, current.resourceVersion, { annotations: { [RECORD_ANNOTATION]: wanted ?? null } });
    } catch (e) {
      if ((e as { status?: number }).status !== 409 || attempt >= 10) throw e;
      current = (await cluster.readStatefulSetWithPods(sts.name)).sts;
      if (current.annotations[RECORD_ANNOTATION] === wanted) return current;
      if (current.annotations[RECORD_ANNOTATION] !== ours) {
        throw new GateError(`the upgrade record on statefulset "${sts.name}" was changed by someone else meanwhile; nothing more was done. See: kubectl zerolossupgrade status ${sts.name}`);
      }
    }
  }
}

/** Leaves an Event on the StatefulSet (the audit trail in `kubectl describe statefulset`). */
export async function audit(ctx: Pick<WalkContext, 'cluster' | 'ui'>, sts: StatefulSetSnapshot, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): Promise<void> {
  try {
    await ctx.cluster.recordEvent(sts, type, reason, message);
  } catch (e) {
    // The record on the StatefulSet keeps who confirmed what; a missing Event is worth a warning only.
    ctx.ui.warn(`could not record the Event ${reason}: ${(e as Error).message}`);
  }
}

/** The StatefulSet's view after a change: waits until the controller has observed it. */
export async function observed(cluster: Cluster, name: string, timeoutMs: number): Promise<{ sts: StatefulSetSnapshot; pods: PodSnapshot[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await cluster.readStatefulSetWithPods(name);
    if (r.sts.observedGeneration >= r.sts.generation && r.sts.updateRevision) return r;
    if (Date.now() > deadline) throw new GateError(`the StatefulSet controller has not picked up the change to "${name}" within ${formatDuration(timeoutMs)}; is kube-controller-manager running?`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
