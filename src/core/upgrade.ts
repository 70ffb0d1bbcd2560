// The upgrade record kept on the StatefulSet, the batch plan and the steps of the walk. Pure: every
// step takes a record and returns the next one; the commands write it before acting on it, so a
// crash anywhere leaves a record from which the same command resumes.
import { summaryLine, type EvidenceSummary } from './evidence.js';
import { RS_WEIGHT_ANNOTATION, priorWeight, sameKey, withoutZerosOf, type PortKey, type PriorWeight, type WeightChange } from './rs-weight.js';
import { fromRanges, toRanges } from './ranges.js';
import { SURGE_SOAK, type SoakState } from './soak.js';
import { onRevision, type ContainerImage, type PodSnapshot, type ServiceSnapshot, type StatefulSetSnapshot } from './workload.js';

export const RECORD_ANNOTATION = 'zerolossupgrade.io/upgrade';
/**
 * 2: the plan in compact form, only the batch in flight in full (1: every batch in full, still read).
 * 3: as 2, with a soak (its state, the walk's default, the surge pods' pass): written only then, so
 * that a plugin that knows no soak refuses the record instead of walking past a failed one.
 */
export const RECORD_VERSION = 2;
export const SOAK_RECORD_VERSION = 3;
const versionOf = (r: UpgradeRecord) => (r.soak || r.soakMs || r.surgeSoaked ? SOAK_RECORD_VERSION : RECORD_VERSION);

/** pending -> drained -> confirmed -> deleting -> rebuilt -> done */
export type BatchPhase = 'pending' | 'drained' | 'confirmed' | 'deleting' | 'rebuilt' | 'done';
const ORDER: BatchPhase[] = ['pending', 'drained', 'confirmed', 'deleting', 'rebuilt', 'done'];

export interface Confirmation {
  by: string;
  at: string;
  /** What the operator confirmed, each separately. */
  weightZero: boolean;
  connectionsDrained: boolean;
  /** Seconds between the drain and the confirmation. */
  afterSeconds: number;
  /**
   * How it was given: a person at the prompt, --yes, --yes --require-evidence on the evidence alone,
   * or --force-after-timeout when the evidence never said drained. Absent in records of older runs.
   */
  how?: 'prompt' | 'yes' | 'evidence' | 'forced-after-timeout';
  /** The drain evidence at that moment, when it was on. */
  evidence?: EvidenceSummary;
}

export interface Batch {
  ordinals: number[];
  phase: BatchPhase;
  drainedAt?: string;
  confirmation?: Confirmation;
  /** The pods deleted for this batch, by uid: a pod recreated meanwhile is never deleted. */
  deleted?: { pod: string; uid: string }[];
  rebuiltAt?: string;
  doneAt?: string;
  /** Weights read right before the drain, restored afterwards: see Priors. */
  prior?: Priors;
}

/**
 * "service PROTO/port" -> the weight each drained ordinal had right before the walk drained it, in
 * the order of those ordinals (null: left to defaultWeight). What is given back is what was taken.
 */
export type Priors = Record<string, (number | null)[]>;

export interface ServicePortRecord extends PortKey {
  /** For a port first seen mid-walk: lb-rs-weight when it was seen (its "before"). Absent: the Service's original. */
  baseline?: string | null;
}

export interface ServiceRecord {
  name: string;
  ports: ServicePortRecord[];
  /** lb-rs-weight when the walk first saw the Service; null when it had none. */
  original: string | null;
}

export interface UpgradeRecord {
  version: number;
  statefulSet: string;
  startedAt: string;
  startedBy: string;
  originalReplicas: number;
  ordinalsStart: number;
  surge: number;
  batchSize: number;
  originalRevision: string;
  targetRevision?: string;
  originalImages: ContainerImage[];
  targetImages: ContainerImage[];
  services: ServiceRecord[];
  /** The Services named with --service at start; absent: every selecting direct-access Service. */
  servicesNamed?: string[];
  batches: Batch[];
  finish?: { phase: 'drained' | 'confirmed' | 'scaled'; drainedAt: string; confirmation?: Confirmation; prior?: Priors };
  /**
   * The surge pods' priors of a finish that a rollback stopped: their weights are still to be given
   * back (the next command of the walk does it first), then this goes.
   */
  surgePrior?: Priors;
  /** Set when the upgrade was turned back: the walk now returns pods to the original template. */
  rollback?: { at: string; by: string; from: ContainerImage[]; trigger?: 'soak' };
  /** The soak of a batch just restored, under way or failed: the walk goes on only once it passed. */
  soak?: SoakState;
  /** How long each batch soaks after its restore unless `next --soak` says otherwise (start --soak). */
  soakMs?: number;
  /** The surge pods passed their soak (or a person went on): the first batch may be drained. */
  surgeSoaked?: boolean;
  /** Set when this upgrade walks a finished one back: the history number of that upgrade, when the history knows it. */
  undo?: { upgrade?: number };
}

