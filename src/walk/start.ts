// The start of an upgrade: every check read-only and before any change, then one conditional patch
// (record, images, surge), then the wait for the surge pods. Run again after a crash, it picks up
// its own unfinished start.
import { GateError, UsageError } from '../core/errors.js';
import { RS_WEIGHT_ANNOTATION, withoutZeroWeights, zeroWeightOrdinals } from '../core/rs-weight.js';
import { DIRECT_ACCESS_ANNOTATION, classifyServices, indirectWarning, malformedWeights, reconcilingWriters } from '../core/services.js';
import { toStatusView } from '../core/status-view.js';
import { RECORD_ANNOTATION, RECORD_VERSION, decodeRecord, encodeRecord, planBatches, reconcileServices, surgeOrdinals, type UpgradeRecord } from '../core/upgrade.js';
import { settledRevision, type ContainerImage, type PodSnapshot, type ServiceSnapshot, type StatefulSetSnapshot } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { audit, observed, podNames, saveRecord } from './context.js';
import { writeHistory } from './history.js';
import { isRebuilt, notRebuilt } from './pods.js';
import { printPlan, stsPatchStep } from './plan.js';

export const DEFAULT_CLB_BACKEND_QUOTA = 200;

export interface StartPlan {
  name: string;
  images: ContainerImage[];
  batch: number;
  surge: number;
  services: string[];
  force: boolean;
  keepZeroWeights: boolean;
  timeoutMs: number;
  dryRun: boolean;
  /** Backends one CLB takes (200 by default in Tencent Cloud; higher for accounts with a raised quota). */
  clbBackendQuota?: number;
  /** How long each batch soaks after its restore (recorded; next --soak overrides). */
  soakMs?: number;
  /** Instead of images: put this ControllerRevision's template back (the undo of a finished upgrade). */
  revision?: { name: string; patch: Record<string, unknown>; images: ContainerImage[]; undoOf?: number };
}

/** The direct-access Services the walk drains through, checked; refusals name the Service and the fix. */
export function pickServices(all: ServiceSnapshot[], sts: StatefulSetSnapshot, pods: PodSnapshot[], named: string[], ui: Ui): ServiceSnapshot[] {
  for (const n of named) {
    const s = all.find((x) => x.name === n);
    if (!s) throw new GateError(`service "${n}" (--service) is not a LoadBalancer Service in this namespace`);
    if (s.annotations[DIRECT_ACCESS_ANNOTATION] !== 'true') {
      throw new GateError(`service "${s.name}" is not in CLB direct-to-pod mode: lb-rs-weight only acts on direct access. Set the annotation ${DIRECT_ACCESS_ANNOTATION}: "true" first`);
    }
  }
  const classes = classifyServices(all, sts, pods, named.length > 0 ? named : undefined);
  const missing = named.filter((n) => !classes.managed.some((s) => s.name === n));
  if (missing.length > 0) throw new GateError(`service "${missing[0]}" does not select the pods of statefulset "${sts.name}"`);
  if (classes.excluded.length > 0) {
    throw new GateError(
      `service ${classes.excluded.map((s) => `"${s.name}"`).join(', ')} (direct access) also selects the pods of statefulset "${sts.name}" but is not named with --service: ` +
        `deleting a pod behind it would lose its traffic. Name it too (--service ${classes.excluded[0]!.name}), or leave --service out to drain through every selecting Service`,
    );
  }
  for (const s of classes.indirect) {
    if (named.length === 0 && classes.managed.length === 0) {
      throw new GateError(`service "${s.name}" is not in CLB direct-to-pod mode: lb-rs-weight only acts on direct access. Set the annotation ${DIRECT_ACCESS_ANNOTATION}: "true" first`);
    }
    ui.warn(indirectWarning(s));
  }
  if (classes.managed.length === 0) {
    throw new GateError(`no LoadBalancer Service selects the pods of statefulset "${sts.name}"; create one with ${DIRECT_ACCESS_ANNOTATION}: "true", or name it with --service`);
  }
  for (const s of classes.managed) {
    const bad = malformedWeights(s);
    if (bad) throw new GateError(`service "${s.name}" has a malformed ${RS_WEIGHT_ANNOTATION} annotation: ${bad}. Fix or remove it first`);
  }
  return classes.managed;
}

