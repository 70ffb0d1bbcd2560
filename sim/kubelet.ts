// The kubelet of one simulated node, for the workloads whose traffic the simulator carries. kwok's
// stock stages make a pod Ready the moment it is scheduled and remove it the moment it is deleted;
// this node behaves as a real one does instead:
// - a scheduled pod gets an IP (a freed IP is handed out again first, as a VPC-CNI pool does) and
//   its container starts; it turns Ready only once the container listens on every port (a TCP
//   readiness probe) and every readiness gate is True;
// - a deleted pod stays Terminating while its container shuts down (graceful, abrupt or ignoring
//   SIGTERM, per the pod's annotation) and is removed when the container exits, or at the end of
//   its grace period;
// - a pod annotated with the image-pull fault stays Pending in ImagePullBackOff.
// The node heartbeats through its Lease, so the control plane keeps it Ready.
import { CoordinationV1Api, CoreV1Api, KubeConfig, PatchStrategy, V1MicroTime, makeInformer, setHeaderOptions, type Informer, type ObjectCache, type V1Pod, type V1PodCondition } from '@kubernetes/client-node';
import { TERMINATIONS, type Backends, type Termination } from './backends.js';
import type { SimPod } from './lb-weights.js';

export const SIM_NODE = 'zlu-sim-node';
/** Label and taint of the node, label of its pods: workloads opt in with a nodeSelector and a toleration. */
export const SIM_KUBELET_LABEL = 'sim.zerolossupgrade.io/kubelet';
export const SIM_KUBELET_VALUE = 'simulator';
/** How the pod's application takes SIGTERM: graceful (default), abrupt or ignore. */
export const TERMINATION_ANNOTATION = 'sim.zerolossupgrade.io/termination';
/** `image-pull`: the image never pulls. */
export const FAULT_ANNOTATION = 'sim.zerolossupgrade.io/fault';
/** Pod IPs of this node: loopback, so backends bind real sockets; apart from kwok's 127.10.0.0/16. */
const POD_CIDR = '127.11.0.0/24';
const READINESS_PERIOD_MS = 500;
const RESYNC_MS = 3000;

export function toSimPod(p: V1Pod): SimPod {
  const owner = p.metadata?.ownerReferences?.find((o) => o.controller && o.kind === 'StatefulSet');
  const name = p.metadata?.name ?? '';
  const suffix = owner && name.startsWith(`${owner.name}-`) ? name.slice(owner.name.length + 1) : undefined;
  const termination = p.metadata?.annotations?.[TERMINATION_ANNOTATION] as Termination | undefined;
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
    termination: termination && TERMINATIONS.includes(termination) ? termination : 'graceful',
  };
}

const condition = (p: V1Pod, type: string) => p.status?.conditions?.find((c) => c.type === type);
const isTrue = (p: V1Pod, type: string) => condition(p, type)?.status === 'True';
const errorCode = (e: unknown) => (e as { code?: number }).code;

interface PodState {
  ip?: string;
  terminating: boolean;
}

export class Kubelet {
  private readonly core: CoreV1Api;
  private readonly leases: CoordinationV1Api;
  private pods?: Informer<V1Pod> & ObjectCache<V1Pod>;
  private readonly state = new Map<string, PodState>(); // pod uid
  private readonly free: string[] = []; // IPs given back, most recent last
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private working = Promise.resolve();

  constructor(
    private readonly kc: KubeConfig,
    private readonly backends: Backends,
    /** Called right before a pod's container gets SIGTERM (the deletion audit reads the CLB then). */
    private readonly onTerminating: (pod: V1Pod) => void = () => undefined,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.leases = kc.makeApiClient(CoordinationV1Api);
  }