export class RecordError extends Error {}

export function planBatches(ordinalsStart: number, replicas: number, batchSize: number): Batch[] {
  const batches: Batch[] = [];
  for (let i = 0; i < replicas; i += batchSize) {
    batches.push({ ordinals: Array.from({ length: Math.min(batchSize, replicas - i) }, (_, k) => ordinalsStart + i + k), phase: 'pending' });
  }
  return batches;
}

export function surgeOrdinals(r: Pick<UpgradeRecord, 'ordinalsStart' | 'originalReplicas' | 'surge'>): number[] {
  return Array.from({ length: r.surge }, (_, i) => r.ordinalsStart + r.originalReplicas + i);
}

/** The pods a soak proves: its batch's, or the surge pods'. */
export function soakOrdinals(r: UpgradeRecord, s: SoakState): number[] {
  return s.batch === SURGE_SOAK ? surgeOrdinals(r) : (r.batches[s.batch]?.ordinals ?? []);
}

/** What a soak is of, in words: "gw-0, gw-1" for a batch, "the surge pods gw-3" for the surge. */
export function soakSubject(r: UpgradeRecord, s: SoakState): string {
  const names = soakOrdinals(r, s).map((o) => `${r.statefulSet}-${o}`).join(', ');
  return s.batch === SURGE_SOAK ? `the surge pods ${names}` : names;
}

/**
 * Before the first batch is drained, the surge pods (new release, already serving) soak first:
 * when a soak is set, there are surge pods, nothing is walked yet and they have not soaked.
 */
export function surgeSoakDue(r: UpgradeRecord, soakMs: number): boolean {
  return soakMs > 0 && r.surge > 0 && !r.surgeSoaked && !r.soak && !r.rollback && !r.finish && r.batches.length > 0 && r.batches.every((b) => b.phase === 'pending');
}

/** Ordinals at weight 0 right now: batches between drain and restore, and surge pods being retired. */
export function drainedOrdinals(r: UpgradeRecord): number[] {
  const fromBatches = r.batches.filter((b) => b.phase !== 'pending' && b.phase !== 'done').flatMap((b) => b.ordinals);
  const fromFinish = r.finish ? surgeOrdinals(r) : [];
  return [...fromBatches, ...fromFinish].sort((a, b) => a - b);
}

/**
 * The change one write makes to a Service's live lb-rs-weight in this state of the record: the
 * drained ordinals at 0, `restoring` given back their weights from before.
 */
const priorKey = (service: string, p: PortKey) => `${service} ${p.proto.toUpperCase()}/${p.port}`;

/** The weights the live Services give `ordinals` now, per port: recorded before they are drained. */
export function capturePriors(r: UpgradeRecord, live: ServiceSnapshot[], ordinals: number[]): Priors {
  const out: Priors = {};
  for (const svc of r.services) {
    const annotation = live.find((s) => s.name === svc.name)?.annotations[RS_WEIGHT_ANNOTATION];
    for (const p of svc.ports) {
      out[priorKey(svc.name, p)] = ordinals.map((o) => {
        const w = priorWeight(annotation, r.statefulSet, p, o);
        return w === 'default' ? null : w.explicit;
      });
    }
  }
  return out;
}

/** The recorded priors of one Service, by "PROTO/port" then ordinal, from every drain in flight. */
function priorsOf(r: UpgradeRecord, service: string): Record<string, Record<number, PriorWeight>> {
  const out: Record<string, Record<number, PriorWeight>> = {};
  const drains = [...r.batches.map((b) => [b.ordinals, b.prior] as const), [surgeOrdinals(r), r.finish?.prior ?? r.surgePrior] as const];
  for (const [ordinals, prior] of drains) {
    for (const [key, weights] of Object.entries(prior ?? {})) {
      if (!key.startsWith(`${service} `)) continue;
      const port = key.slice(service.length + 1);
      ordinals.forEach((o, i) => {
        const w = weights[i];
        if (w !== undefined) (out[port] ??= {})[o] = w === null ? 'default' : { explicit: w };
      });
    }
  }
  return out;
}