/**
 * Weight-0 entries for this StatefulSet with no upgrade recorded are what a lost record leaves
 * (helm --force or Argo Replace re-created the StatefulSet): recording them as "before" would keep
 * those pods out of traffic for good. Refused, with the command that gives them back.
 */
function refuseLostDrains(services: ServiceSnapshot[], sts: StatefulSetSnapshot, namespace: string): void {
  const found = services.map((s) => ({ s, ordinals: zeroWeightOrdinals(s.annotations[RS_WEIGHT_ANNOTATION], sts.name) })).filter((x) => x.ordinals.length > 0);
  if (found.length === 0) return;
  const fixes = found.map(({ s }) => {
    const value = withoutZeroWeights(s.annotations[RS_WEIGHT_ANNOTATION]!, sts.name);
    return value === undefined ? `kubectl annotate service ${s.name} -n ${namespace} ${RS_WEIGHT_ANNOTATION}-` : `kubectl annotate service ${s.name} -n ${namespace} --overwrite ${RS_WEIGHT_ANNOTATION}='${value}'`;
  });
  throw new GateError(
    `${found.map(({ s, ordinals }) => `service "${s.name}" gives ${podNames(sts.name, ordinals)} weight 0`).join('; ')}, but no upgrade is recorded on statefulset "${sts.name}": ` +
      `probably a drain left by an upgrade whose record was lost. Nothing was changed. To give them their traffic back: ${fixes.join(' && ')}. ` +
      `If those weights are meant to stay 0, pass --keep-zero-weights`,
  );
}

export async function startUpgrade(o: StartPlan, cluster: Cluster, ui: Ui, now: () => Date, who: string): Promise<void> {
  // The patch is conditional on what the preflight read. When the StatefulSet moved meanwhile (its
  // controller writes status as pods change), nothing was changed: check everything again and retry.
  for (let attempt = 1; ; attempt++) {
    try {
      return await preflightAndStart(o, cluster, ui, now, who);
    } catch (e) {
      if ((e as { status?: number }).status !== 409 || attempt >= 5) throw e;
    }
  }
}

