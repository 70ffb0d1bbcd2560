import { RS_WEIGHT_ANNOTATION, weightOf } from './rs-weight.js';
import { SURGE_SOAK } from './soak.js';
import { surgeOrdinals, type Confirmation, type UpgradeRecord } from './upgrade.js';
import { ordinalsOf, revisionState, type ServiceSnapshot, type ContainerImage, type PodSnapshot, type RevisionState, type StatefulSetSnapshot } from './workload.js';

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
  /** During an upgrade: the weight each Service port gives this ordinal by the annotation, e.g. {"gw TCP/80": 0}. */
  weights?: Record<string, number>;
  /** During an upgrade: surge, upgraded, soaking (restored, watched before the next batch), draining (between drain and restore) or pending. */
  step?: 'surge' | 'upgraded' | 'soaking' | 'draining' | 'pending';
}

export type UpgradePhase = 'walking' | 'finishing';

export interface UpgradeView {
  phase: UpgradePhase;
  startedAt: string;
  startedBy: string;
  upgraded: number;
  total: number;
  batch: { index: number; of: number; phase: string } | null;
  targetImages: ContainerImage[];
  /** The batch in flight's and the surge pods' confirmations; every earlier one is in `history`. */
  confirmations: (Confirmation & { what: string })[];
  /** An undo of a finished upgrade: that upgrade's number in the history (null when not known). */
  undoOf?: number | null;
  /** The soak of a restored batch, under way or failed: the walk goes on only once it passed. */
  soak?: { subject: string; startedAt: string; endsAt: string; failed?: { at: string; reason: string } };
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
  upgrade: UpgradeView | null;
}

function upgradeView(record: UpgradeRecord): UpgradeView {
  const current = record.batches.findIndex((b) => b.phase !== 'done');
  return {
    phase: record.finish ? 'finishing' : 'walking',
    startedAt: record.startedAt,
    startedBy: record.startedBy,
    upgraded: record.batches.filter((b) => b.phase === 'done').reduce((n, b) => n + b.ordinals.length, 0),
    total: record.originalReplicas,
    batch: current < 0 ? null : { index: current + 1, of: record.batches.length, phase: record.batches[current]!.phase },
    targetImages: record.targetImages,
    ...(record.undo ? { undoOf: record.undo.upgrade ?? null } : {}),
    ...(record.soak
      ? { soak: { subject: record.soak.batch === SURGE_SOAK ? 'the surge pods' : `batch ${record.soak.batch + 1}`, startedAt: record.soak.startedAt, endsAt: new Date(Date.parse(record.soak.startedAt) + record.soak.ms).toISOString(), ...(record.soak.failed ? { failed: record.soak.failed } : {}) } }
      : {}),
    confirmations: [
      ...record.batches.flatMap((b) => (b.confirmation ? [{ ...b.confirmation, what: `ordinals ${b.ordinals.join(', ')}` }] : [])),
      ...(record.finish?.confirmation ? [{ ...record.finish.confirmation, what: 'surge pods' }] : []),
    ],
  };
}

function stepOf(record: UpgradeRecord, ordinal: number): PodRow['step'] {
  if (surgeOrdinals(record).includes(ordinal)) return record.finish ? 'draining' : record.soak?.batch === SURGE_SOAK ? 'soaking' : 'surge';
  const batch = record.batches.find((b) => b.ordinals.includes(ordinal));
  if (!batch || batch.phase === 'pending') return 'pending';
  if (batch.phase === 'done') return record.soak && record.batches[record.soak.batch] === batch ? 'soaking' : 'upgraded';
  return 'draining';
}

/**
 * The status of a StatefulSet: one row per owned ordinal plus any pod beyond them; during an
 * upgrade also each pod's place in the walk and the weight the Service annotations give it now.
 */
export function toStatusView(sts: StatefulSetSnapshot, pods: PodSnapshot[], record?: UpgradeRecord, services: ServiceSnapshot[] = []): StatusView {
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
    upgrade: record ? upgradeView(record) : null,
    pods: ordinals.map((ordinal) => ({ ...podRow(sts, ordinal, byOrdinal.get(ordinal), record), ...(record ? upgradeColumns(record, services, ordinal) : {}) })),
  };
}

function upgradeColumns(record: UpgradeRecord, services: ServiceSnapshot[], ordinal: number): Pick<PodRow, 'weights' | 'step'> {
  const weights: Record<string, number> = {};
  for (const svc of record.services) {
    const current = services.find((s) => s.name === svc.name)?.annotations[RS_WEIGHT_ANNOTATION];
    for (const port of svc.ports) weights[`${svc.name} ${port.proto}/${port.port}`] = weightOf(current, record.statefulSet, port, ordinal);
  }
  return { weights, step: stepOf(record, ordinal) };
}

function podRow(sts: StatefulSetSnapshot, ordinal: number, pod: PodSnapshot | undefined, record?: UpgradeRecord): PodRow {
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
    // During an upgrade, old and new are the record's revisions (status.currentRevision does not move under OnDelete).
    revisionState: revisionState(record ? { currentRevision: record.originalRevision, updateRevision: record.targetRevision } : sts, pod),
    phase: pod.deleting ? 'Terminating' : pod.phase,
    ready: pod.ready,
    deleting: pod.deleting,
  };
}
