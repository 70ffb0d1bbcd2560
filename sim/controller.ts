// A stand-in for TKE's service controller: watches direct-access LoadBalancer Services and their
// pods, gives each Service a CLB and a VIP, and applies the lb-rs-weight annotation to the CLB after
// a propagation delay: each listener on its own, most within a couple of seconds, some far later
// (a long tail). Reports each applied change as an Event on the Service, as the real one does, and
// sets the readiness gate of a pod True once every listener has it registered and healthy.
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
import type { Clb } from './clb.js';
import { toSimPod } from './kubelet.js';
import { RS_WEIGHT, desiredListeners, type DesiredListener, type SimPod } from './lb-weights.js';
import { between, seedFor, seeded, type Random } from './random.js';

export const DIRECT_ACCESS = 'service.cloud.tencent.com/direct-access';
export const LOADBALANCE_ID = 'service.kubernetes.io/loadbalance-id';
/** The condition TKE's webhook adds as a readiness gate to pods of direct-access Services. */
export const READINESS_GATE = 'cloud.tencent.com/load-balancer-backendgroup-ready';

export interface ControllerOptions {
  /** Usual delay between an annotation or pod change and the CLB showing it, per listener. */
  propagationDelayMs: number;
  /** Uniform jitter added to each usual delay, up to this much either way. */
  jitterMs: number;
  /** Share of listener changes that take the slow path instead (0 to 1). */
  slowSyncRate: number;
  /** The slow path's delay, drawn uniformly from [min, max]. */
  slowSyncMs: [number, number];
  /** Seed of the delays' dice: each listener change draws from (seed, Service name, listener, its number). */
  seed: number;
  /** A fixed delay for some listeners ("namespace/service PROTO/port"), for tests that need one slow. */
  delayFor?: (listener: string) => number | undefined;
}

export const DEFAULT_CONTROLLER_OPTIONS: ControllerOptions = { propagationDelayMs: 2000, jitterMs: 500, slowSyncRate: 0, slowSyncMs: [10_000, 30_000], seed: 1 };
/** What TKE keeps in kube-system/tke-service-controller-config; the simulator plays a version that has lb-rs-weight. */
export const CONTROLLER_CONFIG = 'tke-service-controller-config';
export const SIMULATED_CONTROLLER_VERSION = 'v2.5.0';

/** How long one listener change takes to reach the CLB: usually about `propagationDelayMs`, sometimes the slow path. */
export function syncDelay(random: Random, o: ControllerOptions): number {
  if (random() < o.slowSyncRate) return between(random, o.slowSyncMs[0], o.slowSyncMs[1]);
  return Math.max(0, o.propagationDelayMs + (random() * 2 - 1) * o.jitterMs);
}

/** What TKE's controller and webhook act on: a LoadBalancer Service in direct-to-pod mode. */
export const isDirectAccessLb = (s: V1Service) => s.spec?.type === 'LoadBalancer' && s.metadata?.annotations?.[DIRECT_ACCESS] === 'true';
/** A Service selects pods with these labels (an empty selector selects nothing here). */
export const selects = (s: V1Service, labels: Record<string, string>) => {
  const sel = s.spec?.selector;
  return !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);
};

export interface PodDeletion {
  pod: string;
  namespace: string;
  at: string;
  /** The pod's targets on every CLB listener when its deletion was seen, with their open connections. */
  weights: { service: string; port: number; weight: number; connections: number }[];
  /** Seen only after the pod was gone (a watch restarted): its weights and connections are not those of the moment. */
  late?: boolean;
}

interface ListenerState {
  /** Last desired state scheduled for the listener (JSON, or 'removed'), to schedule each change once. */
  scheduled: string;
  /** Changes scheduled so far: the Nth change of a listener draws the same delay in every run of a seed. */
  changes: number;
  /** When its last scheduled change lands: changes of one listener land in order. */
  lastApplyAt: number;
}

interface ServiceState {
  lbId: string;
  listeners: Map<string, ListenerState>; // PROTO/port
  /** Annotation value last warned about, to warn once per bad value. */
  warned?: string;
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

