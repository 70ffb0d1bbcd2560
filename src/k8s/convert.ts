// API objects -> core snapshots. Pure functions over client-node's types.
import type { V1LabelSelector, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { parseOrdinal, type PodSnapshot, type StatefulSetSnapshot } from '../core/workload.js';

/** A label selector as the `labelSelector` query parameter spells it. */
export function selectorString(selector: V1LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export function toStatefulSetSnapshot(sts: V1StatefulSet): StatefulSetSnapshot {
  const m = sts.metadata ?? {};
  const spec = sts.spec;
  return {
    name: m.name ?? '',
    namespace: m.namespace ?? '',
    uid: m.uid ?? '',
    resourceVersion: m.resourceVersion ?? '',
    generation: m.generation ?? 0,
    observedGeneration: sts.status?.observedGeneration ?? 0,
    replicas: spec?.replicas ?? 1,
    ordinalsStart: spec?.ordinals?.start ?? 0,
    updateStrategy: spec?.updateStrategy?.type ?? 'RollingUpdate',
    podManagementPolicy: spec?.podManagementPolicy ?? 'OrderedReady',
    currentRevision: sts.status?.currentRevision,
    updateRevision: sts.status?.updateRevision,
    readyReplicas: sts.status?.readyReplicas ?? 0,
    updatedReplicas: sts.status?.updatedReplicas ?? 0,
    selector: spec?.selector?.matchLabels ?? {},
    podLabels: spec?.template?.metadata?.labels ?? {},
    containers: (spec?.template?.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' })),
    annotations: m.annotations ?? {},
  };
}

/** The StatefulSet's own pods: controlled by it (owner uid) and named by ordinal. */
export function toPodSnapshots(sts: StatefulSetSnapshot, pods: V1Pod[]): PodSnapshot[] {
  const out: PodSnapshot[] = [];
  for (const pod of pods) {
    const m = pod.metadata ?? {};
    const owned = (m.ownerReferences ?? []).some((o) => o.controller && o.uid === sts.uid);
    const ordinal = parseOrdinal(sts.name, m.name ?? '');
    if (!owned || ordinal === undefined) continue;
    const conditions = pod.status?.conditions ?? [];
    const isTrue = (type: string) => conditions.some((c) => c.type === type && c.status === 'True');
    out.push({
      name: m.name!,
      uid: m.uid ?? '',
      ordinal,
      ip: pod.status?.podIP,
      node: pod.spec?.nodeName,
      phase: pod.status?.phase ?? 'Pending',
      ready: isTrue('Ready'),
      readinessGates: (pod.spec?.readinessGates ?? []).map((g) => ({ type: g.conditionType, ok: isTrue(g.conditionType) })),
      deleting: Boolean(m.deletionTimestamp),
      revision: m.labels?.['controller-revision-hash'],
      containers: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' })),
      createdAt: m.creationTimestamp ? new Date(m.creationTimestamp).toISOString() : undefined,
    });
  }
  return out.sort((a, b) => a.ordinal - b.ordinal);
}