async function preflightAndStart(o: StartPlan, cluster: Cluster, ui: Ui, now: () => Date, who: string): Promise<void> {
  // Preflight: everything read-only, all of it before any change.
  let { sts, pods } = await cluster.readStatefulSetWithPods(o.name);
  if (sts.updateStrategy !== 'OnDelete') {
    throw new GateError(`statefulset "${o.name}" has updateStrategy ${sts.updateStrategy}: its controller would replace pods itself. Set spec.updateStrategy.type to OnDelete first`);
  }
  const existing = sts.annotations[RECORD_ANNOTATION];
  if (existing) {
    let record: UpgradeRecord;
    try {
      record = decodeRecord(existing);
    } catch (e) {
      throw new GateError(`statefulset "${o.name}": ${(e as Error).message}; nothing was changed`);
    }
    const same = o.images.every((i) => record.targetImages.some((t) => t.name === i.name && t.image === i.image));
    // Run again after a crash, `start` picks up its own unfinished work; anything else is refused.
    if (same && record.batches.every((b) => b.phase === 'pending') && !record.finish && !record.rollback) {
      if (o.dryRun) return printPlan(ui, [{ request: `record the update revision on statefulset "${o.name}" and wait until surge pods ${podNames(o.name, surgeOrdinals(record))} are Running and Ready at it (the start is recorded already)` }]);
      return waitForSurge(o, cluster, ui, record);
    }
    throw new GateError(`an upgrade is already recorded on statefulset "${o.name}"; continue it with: kubectl zerolossupgrade next ${o.name}`);
  }
  if (sts.replicas === 0) throw new GateError(`statefulset "${o.name}" has 0 replicas: there is nothing to walk. Scale it up, or change its template directly`);
  for (const i of o.images) {
    if (!sts.containers.some((c) => c.name === i.name)) {
      throw new GateError(`statefulset "${o.name}" has no container "${i.name}" (it has: ${sts.containers.map((c) => c.name).join(', ')})`);
    }
  }
  const settled = settledRevision(sts, pods);
  if ('problem' in settled) throw new GateError(`statefulset "${o.name}" is not settled: ${settled.problem}. Every replica must be Running and Ready on one revision before an upgrade`);
  const adopting = o.images.length === 0 && !o.revision;
  if (o.revision) {
    if (o.revision.name === settled.revision) throw new UsageError(`every pod of statefulset "${o.name}" is on revision ${settled.revision} already; nothing to walk back`);
  } else if (adopting) {
    // The controller must have seen the template before its update revision says anything.
    if (sts.observedGeneration < sts.generation) ({ sts, pods } = await observed(cluster, o.name, 30_000));
    if (sts.updateRevision === settled.revision) throw new UsageError(`statefulset "${o.name}" has no pending template change; say what to upgrade with --image CONTAINER=IMAGE`);
  } else if (o.images.every((i) => pods.every((p) => p.containers.some((c) => c.name === i.name && c.image === i.image)))) {
    throw new UsageError(`every pod of statefulset "${o.name}" already runs ${o.images.map((i) => `${i.name}=${i.image}`).join(', ')}; nothing to upgrade`);
  }
  const services = pickServices(await cluster.listLoadBalancerServices(), sts, pods, o.services, ui);
  if (!o.keepZeroWeights) refuseLostDrains(services, sts, cluster.namespace);
  for (const s of services) {
    const writers = reconcilingWriters(s);
    if (writers.length > 0) {
      ui.warn(`service "${s.name}"'s annotations are managed by ${writers.join(', ')}: if it re-applies the Service mid-walk it reverts the drain. The walk notices and drains again before any deletion, but pause its auto-sync for this Service during the upgrade`);
    }
  }
  // Direct access binds every pod to the CLB: with the surge, more pods than a CLB takes leave some unbound.
  const quota = o.clbBackendQuota ?? DEFAULT_CLB_BACKEND_QUOTA;
  if (sts.replicas + o.surge > quota) {
    for (const s of services) {
      ui.warn(
        `service "${s.name}": ${sts.replicas} replicas + ${o.surge} surge = ${sts.replicas + o.surge} pods to bind to its CLB, over ${quota} backends per CLB (Tencent Cloud's default quota): ` +
          `pods past it are never bound, so they take no traffic and their drain cannot be seen. Ask Tencent Cloud to raise the quota and pass --clb-backend-quota, or walk with a smaller --surge`,
      );
    }
  }
  const hpas = await cluster.autoscalersOf(o.name);
  if (hpas.length > 0 && !o.force) {
    throw new GateError(`horizontalpodautoscaler ${hpas.join(', ')} scales statefulset "${o.name}" and would fight the surge; pause it, or pass --force`);
  }
  if (hpas.length > 0) ui.warn(`horizontalpodautoscaler ${hpas.join(', ')} scales this StatefulSet (--force); the walk stops if it changes the replica count`);

  const targetImages = o.revision ? o.revision.images : sts.containers.map((c) => o.images.find((i) => i.name === c.name) ?? c);
  const empty: UpgradeRecord = {
    version: RECORD_VERSION,
    statefulSet: o.name,
    startedAt: now().toISOString(),
    startedBy: who,
    originalReplicas: sts.replicas,
    ordinalsStart: sts.ordinalsStart,
    surge: o.surge,
    batchSize: o.batch,
    originalRevision: settled.revision,
    originalImages: pods[0]!.containers,
    targetImages,
    services: [],
    ...(o.services.length > 0 ? { servicesNamed: o.services } : {}),
    batches: planBatches(sts.ordinalsStart, sts.replicas, o.batch),
    ...(o.soakMs ? { soakMs: o.soakMs } : {}),
    ...(o.revision ? { undo: o.revision.undoOf !== undefined ? { upgrade: o.revision.undoOf } : {} } : {}),
  };
  const record = reconcileServices(empty, services, (s) => s.annotations[RS_WEIGHT_ANNOTATION]).record;
  // One conditional patch: the record, the new images and the surge land together or not at all.
  const change = {
    annotations: { [RECORD_ANNOTATION]: encodeRecord(record) },
    ...(o.revision ? { revisionPatch: o.revision.patch } : adopting ? {} : { images: o.images }),
    ...(o.surge > 0 ? { replicas: sts.replicas + o.surge } : {}),
  };
  if (o.dryRun) {
    printPlan(ui, [stsPatchStep(o.name, sts.resourceVersion, change), { request: `wait until surge pods ${podNames(o.name, surgeOrdinals(record))} are Running and Ready at the new revision` }]);
    return;
  }
  await cluster.patchStatefulSet(o.name, sts.resourceVersion, change);
  const summary = `${record.batches.length} batches of up to ${o.batch}, surge ${o.surge}; from revision ${settled.revision}; target ${targetImages.map((c) => `${c.name}=${c.image}`).join(', ')}`;
  ui.info(`recorded the upgrade of statefulset "${o.name}": ${summary}`);
  await audit({ cluster, ui }, sts, 'UpgradeStarted', `by ${who}: ${summary}`);
  await waitForSurge(o, cluster, ui, record);
}