  /** Pods whose readiness gate this controller has set True (uid). */
  private readonly gated = new Set<string>();
  /** Pods whose deletion has been audited (uid): once each, whichever watch saw it first. */
  private readonly audited = new Set<string>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly clb: Clb,
    /** Tests may change the propagation delay between steps. */
    readonly options: ControllerOptions = DEFAULT_CONTROLLER_OPTIONS,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async start(): Promise<void> {
    await this.core
      .createNamespacedConfigMap({ namespace: 'kube-system', body: { metadata: { name: CONTROLLER_CONFIG }, data: { VERSION: SIMULATED_CONTROLLER_VERSION } } })
      .catch(async (e: { code?: number }) => {
        if (e.code !== 409) throw e;
        // There from an earlier run (or changed by a test): the version this simulator plays.
        await this.core.patchNamespacedConfigMap({ name: CONTROLLER_CONFIG, namespace: 'kube-system', body: { data: { VERSION: SIMULATED_CONTROLLER_VERSION } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      });
    this.services = makeInformer(this.kc, '/api/v1/services', () => this.core.listServiceForAllNamespaces());
    this.pods = makeInformer(this.kc, '/api/v1/pods', () => this.core.listPodForAllNamespaces());
    for (const inf of [this.services, this.pods] as Informer<V1Service | V1Pod>[]) {
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, () => this.queueSync());
      inf.on('error', () => {
        // Informers stop on error (e.g. a watch closed by the apiserver); restart after a moment.
        const t = setTimeout(() => !this.stopped && void inf.start().catch(() => undefined), 500);
        this.timers.add(t);
      });
    }
    const deleted = (p: V1Pod) => p.metadata?.uid && this.auditDeletion(p.metadata.uid, toSimPod(p));
    this.pods.on('update', (p) => p.metadata?.deletionTimestamp && deleted(p));
    this.pods.on('delete', deleted);
    await Promise.all([this.services.start(), this.pods.start()]);
    this.clb.on('health', () => this.queueSync());
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

  /** The delay of the `n`th change of a listener: seeded by the Service's name and the listener, not the namespace. */
  private delay(svc: V1Service, listener: string, n: number): number {
    const fixed = this.options.delayFor?.(`${svc.metadata?.namespace}/${svc.metadata?.name} ${listener}`);
    return fixed ?? syncDelay(seeded(seedFor(this.options.seed, `${svc.metadata?.name} ${listener} #${n}`)), this.options);
  }

  private async sync(): Promise<void> {
    if (this.stopped || !this.services || !this.pods) return;
    const pods = this.pods.list().map(toSimPod);
    this.noticeDeletions(pods);
    const seen = new Set<string>();
    const services = this.services.list().filter(isDirectAccessLb);
    for (const svc of services) {
      const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
      seen.add(key);
      await this.syncService(svc, key, pods.filter((p) => p.namespace === svc.metadata!.namespace && selects(svc, p.labels)));
    }
    await this.readinessGates(services);
    for (const [key, st] of this.state) {
      if (!seen.has(key)) {
        this.clb.remove(st.lbId);
        this.state.delete(key);
      }
    }
  }

  /**
   * Records a deletion with the CLB as it is at that instant. Called by the kubelet right before it
   * sends SIGTERM (so that no connection has been closed yet), and from the pod watch as a fallback;
   * once per pod, by uid, so a successor's target (same name, often the same IP) is never counted.
   */
  auditDeletion(uid: string, seen?: SimPod, late = false): void {
    const pod = this.known.get(uid) ?? seen;
    if (!pod?.ip || this.audited.has(uid)) return;
    this.audited.add(uid);
    this.known.delete(uid);
    const weights = [...this.clb.loadBalancers.values()].flatMap((lb) =>
      lb.listeners.flatMap((l) =>
        l.targets.filter((t) => t.uid === pod.uid).map((t) => ({ service: lb.service, port: l.port, weight: t.weight, connections: this.clb.connections(lb.id, t.ip, t.port) })),
      ),
    );
    this.deletions.push({ pod: pod.name, namespace: pod.namespace, at: new Date().toISOString(), weights, ...(late ? { late } : {}) });
  }

  /** The sync's view: deletions the watch did not report (after a restart) are recorded here. */
  private noticeDeletions(pods: SimPod[]): void {
    const live = new Map(pods.filter((p) => !p.deleting).map((p) => [p.uid, p]));
    for (const uid of [...this.known.keys()]) if (!live.has(uid)) this.auditDeletion(uid, undefined, true);
    // Not one already audited: the kubelet's watch may be ahead of this cache.
    this.known = new Map([...live].filter(([uid, p]) => p.ip && !this.audited.has(uid)));
  }

  private async syncService(svc: V1Service, key: string, pods: SimPod[]): Promise<void> {
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const lb = this.clb.ensureLoadBalancer(key, svc.metadata?.annotations?.[LOADBALANCE_ID]);
    const st: ServiceState = this.state.get(key) ?? { lbId: lb.id, listeners: new Map() };
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
    const wanted = new Map(desired.map((d) => [`${d.protocol}/${d.port}`, d]));
    for (const [name, ls] of st.listeners) if (!wanted.has(name) && ls.scheduled !== 'removed') this.schedule(svc, st, name, undefined);
    for (const [name, d] of wanted) this.schedule(svc, st, name, d);
  }

  /** Schedules one listener's change (or removal) once, to land after its own delay, in order. */
  private schedule(svc: V1Service, st: ServiceState, name: string, desired: DesiredListener | undefined): void {
    const json = desired ? JSON.stringify(desired) : 'removed';
    const ls = st.listeners.get(name);
    if (ls?.scheduled === json) return;
    const changes = (ls?.changes ?? 0) + 1;
    const at = Math.max(Date.now() + this.delay(svc, name, changes), (ls?.lastApplyAt ?? 0) + 1);
    // A removal stays as a tombstone, so that a re-added listener still lands after it.
    st.listeners.set(name, { scheduled: json, changes, lastApplyAt: at });
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.stopped) return;
      const [protocol, port] = [name.split('/')[0]!, Number(name.split('/')[1])];
      const applied = desired ? this.clb.applyListener(st.lbId, desired) : Promise.resolve(this.clb.dropListener(st.lbId, protocol, port));
      void applied
        .then(() => this.event(svc, 'Normal', 'EnsureServiceSuccess', 'Service Sync Success. RetrunCode: S2000'))
        .then(() => this.queueSync())
        .catch((e) => console.error(`service controller: applying ${svc.metadata?.namespace}/${svc.metadata?.name} ${name}: ${e}`));
    }, at - Date.now());
    this.timers.add(t);
  }

