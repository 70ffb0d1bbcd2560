// The only code that calls the Kubernetes API. Commands get a Cluster and never see client-node.
import type { WarningEvent } from '../core/soak.js';
import {
  ApiException,
  AppsV1Api,
  AuthenticationV1Api,
  AutoscalingV2Api,
  CoordinationV1Api,
  CoreV1Api,
  type V1Lease,
  PatchStrategy,
  V1MicroTime,
  Watch,
  setHeaderOptions,
  type V1Pod,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { LeaseState } from '../core/lock.js';
import type { PodSnapshot, ServiceEvent, ServiceSnapshot, StatefulSetSnapshot } from '../core/workload.js';
import { FIELD_MANAGER_NAME, type Eviction, type PodFeed, type PodWait } from './types.js';
import { connect, translateApiError, withRetry, type ApiAction, type Connection } from './client.js';
import { selectorString, toPodSnapshots, toServiceSnapshot, toStatefulSetSnapshot } from './convert.js';
import type { ConnectionFlags } from './kubeconfig.js';
import { annotationPatch, statefulSetPatch } from './patches.js';
import type { Cluster, ConfigMapState, StatefulSetChange } from './types.js';

const TKE_CONTROLLER_CONFIG = 'tke-service-controller-config';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const FIELD_MANAGER = FIELD_MANAGER_NAME;
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

export class KubeCluster implements Cluster {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly selectors = new Map<string, string>();

  constructor(private readonly conn: Connection) {
    this.apps = conn.api(AppsV1Api);
    this.core = conn.api(CoreV1Api);
  }

  get namespace(): string {
    return this.conn.namespace;
  }

  private async call<T>(action: Omit<ApiAction, 'server' | 'namespace'>, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(fn);
    } catch (e) {
      throw translateApiError(e, { ...action, namespace: this.namespace, server: this.conn.server });
    }
  }

  private async getStatefulSet(name: string): Promise<V1StatefulSet> {
    const sts = await this.call({ verb: 'get', resource: 'statefulsets', name }, () => this.apps.readNamespacedStatefulSet({ name, namespace: this.namespace }));
    this.selectors.set(name, selectorString(sts.spec?.selector));
    return sts;
  }

  private async listPods(sts: StatefulSetSnapshot): Promise<PodSnapshot[]> {
    const selector = this.selectors.get(sts.name) ?? selectorString({ matchLabels: sts.selector });
    // One list call with the StatefulSet's selector, whatever the replica count.
    const list = await this.call({ verb: 'list', resource: 'pods' }, () => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: selector }));
    return toPodSnapshots(sts, list.items);
  }

  async readStatefulSet(name: string): Promise<StatefulSetSnapshot> {
    return toStatefulSetSnapshot(await this.getStatefulSet(name));
  }

  async readStatefulSetWithPods(name: string): Promise<{ sts: StatefulSetSnapshot; pods: PodSnapshot[] }> {
    const sts = toStatefulSetSnapshot(await this.getStatefulSet(name));
    return { sts, pods: await this.listPods(sts) };
  }

  async patchStatefulSet(name: string, resourceVersion: string, change: StatefulSetChange): Promise<StatefulSetSnapshot> {
    const body = statefulSetPatch(resourceVersion, change);
    const sts = await this.call({ verb: 'patch', resource: 'statefulsets', name }, () =>
      this.apps.patchNamespacedStatefulSet({ name, namespace: this.namespace, body, fieldManager: FIELD_MANAGER }, strategic),
    );
    return toStatefulSetSnapshot(sts);
  }

  async revisionPatch(revision: string): Promise<Record<string, unknown>> {
    const rev = await this.call({ verb: 'get', resource: 'controllerrevisions', name: revision }, () =>
      this.apps.readNamespacedControllerRevision({ name: revision, namespace: this.namespace }),
    );
    return rev.data as Record<string, unknown>;
  }

  async listLoadBalancerServices(): Promise<ServiceSnapshot[]> {
    const list = await this.call({ verb: 'list', resource: 'services' }, () => this.core.listNamespacedService({ namespace: this.namespace }));
    return list.items.map(toServiceSnapshot).filter((s) => s.type === 'LoadBalancer');
  }

  async readService(name: string): Promise<ServiceSnapshot> {
    return toServiceSnapshot(await this.call({ verb: 'get', resource: 'services', name }, () => this.core.readNamespacedService({ name, namespace: this.namespace })));
  }

  async setServiceAnnotation(name: string, resourceVersion: string, key: string, value: string | undefined): Promise<ServiceSnapshot> {
    const body = annotationPatch(resourceVersion, key, value);
    return toServiceSnapshot(
      await this.call({ verb: 'patch', resource: 'services', name }, () => this.core.patchNamespacedService({ name, namespace: this.namespace, body, fieldManager: FIELD_MANAGER }, merge)),
    );
  }

  async evictPod(name: string, uid: string): Promise<Eviction> {
    const body = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: this.namespace }, deleteOptions: { preconditions: { uid } } };
    try {
      // Through the Eviction API, so PodDisruptionBudgets are honoured; a budget's refusal is an answer, not a failure to retry.
      return await withRetry(async () => {
        try {
          await this.core.createNamespacedPodEviction({ name, namespace: this.namespace, body });
          return { kind: 'evicted' as const };
        } catch (e) {
          // A budget's refusal names it in the causes; any other 429 is the API server asking to slow down (retried).
          const budget = e instanceof ApiException && e.code === 429 ? disruptionMessage(e.body) : undefined;
          if (budget) return { kind: 'blocked' as const, reason: budget };
          throw e;
        }
      });
    } catch (e) {
      // Gone already, or a new pod of that name (uid precondition): nothing to delete, by design.
      if (e instanceof ApiException && (e.code === 404 || e.code === 409)) return { kind: 'gone' };
      throw translateApiError(e, { verb: 'create', resource: 'pods/eviction', name, namespace: this.namespace, server: this.conn.server });
    }
  }

  async waitForPods(sts: StatefulSetSnapshot, done: (pods: PodSnapshot[]) => boolean, timeoutMs: number): Promise<PodWait> {
    const pods = this.podWatch(sts);
    await pods.start();
    const feed = podFeed(sts, pods);
    try {
      return await feed.until(done, timeoutMs);
    } finally {
      feed.close();
    }
  }

  private podWatch(sts: StatefulSetSnapshot): ListWatch<V1Pod> {
    const selector = this.selectors.get(sts.name) ?? selectorString({ matchLabels: sts.selector });
    return new ListWatch<V1Pod>(this.conn, { watch: { verb: 'watch', resource: 'pods' }, namespace: this.namespace, path: `/api/v1/namespaces/${this.namespace}/pods`, query: { labelSelector: selector } }, () =>
      this.call({ verb: 'list', resource: 'pods' }, () => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: selector })),
    );
  }

  async followPods(sts: StatefulSetSnapshot): Promise<PodFeed> {
    const pods = this.podWatch(sts);
    await pods.start();
    return podFeed(sts, pods);
  }

  async autoscalersOf(name: string): Promise<string[]> {
    const hpa = this.conn.api(AutoscalingV2Api);
    const list = await this.call({ verb: 'list', resource: 'horizontalpodautoscalers' }, () => hpa.listNamespacedHorizontalPodAutoscaler({ namespace: this.namespace }));
    return list.items.filter((h) => h.spec?.scaleTargetRef.kind === 'StatefulSet' && h.spec.scaleTargetRef.name === name).map((h) => h.metadata?.name ?? '');
  }

  async serviceEvents(name: string, since: Date): Promise<ServiceEvent[]> {
    const events = await this.eventsSince(`involvedObject.kind=Service,involvedObject.name=${name}`, since);
    return events.map(({ type, reason, message, at, source }) => ({ type, reason, message, at, source }));
  }

  async warningEvents(since: Date): Promise<WarningEvent[]> {
    const events = await this.eventsSince('type=Warning', since);
    return events.map(({ type: _, ...e }) => e);
  }

  /** The namespace's Events matching the field selector, last seen at or after `since`, oldest first. */
  private async eventsSince(fieldSelector: string, since: Date): Promise<(WarningEvent & { type: string })[]> {
    const list = await this.call({ verb: 'list', resource: 'events' }, () => this.core.listNamespacedEvent({ namespace: this.namespace, fieldSelector }));
    return list.items
      .map((e) => ({
        type: e.type ?? '',
        kind: e.involvedObject?.kind ?? '',
        name: e.involvedObject?.name ?? '',
        ...(e.involvedObject?.uid ? { uid: e.involvedObject.uid } : {}),
        reason: e.reason ?? '',
        message: e.message ?? '',
        at: new Date(e.lastTimestamp ?? e.series?.lastObservedTime ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0).toISOString(),
        source: e.source?.component ?? e.reportingComponent ?? '',
      }))
      .filter((e) => new Date(e.at) >= since)
      .sort((x, y) => x.at.localeCompare(y.at));
  }

  async recordEvent(sts: StatefulSetSnapshot, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    await this.call({ verb: 'create', resource: 'events' }, () =>
      this.core.createNamespacedEvent({
        namespace: this.namespace,
        body: {
          metadata: { name: `${sts.name}.${randomBytes(8).toString('hex')}`, namespace: this.namespace },
          involvedObject: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.name, namespace: this.namespace, uid: sts.uid },
          type,
          reason,
          message,
          source: { component: 'kubectl-zerolossupgrade' },
          reportingComponent: 'kubectl-zerolossupgrade',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      }),
    );
  }

  async serviceControllerVersion(): Promise<string | undefined> {
    try {
      const cm = await withRetry(() => this.core.readNamespacedConfigMap({ name: TKE_CONTROLLER_CONFIG, namespace: 'kube-system' }));
      return cm.data?.VERSION;
    } catch (e) {
      // Optional evidence: not TKE (404) means "unknown"; not readable (403) is thrown, named, for the caller to say so.
      if (e instanceof ApiException && e.code === 404) return undefined;
      throw translateApiError(e, { verb: 'get', resource: 'configmaps', name: TKE_CONTROLLER_CONFIG, namespace: 'kube-system', server: this.conn.server });
    }
  }

  async nodeLabels(name: string): Promise<Record<string, string>> {
    try {
      return (await withRetry(() => this.core.readNode({ name }))).metadata?.labels ?? {};
    } catch (e) {
      // No such node: no labels. Not readable (403) is thrown, named, for the caller to say so.
      if (e instanceof ApiException && e.code === 404) return {};
      throw translateApiError(e, { verb: 'get', resource: 'nodes', name, namespace: '', server: this.conn.server });
    }
  }

  async readConfigMap(name: string): Promise<ConfigMapState | undefined> {
    try {
      const cm = await withRetry(() => this.core.readNamespacedConfigMap({ name, namespace: this.namespace }));
      return { data: cm.data ?? {}, resourceVersion: cm.metadata?.resourceVersion ?? '' };
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return undefined;
      throw translateApiError(e, { verb: 'get', resource: 'configmaps', name, namespace: this.namespace, server: this.conn.server });
    }
  }

  async writeConfigMap(name: string, resourceVersion: string | undefined, data: Record<string, string | null>, labels: Record<string, string>): Promise<ConfigMapState> {
    // Conditional: on a conflict (409) the caller reads again and writes its change again.
    const cm = resourceVersion
      ? await this.call({ verb: 'patch', resource: 'configmaps', name }, () =>
          this.core.patchNamespacedConfigMap({ name, namespace: this.namespace, body: { metadata: { resourceVersion, labels }, data }, fieldManager: FIELD_MANAGER }, merge),
        )
      : await this.call({ verb: 'create', resource: 'configmaps', name }, () =>
          this.core.createNamespacedConfigMap({
            namespace: this.namespace,
            body: { metadata: { name, namespace: this.namespace, labels }, data: Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => e[1] !== null)) },
            fieldManager: FIELD_MANAGER,
          }),
        );
    return { data: cm.data ?? {}, resourceVersion: cm.metadata?.resourceVersion ?? '' };
  }

  private get leases(): CoordinationV1Api {
    return this.conn.api(CoordinationV1Api);
  }

  async readLease(name: string): Promise<LeaseState | undefined> {
    try {
      return toLeaseState(await this.leases.readNamespacedLease({ name, namespace: this.namespace }));
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return undefined;
      throw translateApiError(e, { verb: 'get', resource: 'leases', name, namespace: this.namespace, server: this.conn.server });
    }
  }

  async writeLease(name: string, resourceVersion: string | undefined, holder: string, acquiredAt: string, durationSeconds: number): Promise<LeaseState> {
    const body: V1Lease = {
      metadata: { name, namespace: this.namespace, ...(resourceVersion ? { resourceVersion } : {}) },
      // Lease times are MicroTime: RFC 3339 with six fractional digits, which plain Dates do not print.
      spec: { holderIdentity: holder, acquireTime: new V1MicroTime(acquiredAt), renewTime: new V1MicroTime(), leaseDurationSeconds: durationSeconds },
    };
    const lease = resourceVersion
      ? await this.call({ verb: 'update', resource: 'leases', name }, () => this.leases.replaceNamespacedLease({ name, namespace: this.namespace, body }))
      : await this.call({ verb: 'create', resource: 'leases', name }, () => this.leases.createNamespacedLease({ namespace: this.namespace, body }));
    return toLeaseState(lease);
  }

  async deleteLease(name: string, resourceVersion: string): Promise<void> {
    await this.call({ verb: 'delete', resource: 'leases', name }, () =>
      this.leases.deleteNamespacedLease({ name, namespace: this.namespace, body: { preconditions: { resourceVersion } } }),
    );
  }

  async whoAmI(): Promise<string> {
    try {
      const review = await this.conn.api(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
      const name = review.status?.userInfo?.username;
      if (name) return name;
    } catch {
      // Older servers or a forbidden review: the kubeconfig's user name is the next best thing.
    }
    return this.conn.kc.getCurrentUser()?.name ?? 'unknown';
  }
}