/** Records the update revision once the controller has it, then waits for the surge pods. */
async function waitForSurge(o: StartPlan, cluster: Cluster, ui: Ui, record: UpgradeRecord): Promise<void> {
  const seen = await observed(cluster, o.name, 30_000);
  if (seen.sts.updateRevision === record.originalRevision) {
    throw new GateError(`the template of statefulset "${o.name}" is back at revision ${record.originalRevision} (someone reverted it): there is nothing to walk. Remove the upgrade with: kubectl zerolossupgrade abort ${o.name}`);
  }
  if (record.targetRevision && seen.sts.updateRevision !== record.targetRevision) {
    throw new GateError(`the template of statefulset "${o.name}" changed since start (revision ${seen.sts.updateRevision}, not ${record.targetRevision}); go back with kubectl zerolossupgrade rollback ${o.name}, or stop with abort`);
  }
  const withTarget: UpgradeRecord = { ...record, targetRevision: seen.sts.updateRevision };
  const current = record.targetRevision === seen.sts.updateRevision ? seen.sts : await saveRecord(cluster, seen.sts, withTarget);
  await writeHistory({ cluster, ui }, withTarget, (e) => e);
  const surge = surgeOrdinals(withTarget);
  if (surge.length > 0) {
    const names = podNames(o.name, surge);
    const progress = ui.progress(`waiting for surge pods ${names} to be Running and Ready at the new revision`);
    let wait;
    try {
      wait = await cluster.waitForPods(current, (ps) => surge.every((s) => isRebuilt(withTarget, ps.find((p) => p.ordinal === s))), o.timeoutMs);
    } finally {
      progress.done(wait?.met ? `surge pods ${names} are Running and Ready` : 'surge pods not ready');
    }
    if (!wait.met) {
      const why = surge.filter((s) => !isRebuilt(withTarget, wait.pods.find((p) => p.ordinal === s))).map((s) => `${o.name}-${s}: ${notRebuilt(withTarget, wait.pods.find((p) => p.ordinal === s))}`).join('; ');
      throw new GateError(`surge pods did not become Ready within --timeout (${why}); the upgrade is recorded and no pod was drained. Fix them, then run the same command again, or stop with: kubectl zerolossupgrade abort ${o.name}`);
    }
  }
  const after = await cluster.readStatefulSetWithPods(o.name);
  const { renderStatusTable } = await import('../ui/render.js');
  ui.result(renderStatusTable(toStatusView(after.sts, after.pods, withTarget), ui.style));
  ui.result(`upgrade of statefulset "${o.name}" started; next: kubectl zerolossupgrade next ${o.name} -n ${cluster.namespace}`);
}
