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
}

/** A Service selects a pod template when its (non-empty) selector matches the template's labels. */
export function selectsPods(svc: Pick<ServiceSnapshot, 'selector'>, podLabels: Record<string, string>): boolean {
  const entries = Object.entries(svc.selector);
  return entries.length > 0 && entries.every(([k, v]) => podLabels[k] === v);
}

export interface ServiceEvent {
  type: string;
  reason: string;
  message: string;
  at: string;
  source: string;
}
