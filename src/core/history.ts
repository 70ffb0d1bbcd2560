// The history of a StatefulSet's upgrades: who started each, what it went from and to, how it
// ended, and per batch who confirmed the drain, how and on which evidence. It lives in a ConfigMap
// of its own, so it outlives `finish`, `abort` and the Events TTL; it is kept within a fixed size
// (the last HISTORY_KEEP upgrades, batches folded or left out beyond HISTORY_MAX_BYTES). Pure.
import { summaryLine, type EvidenceSummary } from './evidence.js';
import { joinRanges, toRanges } from './ranges.js';
import type { Confirmation, UpgradeRecord } from './upgrade.js';
import type { ContainerImage } from './workload.js';

export const HISTORY_KEEP = 10;
/** Well under a ConfigMap's 1 MiB, so the object stays cheap to read and watch. */
export const HISTORY_MAX_BYTES = 512 * 1024;
export const HISTORY_LABEL = 'zerolossupgrade.io/statefulset';
export const historyConfigMapName = (statefulSet: string) => `zerolossupgrade-history-${statefulSet}`;
/** One ConfigMap key per upgrade: `kubectl get configmap -o yaml` reads as a list. */
const KEY_PREFIX = 'upgrade-';

export type Outcome = 'in progress' | 'finished' | 'aborted' | 'rolled back';

export interface HistoryConfirmation {
  by: string;
  at: string;
  how: NonNullable<Confirmation['how']>;
  afterSeconds: number;
  connectionsDrained: boolean;
  /** The drain evidence in one line, when it was on. */
  evidence?: string;
}

export interface HistoryBatch {
  /** 'back': walked back after a rollback. */
  walk: 'forward' | 'back';
  /** The batch's number in its walk, from 1; a folded group: its first. */
  number: number;
  ordinals: string;
  drainedAt?: string;
  confirmation?: HistoryConfirmation;
  rebuiltAt?: string;
  restoredAt?: string;
  /** Batches folded into this one line to keep the history bounded; each confirmed the same way, drained. */
  folded?: number;
}

export interface HistoryEntry {
  number: number;
  kind: 'upgrade' | 'undo';
  /** For an undo: the number of the upgrade it walked back. */
  undoOf?: number;
  statefulSet: string;
  startedAt: string;
  startedBy: string;
  fromRevision: string;
  toRevision?: string;
  fromImages: ContainerImage[];
  toImages: ContainerImage[];
  replicas: number;
  batchSize: number;
  surge: number;
  outcome: Outcome;
  endedAt?: string;
  endedBy?: string;
  rollback?: { at: string; by: string };
  batches: HistoryBatch[];
  /** The drain of the surge pods before the scale-down. */
  surgeDrain?: { ordinals: string; drainedAt?: string; confirmation?: HistoryConfirmation };
  /** The oldest batches left out when even folding could not keep the history within its size. */
  omittedBatches?: number;
}

export class HistoryError extends Error {}

export function evidenceLine(s: EvidenceSummary): string {
  const drained = s.verdicts.filter((v) => v.state === 'drained');
  const rules = `${s.zeroPoints} zero points of ${s.periodSeconds}s`;
  if (drained.length === s.verdicts.length) return `${drained.length} of ${s.verdicts.length} pods drained (${rules})`;
  const others = summaryLine({ ...s, verdicts: s.verdicts.filter((v) => v.state !== 'drained') });
  return `${drained.length} of ${s.verdicts.length} pods drained (${rules}); ${others}`;
}

export function historyConfirmation(c: Confirmation): HistoryConfirmation {
  return {
    by: c.by,
    at: c.at,
    how: c.how ?? 'prompt',
    afterSeconds: c.afterSeconds,
    connectionsDrained: c.connectionsDrained,
    ...(c.evidence ? { evidence: evidenceLine(c.evidence) } : {}),
  };
}

/** The upgrade's entry, found by the start it records; undefined when the history lacks it. */
export function entryOf(entries: HistoryEntry[], r: Pick<UpgradeRecord, 'statefulSet' | 'startedAt'>): HistoryEntry | undefined {
  return entries.find((e) => e.statefulSet === r.statefulSet && e.startedAt === r.startedAt);
}

/** A new entry from the record; a rolled-back record's from and to are turned back around. */
export function newEntry(entries: HistoryEntry[], r: UpgradeRecord): HistoryEntry {
  const back = Boolean(r.rollback);
  return {
    number: Math.max(0, ...entries.map((e) => e.number)) + 1,
    kind: r.undo ? 'undo' : 'upgrade',
    ...(r.undo ? { undoOf: r.undo.upgrade } : {}),
    statefulSet: r.statefulSet,
    startedAt: r.startedAt,
    startedBy: r.startedBy,
    fromRevision: back ? (r.targetRevision ?? r.originalRevision) : r.originalRevision,
    ...((back ? r.originalRevision : r.targetRevision) ? { toRevision: back ? r.originalRevision : r.targetRevision } : {}),
    fromImages: back ? r.targetImages : r.originalImages,
    toImages: back ? (r.rollback!.from) : r.targetImages,
    replicas: r.originalReplicas,
    batchSize: r.batchSize,
    surge: r.surge,
    outcome: 'in progress',
    ...(r.rollback ? { rollback: { at: r.rollback.at, by: r.rollback.by } } : {}),
    batches: [],
  };
}

