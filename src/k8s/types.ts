// The narrow view of the cluster that commands use. Type-only: importing it loads no client code.
import type { LeaseState } from '../core/lock.js';
import type { WarningEvent } from '../core/soak.js';
import type { ContainerImage, PodSnapshot, ServiceEvent, ServiceSnapshot, StatefulSetSnapshot } from '../core/workload.js';

export interface StatefulSetChange {
  /** Annotations to set; null removes one. */
  annotations?: Record<string, string | null>;
  images?: ContainerImage[];
  replicas?: number;
  /** A ControllerRevision's patch (see revisionPatch), to put its template back. */
  revisionPatch?: Record<string, unknown>;
}

/** The name managedFields records for the plugin's writes, so a later writer can be told apart. */
export const FIELD_MANAGER_NAME = 'kubectl-zerolossupgrade';

/** What a wait for pods saw: the pods last seen, and whether the condition held. */
export interface PodWait {
  pods: PodSnapshot[];
  met: boolean;
}

/** A ConfigMap of the plugin's own (the upgrade history): its data and the version it was read at. */
export interface ConfigMapState {
  data: Record<string, string>;
  resourceVersion: string;
}

/** The StatefulSet's pods kept current by a watch, for checks that must cost no API call. */
export interface PodFeed {
  /**
   * The pods as the watch reports them; undefined while no watch is established (between a watch
   * that ended and the next), when only a live read is current. Throws what ended it for good (a 403).
   */
  pods(): PodSnapshot[] | undefined;
  /** Waits until `done` holds for the pods, at most `timeoutMs` (a timeout is an answer, not an error). */
  until(done: (pods: PodSnapshot[]) => boolean, timeoutMs: number): Promise<PodWait>;
  close(): void;
}

export type Eviction = { kind: 'evicted' } | { kind: 'gone' } | { kind: 'blocked'; reason: string };

export interface Cluster {
  readonly namespace: string;
  readStatefulSetWithPods(name: string): Promise<{ sts: StatefulSetSnapshot; pods: PodSnapshot[] }>;
  /** The StatefulSet alone: with a PodFeed, the re-check before an eviction. */
  readStatefulSet(name: string): Promise<StatefulSetSnapshot>;
  /** One list of the StatefulSet's pods, then a watch keeping them current until closed. */
  followPods(sts: StatefulSetSnapshot): Promise<PodFeed>;
  /** Patches the StatefulSet if it is still at `resourceVersion` (409 otherwise). */
  patchStatefulSet(name: string, resourceVersion: string, change: StatefulSetChange): Promise<StatefulSetSnapshot>;
  listLoadBalancerServices(): Promise<ServiceSnapshot[]>;
  /** Sets (or with undefined removes) one annotation of a Service, if it is still at `resourceVersion`. */
  setServiceAnnotation(name: string, resourceVersion: string, key: string, value: string | undefined): Promise<ServiceSnapshot>;
  readService(name: string): Promise<ServiceSnapshot>;
  /**
   * Evicts a pod (Eviction API, so PodDisruptionBudgets count) only if it still has this uid:
   * evicted, gone (already, or recreated under a new uid), or blocked by a budget, with its message.
   */
  evictPod(name: string, uid: string): Promise<Eviction>;
  /**
   * Watches the StatefulSet's pods until `done` holds for them, at most `timeoutMs`: the pods last
   * seen, and whether `done` held. (A timeout is an answer, not an error.)
   */
  waitForPods(sts: StatefulSetSnapshot, done: (pods: PodSnapshot[]) => boolean, timeoutMs: number): Promise<PodWait>;
  /** Names of HorizontalPodAutoscalers that scale this StatefulSet. */
  autoscalersOf(name: string): Promise<string[]>;
  serviceEvents(name: string, since: Date): Promise<ServiceEvent[]>;
  /** Warning Events in the namespace last seen at or after `since` (what a soak watches). */
  warningEvents(since: Date): Promise<WarningEvent[]>;
  /** Who the API server says we are; falls back to the kubeconfig's user. */
  whoAmI(): Promise<string>;
  /** An Event on the StatefulSet, for `kubectl describe statefulset`. */
  recordEvent(sts: StatefulSetSnapshot, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
  /** The strategic-merge patch a ControllerRevision holds: applied, it puts that template back. */
  revisionPatch(revision: string): Promise<Record<string, unknown>>;
  /** The TKE service controller's VERSION (kube-system/tke-service-controller-config); undefined when not there; a 403 (named) when not readable. */
  serviceControllerVersion(): Promise<string | undefined>;
  /** A node's labels (the region lives there); empty when the node is not there; a 403 (named) when it may not be read. */
  nodeLabels(name: string): Promise<Record<string, string>>;
  /** A ConfigMap in the namespace; undefined when there is none. */
  readConfigMap(name: string): Promise<ConfigMapState | undefined>;
  /**
   * Creates the ConfigMap (no resourceVersion) or merge-patches these data keys (null removes one)
   * and labels if it is still at `resourceVersion` (409 otherwise); everything else on it stays.
   */
  writeConfigMap(name: string, resourceVersion: string | undefined, data: Record<string, string | null>, labels: Record<string, string>): Promise<ConfigMapState>;
  readLease(name: string): Promise<LeaseState | undefined>;
  /** Creates the Lease (no resourceVersion) or replaces it if still at `resourceVersion`; 409 otherwise. */
  writeLease(name: string, resourceVersion: string | undefined, holder: string, acquiredAt: string, durationSeconds: number): Promise<LeaseState>;
  deleteLease(name: string, resourceVersion: string): Promise<void>;
}
