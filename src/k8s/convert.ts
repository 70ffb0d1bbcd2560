// API objects -> core snapshots. Pure functions over client-node's types.
import type { V1LabelSelector, V1ManagedFieldsEntry, V1Pod, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { parseOrdinal, type PodSnapshot, type ServiceSnapshot, type StatefulSetSnapshot } from '../core/workload.js';

/** The manager that last wrote each annotation, from managedFields (what `kubectl get --show-managed-fields` shows). */
export function annotationWriters(entries: V1ManagedFieldsEntry[] | undefined): Record<string, string> {
  const out: Record<string, { manager: string; at: number }> = {};
  for (const e of entries ?? []) {
    const fields = (e.fieldsV1 as Record<string, Record<string, Record<string, unknown>>> | undefined)?.['f:metadata']?.['f:annotations'];
    const at = e.time ? new Date(e.time).getTime() : 0;
    for (const key of Object.keys(fields ?? {})) {
      if (!key.startsWith('f:')) continue;
      const name = key.slice(2);
      if (!out[name] || out[name].at <= at) out[name] = { manager: e.manager ?? 'unknown', at };
    }
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.manager]));
}

export function toServiceSnapshot(s: V1Service): ServiceSnapshot {
  return {
    name: s.metadata?.name ?? '',
    resourceVersion: s.metadata?.resourceVersion ?? '',
    type: s.spec?.type ?? 'ClusterIP',
    selector: s.spec?.selector ?? {},
    annotations: s.metadata?.annotations ?? {},
    ports: (s.spec?.ports ?? []).map((p) => ({ name: p.name, protocol: p.protocol ?? 'TCP', port: p.port, targetPort: p.targetPort ?? p.port })),
    annotationWriters: annotationWriters(s.metadata?.managedFields),
    lastWriter: [...(s.metadata?.managedFields ?? [])].sort((a, b) => new Date(b.time ?? 0).getTime() - new Date(a.time ?? 0).getTime())[0]?.manager,
  };
}

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
    const scheduled = conditions.find((c) => c.type === 'PodScheduled');
    const lastTermination = (c: { lastState?: { terminated?: { reason?: string; exitCode: number } } }) =>
      c.lastState?.terminated ? `${c.lastState.terminated.reason ?? 'exit'} (exit code ${c.lastState.terminated.exitCode})` : undefined;
    const waiting = (pod.status?.containerStatuses ?? [])
      .filter((c) => c.state?.waiting?.reason && c.state.waiting.reason !== 'ContainerCreating' && c.state.waiting.reason !== 'PodInitializing')
      .map((c) => ({
        container: c.name,
        reason: c.state!.waiting!.reason!,
        message: c.state!.waiting!.message,
        lastTermination: lastTermination(c),
        restarts: c.restartCount ?? 0,
      }));
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
      labels: m.labels ?? {},
      unschedulable: scheduled?.status === 'False' ? `${scheduled.reason ?? 'Unschedulable'}: ${scheduled.message ?? ''}`.trim() : undefined,
      waiting,
      restarts: (pod.status?.containerStatuses ?? []).map((c) => ({ container: c.name, count: c.restartCount ?? 0, ...(c.lastState?.terminated ? { lastTermination: lastTermination(c) } : {}) })),
    });
  }
  return out.sort((a, b) => a.ordinal - b.ordinal);
}