  async start(): Promise<void> {
    await this.register();
    this.pods = makeInformer(this.kc, '/api/v1/pods', () => this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${SIM_NODE}` }));
    for (const ev of ['add', 'update'] as const) this.pods.on(ev, (p) => this.queue(() => this.reconcile(p)));
    this.pods.on('delete', (p) => this.queue(() => this.forget(p)));
    this.pods.on('error', () => {
      const t = setTimeout(() => !this.stopped && void this.pods?.start().catch(() => undefined), 500);
      this.timers.push(t);
    });
    await this.pods.start();
    this.timers.push(setInterval(() => this.queueOnce('probe', () => this.probe()), READINESS_PERIOD_MS));
    // Every pod again now and then, as the kubelet's sync loop does: a status write or a removal that
    // failed (a timeout, a 429) is retried instead of leaving the pod Pending or Terminating for good.
    this.timers.push(setInterval(() => this.queueOnce('resync', () => this.resync()), RESYNC_MS));
    this.timers.push(setInterval(() => void this.heartbeat().catch(() => undefined), 10_000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await this.pods?.stop();
    await this.working.catch(() => undefined);
  }

  /** One change at a time, in order, as the kubelet's pod workers do per pod. */
  private queue(fn: () => Promise<void>): void {
    if (this.stopped) return;
    this.working = this.working.then(fn).catch((e) => {
      if (!this.stopped) console.error(`kubelet: ${e}`);
    });
  }

  /** Periodic work is queued at most once at a time, so a slow apiserver does not pile it up. */
  private readonly pending = new Set<string>();
  private queueOnce(what: string, fn: () => Promise<void>): void {
    if (this.pending.has(what)) return;
    this.pending.add(what);
    this.queue(() => fn().finally(() => this.pending.delete(what)));
  }

  private async register(): Promise<void> {
    const body = {
      metadata: {
        name: SIM_NODE,
        labels: { [SIM_KUBELET_LABEL]: SIM_KUBELET_VALUE, 'kubernetes.io/hostname': SIM_NODE, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'failure-domain.beta.kubernetes.io/region': 'gz' },
      },
      spec: { podCIDR: POD_CIDR, podCIDRs: [POD_CIDR], taints: [{ key: SIM_KUBELET_LABEL, value: SIM_KUBELET_VALUE, effect: 'NoSchedule' }] },
    };
    await this.core.createNode({ body }).catch((e) => {
      if (errorCode(e) !== 409) throw e;
    });
    await this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    const now = new Date();
    const capacity = { cpu: '32', memory: '256Gi', pods: '250' };
    await this.core.patchNodeStatus(
      {
        name: SIM_NODE,
        body: {
          status: {
            capacity,
            allocatable: capacity,
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            nodeInfo: { kubeletVersion: 'v1.34.4-sim', containerRuntimeVersion: 'sim://1', architecture: 'amd64', operatingSystem: 'linux', osImage: 'sim', kernelVersion: 'sim', kubeProxyVersion: '', machineID: '', systemUUID: '', bootID: '' },
            conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now }],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    const lease = { metadata: { name: SIM_NODE, namespace: 'kube-node-lease' }, spec: { holderIdentity: SIM_NODE, leaseDurationSeconds: 40, renewTime: new V1MicroTime(now) } };
    const current = await this.leases.readNamespacedLease({ name: SIM_NODE, namespace: 'kube-node-lease' }).catch(() => undefined);
    if (current) await this.leases.replaceNamespacedLease({ name: SIM_NODE, namespace: 'kube-node-lease', body: { ...lease, metadata: { ...lease.metadata, resourceVersion: current.metadata?.resourceVersion } } });
    else await this.leases.createNamespacedLease({ namespace: 'kube-node-lease', body: lease });
  }

  /** A freed IP first (the most recent), else the lowest never used; never one a pod on the node holds. */
  private allocate(): string {
    const used = new Set([...(this.pods?.list() ?? []).map((p) => p.status?.podIP), ...[...this.state.values()].map((s) => s.ip)]);
    for (let reused = this.free.pop(); reused; reused = this.free.pop()) if (!used.has(reused)) return reused;
    for (let host = 2; host < 255; host++) if (!used.has(`127.11.0.${host}`)) return `127.11.0.${host}`;
    throw new Error(`node ${SIM_NODE} has no pod IP left in ${POD_CIDR}`);
  }

  private async reconcile(p: V1Pod): Promise<void> {
    const uid = p.metadata?.uid;
    if (!uid || p.spec?.nodeName !== SIM_NODE) return;
    const st = this.state.get(uid) ?? { ip: p.status?.podIP, terminating: false };
    this.state.set(uid, st);
    if (p.metadata?.deletionTimestamp) return this.terminate(p, st);
    if (p.metadata?.annotations?.[FAULT_ANNOTATION] === 'image-pull') return this.imagePullBackOff(p, st);
    if (!p.status?.podIP) return this.run(p, st);
    // Adopted after a restart of the simulator: the container is started again.
    if (!this.backends.running(uid)) this.backends.start(toSimPod(p));
    await this.updateReadiness(p);
  }

  private async run(p: V1Pod, st: PodState): Promise<void> {
    st.ip ??= this.allocate();
    const now = new Date();
    const containers = p.spec?.containers ?? [];
    await this.patchStatus(p, {
      phase: 'Running',
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: st.ip,
      podIPs: [{ ip: st.ip }],
      startTime: now,
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', lastTransitionTime: now },
        { type: 'Ready', status: 'False', reason: 'ContainersNotReady', lastTransitionTime: now },
      ],
      containerStatuses: containers.map((c) => ({ name: c.name, image: c.image ?? '', imageID: `sim://${c.image}`, containerID: `sim://${p.metadata!.uid}-${c.name}`, ready: false, started: true, restartCount: 0, state: { running: { startedAt: now } } })),
    });
    this.backends.start({ ...toSimPod(p), ip: st.ip });
  }

  /** The pod sandbox exists (so the pod has an IP, and the CLB a target that fails its checks); the image never comes. */
  private async imagePullBackOff(p: V1Pod, st: PodState): Promise<void> {
    if (p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff' && p.status.podIP) return;
    st.ip ??= this.allocate();
    const now = new Date();
    await this.patchStatus(p, {
      phase: 'Pending',
      hostIP: '127.0.0.1',
      podIP: st.ip,
      podIPs: [{ ip: st.ip }],
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        { type: 'Ready', status: 'False', reason: 'ContainersNotReady', lastTransitionTime: now },
      ],
      containerStatuses: (p.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` } } })),
    });
  }

  /** Ready = the container listens (the probe) and every readiness gate is True. */
  private async updateReadiness(p: V1Pod): Promise<void> {
    if (p.status?.phase !== 'Running') return;
    const listening = this.backends.listening(p.metadata!.uid!);
    const gates = (p.spec?.readinessGates ?? []).every((g) => isTrue(p, g.conditionType));
    const ready = listening && gates;
    if (isTrue(p, 'ContainersReady') === listening && isTrue(p, 'Ready') === ready) return;
    const now = new Date();
    const cond = (type: string, ok: boolean, reason: string): V1PodCondition =>
      isTrue(p, type) === ok ? condition(p, type)! : { type, status: ok ? 'True' : 'False', lastTransitionTime: now, ...(ok ? {} : { reason }) };
    await this.patchStatus(p, {
      conditions: [cond('ContainersReady', listening, 'ContainersNotReady'), cond('Ready', ready, listening ? 'ReadinessGatesNotReady' : 'ContainersNotReady')],
      containerStatuses: (p.status?.containerStatuses ?? []).map((c) => ({ ...c, ready: listening })),
    });
  }

  private async resync(): Promise<void> {
    for (const p of this.pods?.list() ?? []) {
      if (this.stopped) return;
      await this.reconcile(p).catch((e) => !this.stopped && console.error(`kubelet: ${p.metadata?.name}: ${e}`));
    }
  }

  private async probe(): Promise<void> {
    for (const p of this.pods?.list() ?? []) {
      if (p.spec?.nodeName === SIM_NODE && p.status?.podIP && this.backends.running(p.metadata?.uid ?? '')) await this.updateReadiness(p).catch(() => undefined);
    }
  }

  private async terminate(p: V1Pod, st: PodState): Promise<void> {
    if (st.terminating) {
      // The container is gone but the pod is still there: the removal failed; again.
      if (!this.backends.running(p.metadata!.uid!)) return this.remove(p);
      return this.updateReadiness(p);
    }
    st.terminating = true;
    const uid = p.metadata!.uid!;
    const grace = p.metadata?.deletionGracePeriodSeconds ?? p.spec?.terminationGracePeriodSeconds ?? 30;
    this.onTerminating(p);
    this.backends.terminate(uid, grace, () => this.queue(() => this.remove(p)));
    await this.updateReadiness(p);
  }

  /** The container has exited: the pod object goes (grace 0, this very pod only). */
  private async remove(p: V1Pod): Promise<void> {
    const { name, namespace, uid } = p.metadata!;
    await this.core.deleteNamespacedPod({ name: name!, namespace: namespace!, body: { gracePeriodSeconds: 0, preconditions: { uid } } }).catch((e) => {
      if (errorCode(e) !== 404 && errorCode(e) !== 409) throw e;
    });
  }

  private async forget(p: V1Pod): Promise<void> {
    const uid = p.metadata?.uid;
    const st = uid ? this.state.get(uid) : undefined;
    if (!uid || !st) return;
    this.state.delete(uid);
    // Deleted without our doing (grace 0 by someone, or the namespace going): the container is killed.
    if (this.backends.running(uid)) {
      this.onTerminating(p);
      this.backends.terminate(uid, 0, () => undefined);
    }
    if (st.ip && ![...this.state.values()].some((s) => s.ip === st.ip)) this.free.push(st.ip);
  }

  private async patchStatus(p: V1Pod, status: Record<string, unknown>): Promise<void> {
    await this.core
      // The uid makes the patch fail (422) when the name has meanwhile been given to a new pod.
      .patchNamespacedPodStatus({ name: p.metadata!.name!, namespace: p.metadata!.namespace!, body: { metadata: { uid: p.metadata!.uid }, status } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch))
      .catch((e) => {
        if (![404, 409, 422].includes(errorCode(e) ?? 0)) throw e;
      });
  }
}
