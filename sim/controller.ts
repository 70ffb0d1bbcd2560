// A stand-in for TKE's service controller: watches direct-access LoadBalancer Services and their
// pods, gives each Service a CLB and a VIP, and applies the lb-rs-weight annotation to the CLB after
// a propagation delay. Reports each sync as an Event on the Service, as the real one does.
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type CoreV1Event,
  type Informer,
  type ObjectCache,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Backends } from './backends.js';
import type { Clb } from './clb.js';
import { RS_WEIGHT, desiredListeners, type DesiredListener, type SimPod } from './lb-weights.js';

export const DIRECT_ACCESS = 'service.cloud.tencent.com/direct-access';
export const LOADBALANCE_ID = 'service.kubernetes.io/loadbalance-id';

export interface ControllerOptions {
  /** Mean delay between an annotation or pod change and the CLB showing it. */
  propagationDelayMs: number;
  /** Uniform jitter added to each delay, up to this much either way. */
  jitterMs: number;
}

export const DEFAULT_CONTROLLER_OPTIONS: ControllerOptions = { propagationDelayMs: 2000, jitterMs: 500 };
/** What TKE keeps in kube-system/tke-service-controller-config; the simulator plays a version that has lb-rs-weight. */
export const CONTROLLER_CONFIG = 'tke-service-controller-config';
export const SIMULATED_CONTROLLER_VERSION = 'v2.5.0';

export function toSimPod(p: V1Pod): SimPod {
  const owner = p.metadata?.ownerReferences?.find((o) => o.controller && o.kind === 'StatefulSet');
  const name = p.metadata?.name ?? '';
  const suffix = owner && name.startsWith(`${owner.name}-`) ? name.slice(owner.name.length + 1) : undefined;
  return {
    name,
    namespace: p.metadata?.namespace ?? '',
    uid: p.metadata?.uid ?? '',
    ip: p.status?.podIP,
    labels: p.metadata?.labels ?? {},
    statefulSet: owner?.name,
    ordinal: suffix !== undefined && /^\d+$/.test(suffix) ? Number(suffix) : undefined,
    deleting: Boolean(p.metadata?.deletionTimestamp),
    ports: (p.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((cp) => ({ name: cp.name, containerPort: cp.containerPort, protocol: cp.protocol ?? 'TCP' }))),
    image: p.spec?.containers?.[0]?.image ?? '',
    terminationGracePeriodSeconds: p.spec?.terminationGracePeriodSeconds ?? 30,
  };
}

const isDirectAccessLb = (s: V1Service) => s.spec?.type === 'LoadBalancer' && s.metadata?.annotations?.[DIRECT_ACCESS] === 'true';
const selects = (s: V1Service, p: SimPod) => {
  const sel = s.spec?.selector;
  return !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => p.labels[k] === v);
};

export interface PodDeletion {
  pod: string;
  namespace: string;
  at: string;
  /** The pod's targets on every CLB listener when its deletion was seen, with their open connections. */
  weights: { service: string; port: number; weight: number; connections: number }[];
}

interface ServiceState {
  lbId: string;
  /** Last desired state scheduled for the CLB (JSON), to schedule each change once. */
  scheduled?: string;
  /** Annotation value last warned about, to warn once per bad value. */
  warned?: string;
  lastApplyAt: number;
}

export class ServiceController {
  private readonly core: CoreV1Api;
  private services?: Informer<V1Service> & ObjectCache<V1Service>;
  private pods?: Informer<V1Pod> & ObjectCache<V1Pod>;
  private readonly state = new Map<string, ServiceState>(); // ns/name
  private readonly timers = new Set<NodeJS.Timeout>();
  private syncTimer?: NodeJS.Timeout;
  private resync?: NodeJS.Timeout;
  private syncing = Promise.resolve();
  private stopped = false;
  private known = new Map<string, SimPod>(); // running pods by uid, to notice deletions
  /** Every pod deletion seen, with the CLB weights its backends had at that moment. */
  readonly deletions: PodDeletion[] = [];

  constructor(
    private readonly kc: KubeConfig,
    private readonly clb: Clb,
    private readonly backends: Backends,
    /** Tests may change the propagation delay between steps. */
    readonly options: ControllerOptions = DEFAULT_CONTROLLER_OPTIONS,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async start(): Promise<void> {
    await this.core
      .createNamespacedConfigMap({ namespace: 'kube-system', body: { metadata: { name: CONTROLLER_CONFIG }, data: { VERSION: SIMULATED_CONTROLLER_VERSION } } })
      .catch((e: { code?: number }) => {
        if (e.code !== 409) throw e; // already there from an earlier run
      });
    this.services = makeInformer(this.kc, '/api/v1/services', () => this.core.listServiceForAllNamespaces());
    this.pods = makeInformer(this.kc, '/api/v1/pods', () => this.core.listPodForAllNamespaces());
    for (const inf of [this.services, this.pods] as Informer<V1Service | V1Pod>[]) {
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, () => this.queueSync());
      inf.on('error', () => {
        // Informers stop on error (e.g. a watch closed by the apiserver); restart after a moment.
        if (!this.stopped) setTimeout(() => void inf.start().catch(() => undefined), 500);
      });
    }
    const deleted = (p: V1Pod) => p.metadata?.uid && this.recordDeletion(p.metadata.uid);
    this.pods.on('update', (p) => p.metadata?.deletionTimestamp && deleted(p));
    this.pods.on('delete', deleted);
    await Promise.all([this.services.start(), this.pods.start()]);
    this.queueSync();
    // A periodic resync, as real controllers do, so that an event lost while a watch restarts is not lost for good.
    this.resync = setInterval(() => this.queueSync(), 2000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.syncTimer);
    clearInterval(this.resync);
    for (const t of this.timers) clearTimeout(t);
    await Promise.all([this.services?.stop(), this.pods?.stop()]);
    await this.syncing.catch(() => undefined);
  }

