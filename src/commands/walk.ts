// The steps of the walk shared by next and finish: write the record, make the Services carry what
// the record implies, let a human confirm the drain, rebuild pods, restore. Each step is
// idempotent; a command that is run again after a crash redoes the step it was in.
import { formatDuration } from '../core/duration.js';
import { ConfigError, GateError } from '../core/errors.js';
import { RS_WEIGHT_ANNOTATION, weightOf } from '../core/rs-weight.js';
import { RECORD_ANNOTATION, decodeRecord, encodeRecord, serviceAnnotation, type UpgradeRecord } from '../core/upgrade.js';
import { revisionState, type PodSnapshot, type StatefulSetSnapshot } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import type { DrainEvidence } from './evidence.js';

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
}

export interface Upgrade {
  sts: StatefulSetSnapshot;
  pods: PodSnapshot[];
  record: UpgradeRecord;
}

export const noUpgradeMessage = (name: string) => `no upgrade is in progress on statefulset "${name}"; start one with: kubectl zerolossupgrade start ${name}`;

export async function readUpgrade(cluster: Cluster, name: string): Promise<Upgrade> {
  const { sts, pods } = await cluster.readStatefulSetWithPods(name);
  const text = sts.annotations[RECORD_ANNOTATION];
  if (!text) throw new GateError(noUpgradeMessage(name));
  try {
    return { sts, pods, record: decodeRecord(text) };
  } catch (e) {
    throw new ConfigError(`statefulset "${name}": ${(e as Error).message}`);
  }
}

/**
 * Writes the record on the StatefulSet, compare-and-swap: the patch carries the resourceVersion we
 * read; when the StatefulSet moved only because its controller updated it (the record is still the
 * one we hold), read it again and retry; when the record itself changed, someone else is walking.
 */
export async function saveRecord(cluster: Cluster, sts: StatefulSetSnapshot, record: UpgradeRecord | null): Promise<StatefulSetSnapshot> {
  const ours = sts.annotations[RECORD_ANNOTATION];
  let current = sts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await cluster.patchStatefulSet(sts.name, current.resourceVersion, { annotations: { [RECORD_ANNOTATION]: record ? encodeRecord(record) : null } });
    } catch (e) {
      if ((e as { status?: number }).status !== 409 || attempt >= 10) throw e;
      current = (await cluster.readStatefulSetWithPods(sts.name)).sts;
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

/**
 * Makes every Service carry the lb-rs-weight value the record implies (or its original value).
 * Returns whether any Service had to change: then the drain only starts now.
 */
export async function applyServiceAnnotations(ctx: WalkContext, record: UpgradeRecord, final = false): Promise<boolean> {
  let changed = false;
  for (const svc of record.services) {
    const desired = final ? (svc.original ?? undefined) : serviceAnnotation(record, svc);
    for (let attempt = 1; ; attempt++) {
      const current = await ctx.cluster.readService(svc.name);
      if (current.annotations[RS_WEIGHT_ANNOTATION] === desired) break;
      try {
        await ctx.cluster.setServiceAnnotation(svc.name, current.resourceVersion, RS_WEIGHT_ANNOTATION, desired);
        changed = true;
        break;
      } catch (e) {
        // Someone else changed the Service meanwhile: read it again and recompute.
        if ((e as { status?: number }).status !== 409 || attempt >= 5) throw e;
      }
    }
  }
  return changed;
}

/** Refuses unless every Service gives these ordinals weight 0 on every port right now. */
export async function assertDrained(ctx: WalkContext, record: UpgradeRecord, ordinals: number[]): Promise<void> {
  for (const svc of record.services) {
    const current = (await ctx.cluster.readService(svc.name)).annotations[RS_WEIGHT_ANNOTATION];
    for (const port of svc.ports) {
      const open = ordinals.filter((o) => weightOf(current, record.statefulSet, port, o) !== 0);
      if (open.length > 0) {
        throw new GateError(`service "${svc.name}" gives ordinals ${open.join(', ')} a weight above 0 on ${port.proto}/${port.port}; nothing was deleted`);
      }
    }
  }
}

/** A pod is rebuilt when it is the new revision with the target images, Running and Ready, gates included. */
export function isRebuilt(sts: StatefulSetSnapshot, record: UpgradeRecord, pod: PodSnapshot | undefined): boolean {
  if (!pod || pod.deleting || pod.phase !== 'Running' || !pod.ready || pod.readinessGates.some((g) => !g.ok)) return false;
  if (revisionState(sts, pod) !== 'new') return false;
  return record.targetImages.every((t) => pod.containers.some((c) => c.name === t.name && c.image === t.image));
}

/** Waits (watching) until these ordinals are rebuilt, with a line of progress. */
export async function waitRebuilt(ctx: WalkContext, sts: StatefulSetSnapshot, record: UpgradeRecord, ordinals: number[]): Promise<PodSnapshot[]> {
  const names = ordinals.map((o) => `${sts.name}-${o}`).join(', ');
  const progress = ctx.ui.progress(`waiting for ${names} to come back at the new revision, Running and Ready`);
  try {
    const pods = await ctx.cluster.waitForPods(sts, (ps) => ordinals.every((o) => isRebuilt(sts, record, ps.find((p) => p.ordinal === o))), ctx.timeoutMs);
    progress.done(`${names}: back at the new revision, Running and Ready`);
    return pods;
  } catch (e) {
    progress.done(`${names}: not ready`);
    if (e instanceof GateError) {
      throw new GateError(
        `${names} did not become Ready at the new revision within --timeout (${formatDuration(ctx.timeoutMs)}); they stay drained. ` +
          `Look at them (kubectl describe pod -n ${ctx.cluster.namespace} ...), then run the same command again to keep waiting, or roll back`,
      );
    }
    throw e;
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
