// Test doubles for the two things commands depend on: the terminal and the cluster.
import type { WarningEvent } from '../../src/core/soak.js';
import { PassThrough, Writable } from 'node:stream';
import type { Deps } from '../../src/commands/common.js';
import type { LeaseState } from '../../src/core/lock.js';
import { NotFoundError } from '../../src/core/errors.js';
import type { PodSnapshot, ServiceEvent, ServiceSnapshot, StatefulSetSnapshot } from '../../src/core/workload.js';
import type { Cluster, Eviction, StatefulSetChange } from '../../src/k8s/types.js';
import type { Io } from '../../src/ui/terminal.js';

export class Buffered extends Writable {
  text = '';
  isTTY: boolean;
  constructor(tty = false) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

export function fakeIo(opts: { tty?: boolean; env?: Record<string, string> } = {}): Io & { stdout: Buffered; stderr: Buffered } {
  const stdin = Object.assign(new PassThrough(), { isTTY: opts.tty ?? false });
  return { stdin, stdout: new Buffered(opts.tty), stderr: new Buffered(opts.tty), env: opts.env ?? {} };
}

export function statefulSet(overrides: Partial<StatefulSetSnapshot> = {}): StatefulSetSnapshot {
  return {
    name: 'gw',
    namespace: 'prod',
    uid: 'sts-uid',
    resourceVersion: '100',
    generation: 2,
    observedGeneration: 2,
    replicas: 3,
    ordinalsStart: 0,
    updateStrategy: 'OnDelete',
    podManagementPolicy: 'Parallel',
    currentRevision: 'gw-5d8f7c6b9',
    updateRevision: 'gw-7f9c8d4b5',
    readyReplicas: 3,
    updatedReplicas: 1,
    selector: { app: 'gw' },
    podLabels: { app: 'gw' },
    containers: [{ name: 'gw', image: 'nginx:1.25.4' }],
    annotations: {},
    ...overrides,
  };
}

export function pod(ordinal: number, overrides: Partial<PodSnapshot> = {}): PodSnapshot {
  return {
    name: `gw-${ordinal}`,
    uid: `uid-${ordinal}`,
    ordinal,
    ip: `127.10.0.${ordinal + 10}`,
    node: 'kwok-node-0',
    phase: 'Running',
    ready: true,
    readinessGates: [],
    deleting: false,
    revision: 'gw-5d8f7c6b9',
    containers: [{ name: 'gw', image: 'nginx:1.25.3' }],
    labels: { app: 'gw', 'statefulset.kubernetes.io/pod-name': `gw-${ordinal}` },
    waiting: [],
    ...overrides,
  };
}

export function service(overrides: Partial<ServiceSnapshot> = {}): ServiceSnapshot {
  return {
    name: 'gw',
    resourceVersion: '7',
    type: 'LoadBalancer',
    selector: { app: 'gw' },
    annotations: { 'service.cloud.tencent.com/direct-access': 'true' },
    ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
    annotationWriters: {},
    ...overrides,
  };
}

/**
 * An in-memory cluster that records every mutation, so tests can assert what was (not) done. With
 * `controller` on it also plays the StatefulSet controller, at once: a template change makes a new
 * update revision, a replica change adds or removes the highest ordinals, an evicted pod comes back
 * under a new uid from the update revision (Ready, unless `broken` names its image).
 */
export class FakeCluster implements Cluster {
  readonly calls: string[] = [];
  readonly mutations: string[] = [];
  /** Services live in a store two fakes may share: two StatefulSets behind one Service. */
  store: { services: ServiceSnapshot[]; rv: number } = { services: [], rv: 1000 };
  get services(): ServiceSnapshot[] {
    return this.store.services;
  }
  set services(v: ServiceSnapshot[]) {
    this.store.services = v;
  }
  hpas: string[] = [];
  controller = false;
  /** What an admission webhook does to images (digest pinning). */
  imageRewrite: (image: string) => string = (i) => i;
  /** Images whose pods come back not Ready (ImagePullBackOff). */
  broken = new Set<string>();
  /** Evictions refused this many times first (a PodDisruptionBudget). */
  budgetRefusals = 0;
  /** Runs before every write: a test's other writer (GitOps, a colleague) acts here. */
  beforeWrite: (what: string, body?: unknown) => void = () => undefined;
  private rv = 100;
  private uids = 0;
  constructor(
    public sts: StatefulSetSnapshot | undefined,
    public pods: PodSnapshot[] = [],
    readonly namespace = 'prod',
  ) {}