  private queueSync(): void {
    if (this.stopped) return;
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => {
      this.syncing = this.syncing.then(() => this.sync()).catch((e) => console.error(`service controller: ${e}`));
    }, 20);
  }

  private delay(): number {
    return Math.max(0, this.options.propagationDelayMs + (Math.random() * 2 - 1) * this.options.jitterMs);
  }

  private async sync(): Promise<void> {
    if (this.stopped || !this.services || !this.pods) return;
    const pods = this.pods.list().map(toSimPod);
    this.noticeDeletions(pods);
    this.backends.reconcile(pods);
    const seen = new Set<string>();
    for (const svc of this.services.list().filter(isDirectAccessLb)) {
      const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
      seen.add(key);
      await this.syncService(svc, key, pods.filter((p) => p.namespace === svc.metadata!.namespace && selects(svc, p)));
    }
    for (const [key, st] of this.state) {
      if (!seen.has(key)) {
        this.clb.remove(st.lbId);
        this.state.delete(key);
      }
    }
  }

  /**
   * Records a deletion with the CLB as it is at that instant. Called straight from the pod watch, so
   * that a slow sync cannot attribute a successor's target (same name, often the same IP) to it.
   */
  private recordDeletion(uid: string): void {
    const pod = this.known.get(uid);
    if (!pod) return;
    this.known.delete(uid);
    const weights = [...this.clb.loadBalancers.values()].flatMap((lb) =>
      lb.listeners.flatMap((l) =>
        l.targets.filter((t) => t.pod === pod.name && t.ip === pod.ip).map((t) => ({ service: lb.service, port: l.port, weight: t.weight, connections: this.clb.connections(lb.id, t.ip, t.port) })),
      ),
    );
    this.deletions.push({ pod: pod.name, namespace: pod.namespace, at: new Date().toISOString(), weights });
  }

  /** The sync's view: deletions the watch did not report (after a restart) are recorded here. */
  private noticeDeletions(pods: SimPod[]): void {
    const live = new Map(pods.filter((p) => !p.deleting).map((p) => [p.uid, p]));
    for (const uid of [...this.known.keys()]) if (!live.has(uid)) this.recordDeletion(uid);
    this.known = new Map([...live].filter(([, p]) => p.ip));
  }

  private async syncService(svc: V1Service, key: string, pods: SimPod[]): Promise<void> {
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const lb = this.clb.ensureLoadBalancer(key, svc.metadata?.annotations?.[LOADBALANCE_ID]);
    const st = this.state.get(key) ?? { lbId: lb.id, lastApplyAt: 0 };
    this.state.set(key, st);
    if (svc.metadata?.annotations?.[LOADBALANCE_ID] !== lb.id) {
      await this.core.patchNamespacedService(
        { name, namespace: ns, body: { metadata: { annotations: { [LOADBALANCE_ID]: lb.id } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    }
    if (svc.status?.loadBalancer?.ingress?.[0]?.ip !== lb.vip) {
      await this.core.patchNamespacedServiceStatus(
        { name, namespace: ns, body: { status: { loadBalancer: { ingress: [{ ip: lb.vip }] } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    }
    const annotation = svc.metadata?.annotations?.[RS_WEIGHT];
    let desired: DesiredListener[];
    try {
      desired = desiredListeners(
        (svc.spec?.ports ?? []).map((p) => ({ name: p.name, protocol: p.protocol ?? 'TCP', port: p.port, targetPort: p.targetPort ?? p.port })),
        pods,
        annotation,
      );
    } catch (e) {
      // The real controller rejects the sync and leaves the CLB as it was.
      if (st.warned !== annotation) {
        st.warned = annotation;
        await this.event(svc, 'Warning', 'SyncLoadBalancerFailed', `Error syncing load balancer: ${(e as Error).message}`);
      }
      return;
    }
    st.warned = undefined;
    const json = JSON.stringify(desired);
    if (json === st.scheduled) return;
    st.scheduled = json;
    // Changes land in order, each after its own propagation delay.
    const at = Math.max(Date.now() + this.delay(), st.lastApplyAt + 1);
    st.lastApplyAt = at;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.stopped) return;
      void this.clb
        .apply(lb.id, desired)
        .then(() => this.event(svc, 'Normal', 'EnsureServiceSuccess', 'Service Sync Success. RetrunCode: S2000'))
        .catch((e) => console.error(`service controller: applying ${key}: ${e}`));
    }, at - Date.now());
    this.timers.add(t);
  }

  private async event(svc: V1Service, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    const body: CoreV1Event = {
      metadata: { name: `${svc.metadata!.name}.${randomBytes(8).toString('hex')}`, namespace: svc.metadata!.namespace },
      involvedObject: { kind: 'Service', apiVersion: 'v1', name: svc.metadata!.name, namespace: svc.metadata!.namespace, uid: svc.metadata!.uid },
      reason,
      message,
      type,
      source: { component: 'service-controller' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: 'service-controller',
    };
    await this.core.createNamespacedEvent({ namespace: svc.metadata!.namespace!, body }).catch(() => undefined);
  }
}
