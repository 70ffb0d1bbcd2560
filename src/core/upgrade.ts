// The upgrade record kept on the StatefulSet, the batch plan and the steps of the walk. Pure: every
// step takes a record and returns the next one; the commands write it before acting on it, so a
// crash anywhere leaves a record from which the same command resumes.
import { summaryLine, type EvidenceSummary } from './evidence.js';
import { annotationFor, type PortKey } from './rs-weight.js';
import type { ContainerImage } from './workload.js';

export const RECORD_ANNOTATION = 'zerolossupgrade.io/upgrade';
export const RECORD_VERSION = 1;

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
}

export interface ServiceRecord {
  name: string;
  ports: PortKey[];
  /** lb-rs-weight before the upgrade; null when the Service had none. */
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
  batches: Batch[];
  finish?: { phase: 'drained' | 'confirmed' | 'scaled'; drainedAt: string; confirmation?: Confirmation };
  /** Set when the upgrade was turned back: the walk now returns pods to the original template. */
  rollback?: { at: string; by: string; from: ContainerImage[] };
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

/** Ordinals at weight 0 right now: batches between drain and restore, and surge pods being retired. */
export function drainedOrdinals(r: UpgradeRecord): number[] {
  const fromBatches = r.batches.filter((b) => b.phase !== 'pending' && b.phase !== 'done').flatMap((b) => b.ordinals);
  const fromFinish = r.finish ? surgeOrdinals(r) : [];
  return [...fromBatches, ...fromFinish].sort((a, b) => a - b);
}

/** The lb-rs-weight value a Service must carry in this state of the record (undefined: none). */
export function serviceAnnotation(r: UpgradeRecord, service: ServiceRecord): string | undefined {
  return annotationFor(service.original ?? undefined, r.statefulSet, service.ports, drainedOrdinals(r));
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

export function encodeRecord(r: UpgradeRecord): string {
  return JSON.stringify(r);
}

export function decodeRecord(text: string): UpgradeRecord {
  let r: UpgradeRecord;
  try {
    r = JSON.parse(text);
  } catch {
    throw new RecordError(`the upgrade record (annotation ${RECORD_ANNOTATION}) is not valid JSON`);
  }
  if (r?.version !== RECORD_VERSION) {
    throw new RecordError(`the upgrade record has version ${String(r?.version)}; this plugin reads version ${RECORD_VERSION}: use the plugin version that started the upgrade`);
  }
  if (!Array.isArray(r.batches) || !Array.isArray(r.services) || typeof r.statefulSet !== 'string') {
    throw new RecordError('the upgrade record is incomplete');
  }
  return r;
}

/** Ordinals of the original replicas not yet upgraded. */
export function pendingOrdinals(r: UpgradeRecord): number[] {
  return r.batches.filter((b) => b.phase !== 'done').flatMap((b) => b.ordinals);
}

/**
 * The record of a rollback: the walk turns around. Targets become the originals; the ordinals
 * already on the new revision are walked back in batches; a batch caught mid-walk stays drained and
 * is confirmed again (its pods may have come back on either template). Surge pods leave at finish.
 */
export function rollbackRecord(r: UpgradeRecord, onNewRevision: number[], at: string, by: string): UpgradeRecord {
  const inFlight = r.batches.find((b) => b.phase !== 'pending' && b.phase !== 'done');
  const surge = surgeOrdinals(r);
  const back = onNewRevision.filter((o) => !surge.includes(o) && !inFlight?.ordinals.includes(o)).sort((a, b) => a - b);
  const batches: Batch[] = inFlight ? [{ ordinals: inFlight.ordinals, phase: 'drained', drainedAt: inFlight.drainedAt }] : [];
  for (let i = 0; i < back.length; i += r.batchSize) batches.push({ ordinals: back.slice(i, i + r.batchSize), phase: 'pending' });
  return {
    ...r,
    originalRevision: r.targetRevision ?? r.originalRevision,
    targetRevision: r.originalRevision,
    originalImages: r.targetImages,
    targetImages: r.originalImages,
    batches,
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