  revisionOf(containers: { name: string; image: string }[]): string {
    // A ControllerRevision name derived from the template, as the controller's hash is.
    let h = 0;
    for (const ch of JSON.stringify(containers)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    const name = `${this.sts!.name}-${h.toString(16)}`;
    // The ControllerRevision stays, as the controller keeps its history (revisionHistoryLimit).
    this.templates.set(name, containers);
    return name;
  }

  /** The pod the controller creates for an ordinal now. */
  freshPod(ordinal: number): PodSnapshot {
    const sts = this.sts!;
    const bad = sts.containers.some((c) => this.broken.has(c.image));
    return pod(ordinal, {
      name: `${sts.name}-${ordinal}`,
      uid: `uid-${ordinal}-${++this.uids}`,
      revision: sts.updateRevision,
      containers: sts.containers.map((c) => ({ ...c, image: this.imageRewrite(c.image) })),
      ready: !bad,
      phase: bad ? 'Pending' : 'Running',
      waiting: bad ? [{ container: sts.containers[0]!.name, reason: 'ImagePullBackOff', message: 'Back-off pulling image', restarts: 0 }] : [],
    });
  }

  private reconcile(): void {
    if (!this.controller || !this.sts) return;
    const sts = this.sts;
    const updateRevision = this.revisionOf(sts.containers);
    this.sts = { ...sts, updateRevision, observedGeneration: sts.generation };
    const wanted = Array.from({ length: this.sts.replicas }, (_, i) => this.sts!.ordinalsStart + i);
    this.pods = this.pods.filter((p) => wanted.includes(p.ordinal));
    for (const o of wanted) if (!this.pods.some((p) => p.ordinal === o)) this.pods.push(this.freshPod(o));
    this.pods.sort((a, b) => a.ordinal - b.ordinal);
  }

  private need(name: string): StatefulSetSnapshot {
    if (!this.sts || this.sts.name !== name) throw new NotFoundError('statefulsets', name, this.namespace);
    return this.sts;
  }

  async readStatefulSetWithPods(name: string) {
    this.calls.push(`readStatefulSetWithPods ${name}`);
    return { sts: this.need(name), pods: this.pods };
  }

  async readStatefulSet(name: string) {
    this.calls.push(`readStatefulSet ${name}`);
    return this.need(name);
  }

  /** Set to make the pod feed say its watch is not established (a reconnect). */
  podFeedBehind = false;

  /** The fake's pods are always current: the feed reads them live, as a watch would have delivered them. */
  async followPods(sts: StatefulSetSnapshot) {
    this.calls.push(`followPods ${sts.name}`);
    return { pods: () => (this.podFeedBehind ? undefined : this.pods), until: (done: (pods: PodSnapshot[]) => boolean) => this.waitForPods(sts, done), close: () => undefined };
  }

  async patchStatefulSet(name: string, resourceVersion: string, change: StatefulSetChange) {
    this.beforeWrite(`patch statefulset ${name}`, change);
    const sts = this.need(name);
    if (sts.resourceVersion !== resourceVersion) throw Object.assign(new Error('conflict'), { status: 409 });
    this.mutations.push(`patch statefulset ${name} ${JSON.stringify(change)}`);
    const annotations = { ...sts.annotations };
    for (const [k, v] of Object.entries(change.annotations ?? {})) {
      if (v === null) delete annotations[k];
      else annotations[k] = v;
    }
    this.sts = {
      ...sts,
      annotations,
      replicas: change.replicas ?? sts.replicas,
      containers: change.revisionPatch ? this.revisionContainers(change.revisionPatch) : change.images ? sts.containers.map((c) => change.images!.find((i) => i.name === c.name) ?? c) : sts.containers,
      generation: change.images || change.revisionPatch || change.replicas !== undefined ? sts.generation + 1 : sts.generation,
      observedGeneration: change.images || change.revisionPatch || change.replicas !== undefined ? sts.generation + 1 : sts.generation,
      resourceVersion: String(++this.rv),
    };
    this.reconcile();
    return this.sts!;
  }

  /** Templates of revisions the fake has seen, by name, so a rollback can put one back. */
  readonly templates = new Map<string, { name: string; image: string }[]>();

  private revisionContainers(patch: Record<string, unknown>): { name: string; image: string }[] {
    return (patch as { spec: { template: { spec: { containers: { name: string; image: string }[] } } } }).spec.template.spec.containers;
  }

  async listLoadBalancerServices() {
    return this.services.filter((s) => s.type === 'LoadBalancer');
  }

  async readService(name: string) {
    const s = this.services.find((x) => x.name === name);
    if (!s) throw new NotFoundError('services', name, this.namespace);
    return s;
  }

  async setServiceAnnotation(name: string, resourceVersion: string, key: string, value: string | undefined) {
    this.beforeWrite(`annotate service ${name}`, value);
    const s = await this.readService(name);
    if (s.resourceVersion !== resourceVersion) throw Object.assign(new Error('conflict'), { status: 409 });
    this.mutations.push(`annotate service ${name} ${key}=${value ?? '<removed>'}`);
    const annotations = { ...s.annotations };
    if (value === undefined) delete annotations[key];
    else annotations[key] = value;
    const next = { ...s, annotations, resourceVersion: String(++this.store.rv), annotationWriters: { ...s.annotationWriters, [key]: 'kubectl-zerolossupgrade' } };
    this.services = this.services.map((x) => (x.name === name ? next : x));
    return next;
  }

  /** Another writer sets a Service's lb-rs-weight (a colleague, GitOps). */
  otherWriter(name: string, value: string | undefined, manager = 'argocd-controller') {
    this.services = this.services.map((s) => {
      if (s.name !== name) return s;
      const annotations = { ...s.annotations };
      if (value === undefined) delete annotations['service.cloud.tencent.com/lb-rs-weight'];
      else annotations['service.cloud.tencent.com/lb-rs-weight'] = value;
      const writers = { ...s.annotationWriters };
      // managedFields keeps no owner for a field that was removed.
      if (value === undefined) delete writers['service.cloud.tencent.com/lb-rs-weight'];
      else writers['service.cloud.tencent.com/lb-rs-weight'] = manager;
      return { ...s, annotations, resourceVersion: String(++this.store.rv), annotationWriters: writers, lastWriter: manager };
    });
  }

  async evictPod(name: string, uid: string): Promise<Eviction> {
    this.beforeWrite(`evict pod ${name}`);
    const p = this.pods.find((x) => x.name === name);
    if (!p || p.uid !== uid) return { kind: 'gone' };
    if (this.budgetRefusals > 0) {
      this.budgetRefusals--;
      return { kind: 'blocked', reason: 'The disruption budget gw-pdb needs 3 healthy pods and has 3 currently' };
    }
    this.mutations.push(`delete pod ${name} ${uid}`);
    this.pods = this.pods.filter((x) => x !== p);
    this.reconcile();
    return { kind: 'evicted' };
  }

  async waitForPods(_sts: StatefulSetSnapshot, done: (pods: PodSnapshot[]) => boolean) {
    // The controller here acts at once: what holds now is all a wait would see.
    return { pods: this.pods, met: done(this.pods) };
  }

  async autoscalersOf() {
    return this.hpas;
  }

  async serviceEvents(): Promise<ServiceEvent[]> {
    return [];
  }

  /** Warning Events in the namespace (a test adds them; the soak reads them). */
  warnings: WarningEvent[] = [];
  async warningEvents(since: Date): Promise<WarningEvent[]> {
    this.calls.push('list warning events');
    return this.warnings.filter((e) => new Date(e.at) >= since);
  }

  async whoAmI() {
    return 'tester';
  }

  controllerVersion: string | undefined = 'v2.5.1';
  nodes: Record<string, Record<string, string>> = {};

  async serviceControllerVersion() {
    return this.controllerVersion;
  }

  async nodeLabels(name: string) {
    return this.nodes[name] ?? {};
  }

  readonly events: string[] = [];
  leases = new Map<string, LeaseState>();

  async recordEvent(_sts: StatefulSetSnapshot, type: string, reason: string, message: string) {
    this.events.push(`${type} ${reason}: ${message}`);
  }

  async revisionPatch(revision: string) {
    const current = this.sts && revision === this.sts.updateRevision ? this.sts.containers : undefined;
    const known = current ?? [...this.pods.map((p) => [p.revision, p.containers] as const)].find(([r]) => r === revision)?.[1] ?? this.templates.get(revision);
    if (known) this.templates.set(revision, known);
    return { spec: { template: { $patch: 'replace', metadata: { labels: { app: 'gw' } }, spec: { containers: known ?? [{ name: 'gw', image: `image-of-${revision}` }] } } } };
  }

  readonly configMaps = new Map<string, { data: Record<string, string>; resourceVersion: string; labels: Record<string, string> }>();
  /** Set to make the next ConfigMap writes fail with this (e.g. a 403). */
  configMapError?: Error;

  async readConfigMap(name: string) {
    this.calls.push(`get configmap ${name}`);
    const cm = this.configMaps.get(name);
    return cm ? { data: { ...cm.data }, resourceVersion: cm.resourceVersion } : undefined;
  }

  async writeConfigMap(name: string, resourceVersion: string | undefined, data: Record<string, string | null>, labels: Record<string, string>) {
    this.calls.push(`write configmap ${name}`);
    if (this.configMapError) throw this.configMapError;
    const current = this.configMaps.get(name);
    if ((current && current.resourceVersion !== resourceVersion) || (!current && resourceVersion)) throw Object.assign(new Error('conflict'), { status: 409 });
    // A merge patch: keys not named stay, null removes one; labels merge.
    const merged: Record<string, string> = { ...(current?.data ?? {}) };
    for (const [k, v] of Object.entries(data)) if (v === null) delete merged[k]; else merged[k] = v;
    const cm = { data: merged, labels: { ...(current?.labels ?? {}), ...labels }, resourceVersion: String(++this.rv) };
    this.configMaps.set(name, cm);
    return { data: { ...cm.data }, resourceVersion: cm.resourceVersion };
  }

  async readLease(name: string) {
    return this.leases.get(name);
  }

  async writeLease(name: string, resourceVersion: string | undefined, holder: string, acquiredAt: string, durationSeconds: number) {
    const current = this.leases.get(name);
    if ((current && current.resourceVersion !== resourceVersion) || (!current && resourceVersion)) throw Object.assign(new Error('conflict'), { status: 409 });
    const lease = { holder, acquiredAt, renewedAt: new Date().toISOString(), durationSeconds, resourceVersion: String(++this.rv) };
    this.leases.set(name, lease);
    return lease;
  }

  async deleteLease(name: string) {
    this.leases.delete(name);
  }
}

export function fakeDeps(cluster: Cluster, io = fakeIo()): Deps & { io: ReturnType<typeof fakeIo>; opened: unknown[] } {
  const opened: unknown[] = [];
  return {
    io,
    opened,
    openCluster: async (flags) => {
      opened.push(flags);
      return cluster;
    },
    openCloud: async () => ({ off: 'no Tencent Cloud credentials found' }),
  };
}