/** The history with the upgrade's entry changed by `change` (created first when missing), kept within its bounds. */
export function withEntry(entries: HistoryEntry[], r: UpgradeRecord, change: (e: HistoryEntry) => HistoryEntry): HistoryEntry[] {
  const found = entryOf(entries, r);
  const entry = change(found ?? newEntry(entries, r));
  const others = entries.filter((e) => e !== found);
  return fitHistory([...others, entry].sort((a, b) => a.number - b.number), entry.number);
}

/** The entry with this batch (by its walk and number) added or updated. */
export function withBatch(e: HistoryEntry, r: UpgradeRecord, index: number, fields: Omit<HistoryBatch, 'walk' | 'number' | 'ordinals'>): HistoryEntry {
  const walk = r.rollback ? 'back' : 'forward';
  const number = index + 1;
  const at = e.batches.findIndex((b) => b.walk === walk && b.number === number && !b.folded);
  const batch: HistoryBatch = { ...(at >= 0 ? e.batches[at] : {}), walk, number, ordinals: toRanges(r.batches[index]!.ordinals), ...fields };
  const batches = at >= 0 ? e.batches.map((b, i) => (i === at ? batch : b)) : [...e.batches, batch];
  return { ...e, ...(e.toRevision || r.rollback || !r.targetRevision ? {} : { toRevision: r.targetRevision }), batches };
}

const size = (entries: HistoryEntry[]) => entries.reduce((n, e) => n + JSON.stringify(e).length + KEY_PREFIX.length + 8, 0);

/** Two neighbouring batches say the same thing: confirmed by one person the same way, drained, both walked through. */
function foldable(a: HistoryBatch, b: HistoryBatch): boolean {
  const clean = (x: HistoryBatch) => x.confirmation !== undefined && x.confirmation.connectionsDrained && x.confirmation.how !== 'forced-after-timeout' && x.restoredAt !== undefined;
  return a.walk === b.walk && clean(a) && clean(b) && a.confirmation!.by === b.confirmation!.by && a.confirmation!.how === b.confirmation!.how;
}

function fold(a: HistoryBatch, b: HistoryBatch): HistoryBatch {
  const evidence = a.confirmation!.evidence === b.confirmation!.evidence ? a.confirmation!.evidence : a.confirmation!.evidence && 'every pod drained on the evidence';
  return {
    walk: a.walk,
    number: a.number,
    ordinals: joinRanges(a.ordinals, b.ordinals),
    ...(a.drainedAt ? { drainedAt: a.drainedAt } : {}),
    confirmation: { ...a.confirmation!, afterSeconds: Math.max(a.confirmation!.afterSeconds, b.confirmation!.afterSeconds), ...(evidence ? { evidence } : {}) },
    ...(b.rebuiltAt ? { rebuiltAt: b.rebuiltAt } : {}),
    restoredAt: b.restoredAt!,
    folded: (a.folded ?? 1) + (b.folded ?? 1),
  };
}

/**
 * The history within its bounds: the last HISTORY_KEEP upgrades; past HISTORY_MAX_BYTES the oldest
 * other upgrades go first, then the `current` upgrade's oldest batches that say the same thing are
 * folded (never a forced or undrained confirmation), and last its oldest batches are left out, counted.
 */
export function fitHistory(entries: HistoryEntry[], current: number, maxBytes = HISTORY_MAX_BYTES): HistoryEntry[] {
  const entry = entries.find((e) => e.number === current)!;
  let others = entries.filter((e) => e !== entry).slice(-(HISTORY_KEEP - 1));
  while (others.length > 0 && size([...others, entry]) > maxBytes) others = others.slice(1);
  const len = (b: HistoryBatch) => JSON.stringify(b).length + 1;
  let bytes = size([...others, entry]);
  // Oldest first, one pass: fold while over the bound, keep the rest as they are.
  const batches: HistoryBatch[] = [];
  for (const b of entry.batches) {
    const last = batches[batches.length - 1];
    if (bytes > maxBytes && last && foldable(last, b)) {
      const merged = fold(last, b);
      bytes += len(merged) - len(last) - len(b);
      batches[batches.length - 1] = merged;
    } else batches.push(b);
  }
  let omitted = 0;
  while (bytes > maxBytes && omitted < batches.length) bytes -= len(batches[omitted++]!);
  const fitted: HistoryEntry = omitted > 0 ? { ...entry, batches: batches.slice(omitted), omittedBatches: (entry.omittedBatches ?? 0) + omitted } : { ...entry, batches };
  return [...others, fitted].sort((x, y) => x.number - y.number);
}

/** The ConfigMap's data for these entries; keys that are not upgrades (someone's note) stay as they are. */
export function encodeHistory(entries: HistoryEntry[], live: Record<string, string> = {}): Record<string, string> {
  const others = Object.entries(live).filter(([k]) => !k.startsWith(KEY_PREFIX));
  return Object.fromEntries([...others, ...entries.map((e) => [`${KEY_PREFIX}${e.number}`, JSON.stringify(e)] as const)]);
}

/** The entries of a history ConfigMap's data, oldest first; a key that does not parse is named. */
export function decodeHistory(data: Record<string, string> | undefined): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const [key, text] of Object.entries(data ?? {})) {
    if (!key.startsWith(KEY_PREFIX)) continue;
    let e: HistoryEntry;
    try {
      e = JSON.parse(text);
    } catch {
      throw new HistoryError(`the history entry ${key} is not valid JSON`);
    }
    if (typeof e?.number !== 'number' || typeof e.startedAt !== 'string' || !Array.isArray(e.batches)) throw new HistoryError(`the history entry ${key} is incomplete`);
    entries.push(e);
  }
  return entries.sort((a, b) => a.number - b.number);
}