export function weightChange(r: UpgradeRecord, service: ServiceRecord, restoring: number[] = []): WeightChange {
  const nullable = (v: string | null | undefined) => (v === null ? undefined : v);
  return {
    statefulSet: r.statefulSet,
    priors: priorsOf(r, service.name),
    ports: service.ports.map((p) => ({ key: { proto: p.proto, port: p.port }, baseline: nullable(p.baseline === undefined ? service.original : p.baseline) })),
    drain: drainedOrdinals(r).filter((o) => !restoring.includes(o)),
    restore: restoring,
    original: nullable(service.original),
  };
}

const portKeys = (s: Pick<ServiceSnapshot, 'ports'>): PortKey[] => {
  const keys: PortKey[] = [];
  for (const p of s.ports) if (!keys.some((k) => sameKey(k, { proto: p.protocol, port: p.port }))) keys.push({ proto: p.protocol.toUpperCase(), port: p.port });
  return keys;
};

/** What changed between the Services the record knows and those selecting the pods now. */
export interface ServiceDiff {
  record: UpgradeRecord;
  added: string[];
  removed: string[];
  /** "service TCP/443" for ports added to a Service already known. */
  newPorts: string[];
}

/**
 * The record brought up to date with the direct-access Services that select the pods now, and
 * their ports now. A Service or port seen for the first time gets its value at this moment as its
 * "before"; one that is gone is dropped.
 */
export function reconcileServices(r: UpgradeRecord, live: ServiceSnapshot[], value: (s: ServiceSnapshot) => string | undefined): ServiceDiff {
  // A Service or port that joins while ordinals are drained may carry those zeros already (a copy of
  // a drained Service): they are the walk's, not its "before".
  const drained = drainedOrdinals(r);
  const annotation = (s: ServiceSnapshot) => {
    const text = value(s);
    return text === undefined || drained.length === 0 ? text : withoutZerosOf(text, r.statefulSet, drained);
  };
  const added: string[] = [];
  const newPorts: string[] = [];
  const services = live.map((s): ServiceRecord => {
    const known = r.services.find((k) => k.name === s.name);
    if (!known) {
      added.push(s.name);
      return { name: s.name, ports: portKeys(s), original: annotation(s) ?? null };
    }
    const ports = portKeys(s).map((key): ServicePortRecord => {
      const had = known.ports.find((p) => sameKey(p, key));
      if (had) return had;
      newPorts.push(`${s.name} ${key.proto}/${key.port}`);
      return { ...key, baseline: annotation(s) ?? null };
    });
    return { ...known, ports };
  });
  const removed = r.services.filter((k) => !live.some((s) => s.name === k.name)).map((k) => k.name);
  const same = added.length === 0 && removed.length === 0 && services.every((s) => JSON.stringify(s) === JSON.stringify(r.services.find((k) => k.name === s.name)));
  return { record: same ? r : { ...r, services }, added, removed, newPorts };
}

/** Pods that should be serving now: every ordinal of the walk but `except` (surge pods until they are scaled away). */
export function servingOrdinals(r: UpgradeRecord, except: number[]): number[] {
  const originals = Array.from({ length: r.originalReplicas }, (_, i) => r.ordinalsStart + i);
  const surge = r.finish?.phase === 'scaled' ? [] : surgeOrdinals(r);
  return [...originals, ...surge].filter((o) => !except.includes(o));
}

/** Replicas the StatefulSet should have in this state of the walk. */
export function expectedReplicas(r: UpgradeRecord): number {
  return r.finish?.phase === 'scaled' ? r.originalReplicas : r.originalReplicas + r.surge;
}

/**
 * What someone else changed on the StatefulSet since the walk began, in words that say what to do;
 * undefined when nothing. Checked before every change of `next` and `finish`.
 */
