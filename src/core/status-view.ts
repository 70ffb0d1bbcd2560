import { ordinalsOf, revisionState, type ContainerImage, type PodSnapshot, type RevisionState, type StatefulSetSnapshot } from './workload.js';

export interface PodRow {
  ordinal: number;
  pod: string;
  /** False for an ordinal the StatefulSet owns but whose pod does not exist right now. */
  exists: boolean;
  ip: string | null;
  node: string | null;
  images: ContainerImage[];
  revision: string | null;
  revisionState: RevisionState;
  phase: string;
  ready: boolean;
  deleting: boolean;
}

export interface StatusView {
  statefulSet: {
    name: string;
    namespace: string;
    replicas: number;
    readyReplicas: number;
    updatedReplicas: number;
    updateStrategy: string;
    currentRevision: string | null;
    updateRevision: string | null;
    images: ContainerImage[];
  };
  pods: PodRow[];
}

/** The read-only status of a StatefulSet: one row per owned ordinal plus any pod beyond them. */
export function toStatusView(sts: StatefulSetSnapshot, pods: PodSnapshot[]): StatusView {
  const byOrdinal = new Map(pods.map((p) => [p.ordinal, p]));
  const ordinals = [...new Set([...ordinalsOf(sts), ...byOrdinal.keys()])].sort((a, b) => a - b);
  return {
    statefulSet: {
      name: sts.name,
      namespace: sts.namespace,
      replicas: sts.replicas,
      readyReplicas: sts.readyReplicas,
      updatedReplicas: sts.updatedReplicas,
      updateStrategy: sts.updateStrategy,
      currentRevision: sts.currentRevision ?? null,
      updateRevision: sts.updateRevision ?? null,
      images: sts.containers,
    },
    pods: ordinals.map((ordinal) => {
      const pod = byOrdinal.get(ordinal);
      if (!pod) {
        return {
          ordinal, pod: `${sts.name}-${ordinal}`, exists: false, ip: null, node: null, images: [],
          revision: null, revisionState: 'unknown', phase: 'Missing', ready: false, deleting: false,
        };
      }
      return {
        ordinal,
        pod: pod.name,
        exists: true,
        ip: pod.ip ?? null,
        node: pod.node ?? null,
        images: pod.containers,
        revision: pod.revision ?? null,
        revisionState: revisionState(sts, pod),
        phase: pod.deleting ? 'Terminating' : pod.phase,
        ready: pod.ready,
        deleting: pod.deleting,
      };
    }),
  };
}