/** How long one watch runs before the server ends it and it is listed and watched anew. */
const WATCH_SECONDS = 60;
/** How long the first watch of a batch may take to be answered. */
const WATCH_START_MS = 30_000;

interface Listed<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

/**
 * Objects of one kind as one list and then a watch report them: what the walk re-checks right
 * before each eviction costs no API call, whatever the replica count. A watch that ends is resumed
 * where it left off; one whose history is gone (410) lists again. A watch refused (403) fails every
 * read from then on.
 */
class ListWatch<T extends { metadata?: { name?: string; resourceVersion?: string } }> {
  private readonly byName = new Map<string, T>();
  private readonly listeners = new Set<() => void>();
  private failure?: Error;
  private closed = false;
  /** False from the moment a watch ends until the next one is established: the cache may be behind. */
  private connected = false;
  private abort?: AbortController;
  private retry?: NodeJS.Timeout;

  constructor(
    private readonly conn: Connection,
    private readonly what: { watch: { verb: 'watch'; resource: string }; namespace: string; path: string; query: Record<string, string> },
    private readonly list: () => Promise<Listed<T>>,
  ) {}

  async start(): Promise<void> {
    const initial = await this.list();
    for (const o of initial.items) this.byName.set(o.metadata!.name!, o);
    // Established before anything relies on it: a refused watch (403) stops the walk here, before
    // an eviction, not after one; one that never answers, too.
    let timer: NodeJS.Timeout | undefined;
    const unanswered = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the API server did not answer the watch of ${this.what.watch.resource} within ${WATCH_START_MS / 1000}s`)), WATCH_START_MS);
    });
    try {
      await Promise.race([this.watch(initial.metadata?.resourceVersion ?? ''), unanswered]);
    } catch (e) {
      this.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    if (this.failure) throw this.failure;
  }

  items(): T[] {
    if (this.failure) throw this.failure;
    return [...this.byName.values()];
  }

  /** Whether a watch is established now (events since the last list are all in). */
  get current(): boolean {
    return this.connected && !this.failure && !this.closed;
  }

  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  close(): void {
    this.closed = true;
    this.connected = false;
    clearTimeout(this.retry);
    this.abort?.abort();
    this.listeners.clear();
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  private fail(e: Error): void {
    this.failure = e;
    this.changed();
  }

  private relist(): void {
    this.list()
      .then((l) => {
        if (this.closed) return;
        this.byName.clear();
        for (const o of l.items) this.byName.set(o.metadata!.name!, o);
        this.changed();
        void this.watch(l.metadata?.resourceVersion ?? '');
      })
      .catch((e) => this.fail(e));
  }

  private watch(from: string): Promise<void> {
    const translate = (e: unknown) => translateApiError(e, { ...this.what.watch, namespace: this.what.namespace, server: this.conn.server });
    let ended = false;
    // The server ends the watch after WATCH_SECONDS; should it not (a half-open connection), it is
    // ended here shortly after, and the cache stops counting as current at once.
    const deadline = setTimeout(() => {
      this.connected = false;
      this.abort?.abort();
    }, (WATCH_SECONDS + 10) * 1000).unref();
    return new Watch(this.conn.kc)
      .watch(
        this.what.path,
        { ...this.what.query, resourceVersion: from, allowWatchBookmarks: true, timeoutSeconds: WATCH_SECONDS },
        (phase, obj: T & { code?: number }) => {
          if (phase === 'ERROR') {
            this.connected = false;
            this.abort?.abort();
            return;
          }
          if (phase === 'BOOKMARK') return;
          if (phase === 'DELETED') this.byName.delete(obj.metadata!.name!);
          else this.byName.set(obj.metadata!.name!, obj);
          this.changed();
        },
        (err) => {
          ended = true;
          this.connected = false;
          clearTimeout(deadline);
          if (this.closed) return;
          const code = (err as { statusCode?: number } | null)?.statusCode;
          if (code && code !== 410 && code < 500 && code !== 429) return this.fail(translate(new ApiException(code, String(err.message), undefined, {})));
          // Every end lists again rather than resuming: the cache is current again only once a
          // fresh list has replaced it (a resumed watch would replay, or answer 410, after its 200).
          this.retry = setTimeout(() => this.relist(), err ? 500 : 0).unref();
        },
      )
      .then((a) => {
        this.abort = a;
        if (!ended) this.connected = true;
        if (this.closed) a.abort();
      })
      .catch((e) => {
        this.connected = false;
        clearTimeout(deadline);
        if (e instanceof ApiException && e.code === 410) this.relist();
        else this.fail(translate(e));
      });
  }
}

/** The pods of a StatefulSet from a ListWatch, with waits on them. */
function podFeed(sts: StatefulSetSnapshot, pods: ListWatch<V1Pod>): PodFeed {
  const snapshot = () => toPodSnapshots(sts, pods.items());
  return {
    pods: () => (pods.current ? snapshot() : undefined),
    until: (done, timeoutMs) =>
      new Promise<PodWait>((resolve, reject) => {
        const finish = (f: () => void) => {
          clearTimeout(timer);
          off();
          f();
        };
        const check = () => {
          let now: PodSnapshot[];
          try {
            now = snapshot();
          } catch (e) {
            return finish(() => reject(e));
          }
          if (done(now)) finish(() => resolve({ pods: now, met: true }));
        };
        const timer = setTimeout(() => finish(() => resolve({ pods: snapshot(), met: false })), timeoutMs);
        const off = pods.onChange(check);
        check();
      }),
    close: () => pods.close(),
  };
}

/** Which budget refused an eviction, as the API server says it. */
function disruptionMessage(body: unknown): string | undefined {
  try {
    const status = typeof body === 'string' ? JSON.parse(body) : (body as { message?: string; details?: { causes?: { reason?: string; message?: string }[] } });
    const cause = status?.details?.causes?.find((c: { reason?: string }) => c.reason === 'DisruptionBudget');
    if (cause) return cause.message ?? 'a PodDisruptionBudget allows no disruption now';
    return /disruption budget/i.test(status?.message ?? '') ? status.message : undefined;
  } catch {
    return undefined;
  }
}

function toLeaseState(l: V1Lease): LeaseState {
  const iso = (d?: Date) => (d ? new Date(d).toISOString() : undefined);
  return {
    holder: l.spec?.holderIdentity,
    acquiredAt: iso(l.spec?.acquireTime),
    renewedAt: iso(l.spec?.renewTime),
    durationSeconds: l.spec?.leaseDurationSeconds,
    resourceVersion: l.metadata?.resourceVersion ?? '',
  };
}

export function openCluster(flags: ConnectionFlags): Cluster {
  return new KubeCluster(connect(flags));
}