export function driftOf(r: UpgradeRecord, sts: StatefulSetSnapshot, check: { strategy: boolean; revision: boolean } = { strategy: true, revision: true }): string | undefined {
  const name = r.statefulSet;
  if (sts.ordinalsStart !== r.ordinalsStart) {
    return `statefulset "${name}" now starts its ordinals at ${sts.ordinalsStart}, not ${r.ordinalsStart} (spec.ordinals.start changed): its controller now keeps other pods than the walk drains. Set it back to ${r.ordinalsStart}, then run the same command again`;
  }
  if (check.strategy && sts.updateStrategy !== 'OnDelete') {
    return `statefulset "${name}" now has updateStrategy ${sts.updateStrategy}: its controller replaces pods itself, undrained. Set it back to OnDelete (kubectl patch statefulset ${name} -p '{"spec":{"updateStrategy":{"type":"OnDelete"}}}'), then run the same command again`;
  }
  if (sts.replicas !== expectedReplicas(r)) {
    return `statefulset "${name}" has ${sts.replicas} replicas, but the walk expects ${expectedReplicas(r)} (someone or an autoscaler changed spec.replicas). Set it back with kubectl scale statefulset ${name} --replicas ${expectedReplicas(r)} (pause the autoscaler), then run the same command again`;
  }
  if (check.revision && r.targetRevision && sts.updateRevision && sts.updateRevision !== r.targetRevision) {
    return `the template of statefulset "${name}" changed during the walk: revision ${sts.updateRevision}, not ${r.targetRevision} (a rollout restart, helm or a GitOps re-apply). Nothing more is done on it; go back with kubectl zerolossupgrade rollback ${name}, or stop with kubectl zerolossupgrade abort ${name}`;
  }
  return undefined;
}

/** A batch whose drain was lost goes back to drained: drained again now, confirmed again. */
export function redrain(r: UpgradeRecord, index: number, at: string): UpgradeRecord {
  return { ...r, batches: r.batches.map((b, i) => (i === index ? { ordinals: b.ordinals, phase: 'drained' as const, drainedAt: at, ...(b.prior ? { prior: b.prior } : {}) } : b)) };
}

export function currentBatchIndex(r: UpgradeRecord): number {
  return r.batches.findIndex((b) => b.phase !== 'done');
}

export function advance(r: UpgradeRecord, index: number, to: BatchPhase, fields: Partial<Batch> = {}): UpgradeRecord {
  const batch = r.batches[index];
  if (!batch) throw new RecordError(`no batch ${index + 1}`);
  if (ORDER.indexOf(to) !== ORDER.indexOf(batch.phase) + 1) {
    throw new RecordError(`batch ${index + 1} is ${batch.phase}; it cannot become ${to}`);
  }
  const batches = r.batches.map((b, i) => (i === index ? { ...b, ...fields, phase: to } : b));
  return { ...r, batches };
}

/**
 * The record as the annotation carries it. Its size does not grow with the replicas or the batches
 * walked: the plan is ranges of ordinals, the batches walked a count (what happened to each is in
 * the history ConfigMap), and only the batch in flight is written in full.
 */
interface WireRecord extends Omit<UpgradeRecord, 'batches'> {
  plan: { ordinals: string; first?: number };
  done: number;
  current?: Omit<Batch, 'ordinals'>;
}

export function encodeRecord(r: UpgradeRecord): string {
  const { batches, ...header } = r;
  const done = batches.findIndex((b) => b.phase !== 'done');
  const doneCount = done < 0 ? batches.length : done;
  const inFlight = batches[doneCount];
  const current = inFlight && inFlight.phase !== 'pending' ? (({ ordinals: _, ...rest }) => rest)(inFlight) : undefined;
  const first = batches[0] && batches[0].ordinals.length !== r.batchSize ? batches[0].ordinals.length : undefined;
  const wire: WireRecord = { ...header, version: versionOf(r), plan: { ordinals: toRanges(allOrdinals(batches)), ...(first === undefined ? {} : { first }) }, done: doneCount, ...(current ? { current } : {}) };
  // What is not written must follow from what is: the batch sizes, and nothing past the batch in flight walked.
  const sizeOk = (b: Batch, i: number) => (i === 0 ? true : i === batches.length - 1 ? b.ordinals.length <= r.batchSize : b.ordinals.length === r.batchSize);
  if (!batches.every((b, i) => b.ordinals.length > 0 && sizeOk(b, i) && (i <= doneCount || b.phase === 'pending')) || (first !== undefined && batches.length > 1 && first > r.batchSize && batches[1]!.ordinals.length !== r.batchSize)) {
    throw new RecordError('the batches are not a plan the record can carry (a bug: please report it)');
  }
  return JSON.stringify(wire);
}

function allOrdinals(batches: Batch[]): number[] {
  const out: number[] = [];
  for (const b of batches) for (const o of b.ordinals) out.push(o);
  return out;
}

