// --dry-run: the exact requests a command would send, in order, computed by the same code that
// sends them; nothing is changed and no lock is taken.
import { historyConfigMapName } from '../core/history.js';
import { RS_WEIGHT_ANNOTATION, mergeWeights } from '../core/rs-weight.js';
import { RECORD_ANNOTATION, advance, capturePriors, currentBatchIndex, drainedOrdinals, encodeRecord, soakSubject, surgeOrdinals, surgeSoakDue, weightChange, type UpgradeRecord } from '../core/upgrade.js';
import { onRevision } from '../core/workload.js';
import { annotationPatch, statefulSetPatch } from '../k8s/patches.js';
import type { Cluster, StatefulSetChange } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import type { Upgrade } from './context.js';

export interface PlanStep {
  request: string;
  body?: unknown;
}

export function printPlan(ui: Ui, steps: PlanStep[]): void {
  ui.result('dry run: nothing was changed. In order, the command would:');
  steps.forEach((s, i) => ui.result(`${i + 1}. ${s.request}${s.body === undefined ? '' : `\n   ${JSON.stringify(s.body)}`}`));
}

export const stsPatchStep = (name: string, rv: string, change: StatefulSetChange): PlanStep => ({
  request: `PATCH statefulset ${name} (strategic merge)`,
  body: statefulSetPatch(rv, change),
});

/** Annotation values the plan has already set, by Service: later steps build on these. */
type Planned = Map<string, string | undefined>;

async function servicePatches(cluster: Cluster, record: UpgradeRecord, restoring: number[], planned: Planned): Promise<PlanStep[]> {
  const steps: PlanStep[] = [];
  for (const svc of record.services) {
    const current = await cluster.readService(svc.name);
    const before = planned.has(svc.name) ? planned.get(svc.name) : current.annotations[RS_WEIGHT_ANNOTATION];
    const value = mergeWeights(before, weightChange(record, svc, restoring));
    if (before === value) continue;
    planned.set(svc.name, value);
    steps.push({ request: `PATCH service ${svc.name} (merge)`, body: annotationPatch(current.resourceVersion, RS_WEIGHT_ANNOTATION, value) });
  }
  return steps;
}

const recordStep = (up: Upgrade, record: UpgradeRecord | null): PlanStep => stsPatchStep(up.sts.name, up.sts.resourceVersion, { annotations: { [RECORD_ANNOTATION]: record ? encodeRecord(record) : null } });

/** The next batch from where it stands to done. */
export async function planNextBatch(cluster: Cluster, up: Upgrade, now: Date, soakMs = 0): Promise<PlanStep[]> {
  if (surgeSoakDue(up.record, soakMs)) {
    const names = surgeOrdinals(up.record).map((o) => `${up.sts.name}-${o}`).join(', ');
    return [
      { request: stsPatchStep(up.sts.name, up.sts.resourceVersion, { annotations: { [RECORD_ANNOTATION]: '(the record with the soak of the surge pods begun)' } }).request },
      { request: `soak the surge pods ${names} for ${soakMs / 1000}s (they serve the new release already); nothing is drained before it passed` },
      { request: 'then the first batch, planned when the soak has passed' },
    ];
  }
  const soak = up.record.soak;
  if (soak) {
    // The soak under way or failed comes first: nothing is drained before it passed.
    const names = soakSubject(up.record, soak);
    if (soak.failed) return [{ request: `stop: the soak of ${names} failed (${soak.failed.reason}); nothing is drained until it is rolled back or decided at a terminal` }];
    return [{ request: `soak ${names} until ${new Date(Date.parse(soak.startedAt) + soak.ms).toISOString()} (reading its signals every --analysis-interval); nothing is drained before it passed` }, { request: 'then the next batch, planned when the soak has passed' }];
  }
  const index = currentBatchIndex(up.record);
  if (index < 0) return [];
  const batch = up.record.batches[index]!;
  const steps: PlanStep[] = [];
  const planned: Planned = new Map();
  let r = up.record;
  if (batch.phase === 'pending') {
    // As the run does: what the Services give these pods now is what they get back.
    const live = await Promise.all(r.services.map((s) => cluster.readService(s.name)));
    r = advance(r, index, 'drained', { drainedAt: now.toISOString(), prior: capturePriors(r, live, batch.ordinals) });
    steps.push(recordStep(up, r));
  }
  const confirming = ['pending', 'drained', 'confirmed'].includes(batch.phase);
  steps.push(...(await servicePatches(cluster, r, [], planned)));
  if (confirming) {
    steps.push({ request: `wait --min-drain, then ask the operator to confirm weight 0 and drained connections for ordinals ${batch.ordinals.join(', ')}` });
    steps.push({ request: `PATCH configmap ${historyConfigMapName(up.sts.name)} (merge): who confirmed, how and on what evidence, before any eviction` });
  }
  // From `deleting` on, only the recorded pods leave, and only while they are still those pods.
  const leaving = up.pods.filter((p) => batch.ordinals.includes(p.ordinal) && !p.deleting && !onRevision(p, up.record.targetRevision) && (confirming || batch.deleted?.some((d) => d.uid === p.uid)));
  for (const p of leaving) steps.push({ request: `POST pods/${p.name}/eviction`, body: { deleteOptions: { preconditions: { uid: p.uid } } } });
  if (batch.phase !== 'rebuilt') steps.push({ request: `wait until ${batch.ordinals.map((o) => `${up.sts.name}-${o}`).join(', ')} are Running and Ready at revision ${up.record.targetRevision}` });
  steps.push(...(await servicePatches(cluster, r, batch.ordinals, planned)).map((s) => ({ ...s, request: `${s.request} (restore)` })));
  steps.push({ request: `PATCH configmap ${historyConfigMapName(up.sts.name)} (merge): rebuilt and restored at` });
  return steps;
}

/** finish and abort: drain the surge, scale back, restore every Service, clear the record. */
export async function planRetire(cluster: Cluster, up: Upgrade, now: Date): Promise<PlanStep[]> {
  const surge = surgeOrdinals(up.record);
  const steps: PlanStep[] = [];
  const planned: Planned = new Map();
  if (surge.length > 0 && up.record.finish?.phase !== 'scaled') {
    const r = up.record.finish ? up.record : { ...up.record, finish: { phase: 'drained' as const, drainedAt: now.toISOString() } };
    steps.push(...(await servicePatches(cluster, r, [], planned)));
    steps.push({ request: `wait --min-drain, then ask the operator to confirm the surge pods ${surge.map((o) => `${up.sts.name}-${o}`).join(', ')} are drained` });
    steps.push({ request: `PATCH configmap ${historyConfigMapName(up.sts.name)} (merge): who confirmed the surge pods' drain, before the scale-down` });
    steps.push(stsPatchStep(up.sts.name, up.sts.resourceVersion, { replicas: up.record.originalReplicas }));
  }
  const retired = up.record.finish || surge.length === 0 ? up.record : { ...up.record, finish: { phase: 'scaled' as const, drainedAt: now.toISOString() } };
  steps.push(...(await servicePatches(cluster, retired, drainedOrdinals(retired), planned)));
  steps.push({ request: `PATCH configmap ${historyConfigMapName(up.sts.name)} (merge): how the upgrade ended, when and by whom` });
  steps.push(recordStep(up, null));
  return steps;
}