  /**
   * A pod with TKE's readiness gate gets the condition True once, when every listener of every
   * direct-access Service selecting it has it registered and healthy (never back to False, as TKE).
   */
  private async readinessGates(services: V1Service[]): Promise<void> {
    for (const p of this.pods?.list() ?? []) {
      const uid = p.metadata?.uid;
      if (!uid || this.gated.has(uid) || p.metadata?.deletionTimestamp || !p.spec?.readinessGates?.some((g) => g.conditionType === READINESS_GATE)) continue;
      if (p.status?.conditions?.some((c) => c.type === READINESS_GATE && c.status === 'True')) {
        this.gated.add(uid);
        continue;
      }
      const pod = toSimPod(p);
      const selecting = services.filter((s) => s.metadata?.namespace === pod.namespace && selects(s, pod.labels));
      const bound = selecting.every((svc) => {
        const st = this.state.get(`${svc.metadata!.namespace}/${svc.metadata!.name}`);
        const lb = st && this.clb.loadBalancers.get(st.lbId);
        const ports = svc.spec?.ports ?? [];
        return (
          !!lb &&
          ports.length > 0 &&
          ports.every((sp) => {
            const l = lb.listeners.find((x) => x.protocol === (sp.protocol ?? 'TCP').toUpperCase() && x.port === sp.port);
            const t = l?.targets.find((x) => x.uid === uid);
            return !!l && !!t && this.clb.isHealthy(lb.id, l.id, t);
          })
        );
      });
      if (selecting.length === 0 || !bound) continue;
      await this.core
        .patchNamespacedPodStatus(
          // The uid: a successor of the same name (not registered yet) must not get this pod's gate (422).
          { name: pod.name, namespace: pod.namespace, body: { metadata: { uid }, status: { conditions: [{ type: READINESS_GATE, status: 'True', reason: 'LoadBalancerNetworkGroupReady', lastTransitionTime: new Date() }] } } },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        )
        .then(() => this.gated.add(uid))
        .catch(() => undefined);
    }
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
