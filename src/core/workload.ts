// Plain snapshots of the objects the plugin reasons about. The Kubernetes layer fills them from
// API objects; everything in core works on these and nothing else.

export interface ContainerImage {
  name: string;
  image: string;
}

export interface PodSnapshot {
  name: string;
  uid: string;
  ordinal: number;
  ip?: string;
  node?: string;
  phase: string;
  /** The Ready condition, which already folds in readiness gates on a real kubelet. */
  ready: boolean;
  /** Readiness gates declared on the pod and whether each condition is True. */
  readinessGates: { type: string; ok: boolean }[];
  deleting: boolean;
  /** The pod's controller-revision-hash label: the ControllerRevision it was created from. */
  revision?: string;
  containers: ContainerImage[];
  createdAt?: string;
  labels: Record<string, string>;
  /** PodScheduled False: the scheduler's reason and message. */
  unschedulable?: string;
  /** Containers not running, with the kubelet's reason (ImagePullBackOff, CrashLoopBackOff ...). */
  waiting: { container: string; reason: string; message?: string; lastTermination?: string; restarts: number }[];
  /** Every container's restart count and how it last ended (OOMKilled, Error ...): what a soak watches. */
  restarts?: { container: string; count: number; lastTermination?: string }[];
}

/** Why a pod does not serve, in words an operator acts on; undefined when it is Running and Ready. */
export function podTrouble(pod: PodSnapshot | undefined): string | undefined {
  if (!pod) return 'missing';
  if (pod.deleting) return 'terminating';
  if (pod.unschedulable) return `Pending, not scheduled: ${pod.unschedulable}`;
  const waiting = pod.waiting.map((w) => `${w.container} ${w.reason}${w.lastTermination ? ` (last terminated: ${w.lastTermination}, ${w.restarts} restarts)` : ''}${w.message ? `: ${w.message}` : ''}`);
  if (waiting.length > 0) return waiting.join('; ');
  if (pod.phase !== 'Running') return pod.phase;
  const gates = pod.readinessGates.filter((g) => !g.ok).map((g) => g.type);
  if (gates.length > 0) return `readiness gate ${gates.join(', ')} not True`;
  if (!pod.ready) return 'Running but not Ready';
  return undefined;
}

/** The pod was created from this ControllerRevision (the label holds its name; old controllers, its hash). */
export function onRevision(pod: Pick<PodSnapshot, 'revision'> | undefined, revision: string | undefined): boolean {
  if (!pod?.revision || !revision) return false;
  return pod.revision === revision || pod.revision === revision.slice(revision.lastIndexOf('-') + 1);
}

/**
 * Settled: every replica exists, is Running and Ready, and all share one ControllerRevision (their
 * controller-revision-hash). status.currentRevision is not used: under OnDelete the controller does
 * not advance it (kubernetes/kubernetes#73492, #106055), so it names the first release for ever.
 */
export function settledRevision(sts: Pick<StatefulSetSnapshot, 'name' | 'replicas' | 'ordinalsStart'>, pods: PodSnapshot[]): { revision: string } | { problem: string } {
  const expected = ordinalsOf(sts);
  const trouble = expected.map((o) => [o, podTrouble(pods.find((p) => p.ordinal === o))] as const).filter(([, t]) => t);
  if (trouble.length > 0) return { problem: trouble.map(([o, t]) => `${sts.name}-${o}: ${t}`).join('; ') };
  const extra = pods.filter((p) => !expected.includes(p.ordinal));
  if (extra.length > 0) return { problem: `pods beyond the replica count: ${extra.map((p) => p.name).join(', ')}` };
  const revisions = [...new Set(pods.map((p) => p.revision ?? '(none)'))];
  if (revisions.length !== 1 || revisions[0] === '(none)') {
    const by = revisions.map((r) => `${r}: ${pods.filter((p) => (p.revision ?? '(none)') === r).map((p) => p.ordinal).join(', ')}`);
    return { problem: `the pods are on ${revisions.length} revisions (${by.join('; ')})` };
  }
  return { revision: revisions[0]! };
}

export interface StatefulSetSnapshot {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  observedGeneration: number;
  replicas: number;
  ordinalsStart: number;
  updateStrategy: string;
  podManagementPolicy: string;
  currentRevision?: string;
  updateRevision?: string;
  readyReplicas: number;
  updatedReplicas: number;
  selector: Record<string, string>;
  /** Labels the pod template carries: what a Service selector is matched against. */
  podLabels: Record<string, string>;
  containers: ContainerImage[];
  annotations: Record<string, string>;
}

/** The ordinal of a StatefulSet pod from its name (`<statefulset>-<ordinal>`), or undefined. */
export function parseOrdinal(statefulSetName: string, podName: string): number | undefined {
  const prefix = `${statefulSetName}-`;
  if (!podName.startsWith(prefix)) return undefined;
  const rest = podName.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

/** The ordinals a StatefulSet of this size owns, ascending (spec.ordinals.start honoured). */
export function ordinalsOf(sts: Pick<StatefulSetSnapshot, 'replicas' | 'ordinalsStart'>, replicas = sts.replicas): number[] {
  return Array.from({ length: replicas }, (_, i) => sts.ordinalsStart + i);
}

export type RevisionState = 'new' | 'old' | 'unknown';

/** Where a pod stands against the StatefulSet's current and update revisions. */
export function revisionState(sts: Pick<StatefulSetSnapshot, 'currentRevision' | 'updateRevision'>, pod: Pick<PodSnapshot, 'revision'>): RevisionState {
  if (!pod.revision) return 'unknown';
  const hash = (rev?: string) => rev?.slice(rev.lastIndexOf('-') + 1);
  // The label holds the full ControllerRevision name on current controllers; older ones used the hash only.
  const matches = (rev?: string) => rev !== undefined && (pod.revision === rev || pod.revision === hash(rev));
  if (matches(sts.updateRevision)) return 'new';
  if (matches(sts.currentRevision)) return 'old';
  return 'unknown';
}

export interface ServicePortSnapshot {
  name?: string;
  protocol: string;
  port: number;
  targetPort: number | string;
}

export interface ServiceSnapshot {
  name: string;
  resourceVersion: string;
  type: string;
  selector: Record<string, string>;
  annotations: Record<string, string>;
  ports: ServicePortSnapshot[];
  /** Who last wrote each annotation (managedFields manager), by key. */
  annotationWriters: Record<string, string>;
  /** The manager of the newest managedFields entry: who changed the Service last (a removal leaves no owner). */
  lastWriter?: string;
}

/** A Service selects a set of labels when its (non-empty) selector matches them. */
export function selectsPods(svc: Pick<ServiceSnapshot, 'selector'>, podLabels: Record<string, string>): boolean {
  const entries = Object.entries(svc.selector);
  return entries.length > 0 && entries.every(([k, v]) => podLabels[k] === v);
}

/**
 * A Service sends traffic to the StatefulSet when it selects its template or any of its live pods
 * (a selector on statefulset.kubernetes.io/pod-name picks one pod only).
 */
export function selectsStatefulSet(svc: Pick<ServiceSnapshot, 'selector'>, sts: Pick<StatefulSetSnapshot, 'podLabels'>, pods: Pick<PodSnapshot, 'labels'>[]): boolean {
  return selectsPods(svc, sts.podLabels) || pods.some((p) => selectsPods(svc, p.labels));
}

export interface ServiceEvent {
  type: string;
  reason: string;
  message: string;
  at: string;
  source: string;
}