function batchesOf(w: WireRecord): Batch[] | undefined {
  const ordinals = typeof w.plan?.ordinals === 'string' ? fromRanges(w.plan.ordinals) : undefined;
  if (!ordinals || !Number.isInteger(w.done) || !Number.isInteger(w.batchSize) || w.batchSize < 1) return undefined;
  const batches: Batch[] = [];
  for (let i = 0; i < ordinals.length; ) {
    const size = batches.length === 0 && w.plan.first ? w.plan.first : w.batchSize;
    batches.push({ ordinals: ordinals.slice(i, i + size), phase: batches.length < w.done ? 'done' : 'pending' });
    i += size;
  }
  if (w.done > batches.length || (w.current && w.done >= batches.length)) return undefined;
  if (w.current) batches[w.done] = { ordinals: batches[w.done]!.ordinals, ...w.current };
  return batches;
}

export function decodeRecord(text: string): UpgradeRecord {
  let parsed: UpgradeRecord | WireRecord;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RecordError(`the upgrade record (annotation ${RECORD_ANNOTATION}) is not valid JSON`);
  }
  const version = (parsed as { version?: unknown })?.version;
  if (version !== RECORD_VERSION && version !== SOAK_RECORD_VERSION && version !== 1) {
    throw new RecordError(`the upgrade record has version ${String(version)}; this plugin reads versions 1 to ${SOAK_RECORD_VERSION}: use the plugin version that started the upgrade`);
  }
  let r: UpgradeRecord;
  if (version === 1) {
    // Version 1 kept every batch in full: read as is, written back as version 2 at the next save.
    r = { ...(parsed as UpgradeRecord), version: RECORD_VERSION };
  } else {
    const { plan: _, done: __, current: ___, ...header } = parsed as WireRecord;
    const batches = typeof parsed === 'object' && 'plan' in parsed ? batchesOf(parsed) : undefined;
    if (!batches) throw new RecordError('the upgrade record is incomplete');
    // In memory the version says only the format family; the one written follows from the content.
    r = { ...header, version: RECORD_VERSION, batches };
  }
  if (!Array.isArray(r.batches) || !Array.isArray(r.services) || typeof r.statefulSet !== 'string' || typeof r.originalRevision !== 'string') {
    throw new RecordError('the upgrade record is incomplete');
  }
  return r;
}

/** Ordinals of the original replicas not yet upgraded. */
export function pendingOrdinals(r: UpgradeRecord): number[] {
  return r.batches.filter((b) => b.phase !== 'done').flatMap((b) => b.ordinals);
}

/**
 * The record of a rollback: the walk turns around, back to the recorded original revision. Every
 * original ordinal whose pod is not on that revision walks back (intermediate revisions too, e.g.
 * after a template change mid-walk); a batch caught mid-walk stays drained and is confirmed again
 * (its pods may have come back on either template). Surge pods leave at finish.
 */
export function rollbackRecord(r: UpgradeRecord, pods: PodSnapshot[], at: string, by: string): UpgradeRecord {
  const inFlight = r.batches.find((b) => b.phase !== 'pending' && b.phase !== 'done');
  const originals = Array.from({ length: r.originalReplicas }, (_, i) => r.ordinalsStart + i);
  const back = originals.filter((o) => !inFlight?.ordinals.includes(o) && !onRevision(pods.find((p) => p.ordinal === o), r.originalRevision));
  const batches: Batch[] = inFlight ? [{ ordinals: inFlight.ordinals, phase: 'drained', drainedAt: inFlight.drainedAt, ...(inFlight.prior ? { prior: inFlight.prior } : {}) }] : [];
  for (let i = 0; i < back.length; i += r.batchSize) batches.push({ ordinals: back.slice(i, i + r.batchSize), phase: 'pending' });
  return {
    ...r,
    originalRevision: r.targetRevision ?? r.originalRevision,
    targetRevision: r.originalRevision,
    originalImages: r.targetImages,
    targetImages: r.originalImages,
    batches,
    // A finish under way stops: its surge pods are to get their weights back.
    finish: undefined,
    soak: undefined,
    ...(r.finish && r.finish.phase !== 'scaled' ? { surgePrior: r.finish.prior ?? {} } : {}),
    rollback: { at, by, from: r.targetImages },
  };
}

/** One line for the audit Event and `status`: who or what confirmed, when, and on which evidence. */
export function confirmationText(c: Confirmation): string {
  const how = c.how === 'evidence' ? ' on the drain evidence (--require-evidence)' : c.how === 'forced-after-timeout' ? ' FORCED after --drain-timeout' : c.how === 'yes' ? ' (--yes)' : '';
  const evidence = c.evidence ? `; evidence: ${summaryLine(c.evidence)}` : '';
  const what = c.connectionsDrained ? 'weight 0 and connections drained' : 'weight 0, connections NOT drained';
  return `${what}, confirmed by ${c.by}${how} ${c.afterSeconds}s after the drain${evidence}`;
}
