// A second referee beside the simulator's deletion audit, from the API alone: it watches a
// namespace's Services and pods, merges the events by resourceVersion (one etcd, one order), and
// replays them. For each pod that starts to go (deletionTimestamp set, or deleted outright) it gives
// the weight each direct-access Service port gave that pod's ordinal by lb-rs-weight at that
// instant, read with the simulator's own parser, never the plugin's.
import { CoreV1Api, KubeConfig, Watch, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { isDirectAccessLb, selects } from '../../sim/controller.js';
import { DEFAULT_WEIGHT, RS_WEIGHT, parseWeightConfig } from '../../sim/lb-weights.js';

interface Seen {
  rv: number;
  kind: 'Service' | 'Pod';
  type: string;
  obj: V1Pod | V1Service;
}

export interface RefereedDeletion {
  pod: string;
  uid: string;
  rv: number;
  /** "service proto/port" -> weight by the annotation at that resourceVersion. */
  weights: Record<string, number>;
}

function weightFor(annotation: string | undefined, statefulSet: string, ordinal: number, proto: string, port: number): number {
  if (annotation === undefined) return DEFAULT_WEIGHT;
  const c = parseWeightConfig(annotation);
  const listed = c.groups.find((g) => g.proto === proto.toUpperCase() && g.port === port)?.statefulSets.find((s) => s.name === statefulSet)?.weights.find((w) => w.podIndexes.includes(ordinal));
  return listed ? listed.weight : c.defaultWeight;
}

export class ApiReferee {
  private readonly seen: Seen[] = [];
  private readonly aborts: AbortController[] = [];

  private constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
  ) {}

  /** Starts watching now: lists first, so the replay knows every object's state from the start. */
  static async watch(kc: KubeConfig, namespace: string): Promise<ApiReferee> {
    const r = new ApiReferee(kc, namespace);
    const core = kc.makeApiClient(CoreV1Api);
    for (const kind of ['Service', 'Pod'] as const) {
      const path = `/api/v1/namespaces/${namespace}/${kind === 'Service' ? 'services' : 'pods'}`;
      const list = kind === 'Service' ? await core.listNamespacedService({ namespace }) : await core.listNamespacedPod({ namespace });
      for (const obj of list.items as (V1Pod | V1Service)[]) r.seen.push({ rv: Number(obj.metadata!.resourceVersion), kind, type: 'ADDED', obj });
      r.follow(kind, path, list.metadata!.resourceVersion!);
    }
    return r;
  }

  private follow(kind: Seen['kind'], path: string, from: string): void {
    let rv = from;
    new Watch(this.kc)
      .watch(path, { resourceVersion: rv, allowWatchBookmarks: true }, (type, obj) => {
        rv = obj?.metadata?.resourceVersion ?? rv;
        if (type === 'BOOKMARK' || type === 'ERROR') return;
        this.seen.push({ rv: Number(obj.metadata.resourceVersion), kind, type, obj });
      }, () => {
        // Watches end now and then; pick up where this one left off.
        if (!this.stopped) setTimeout(() => this.follow(kind, path, rv), 200);
      })
      .then((a) => this.aborts.push(a))
      .catch(() => undefined);
  }

  private stopped = false;

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }

  /** Every pod departure of `statefulSet`, with the annotation's weights at that instant. */
  deletions(statefulSet: string): RefereedDeletion[] {
    const events = [...this.seen].sort((a, b) => a.rv - b.rv);
    const services = new Map<string, V1Service>();
    const pods = new Map<string, V1Pod>();
    const out: RefereedDeletion[] = [];
    const counted = new Set<string>();
    for (const e of events) {
      const name = e.obj.metadata!.name!;
      if (e.kind === 'Service') {
        if (e.type === 'DELETED') services.delete(name);
        else services.set(name, e.obj as V1Service);
        continue;
      }
      const pod = e.obj as V1Pod;
      const before = pods.get(name);
      const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === 'StatefulSet')?.name;
      const starts = (e.type === 'MODIFIED' && pod.metadata?.deletionTimestamp && !before?.metadata?.deletionTimestamp) || (e.type === 'DELETED' && before && !before.metadata?.deletionTimestamp);
      // Once per pod (by uid), however many events its departure takes.
      if (starts && owner === statefulSet && before?.metadata?.uid === pod.metadata?.uid && !counted.has(pod.metadata!.uid!)) {
        counted.add(pod.metadata!.uid!);
        const ordinal = Number(name.slice(statefulSet.length + 1));
        const weights: Record<string, number> = {};
        for (const svc of services.values()) {
          if (!isDirectAccessLb(svc) || !selects(svc, pod.metadata?.labels ?? {})) continue;
          for (const p of svc.spec?.ports ?? []) weights[`${svc.metadata!.name} ${p.protocol ?? 'TCP'}/${p.port}`] = weightFor(svc.metadata?.annotations?.[RS_WEIGHT], statefulSet, ordinal, p.protocol ?? 'TCP', p.port);
        }
        out.push({ pod: name, uid: pod.metadata!.uid!, rv: e.rv, weights });
      }
      if (e.type === 'DELETED') pods.delete(name);
      else pods.set(name, pod);
    }
    return out;
  }
}
