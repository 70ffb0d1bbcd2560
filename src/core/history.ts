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
  /**
   * Earlier confirmations of this batch, oldest first: the drain was undone after them (a GitOps
   * revert) and confirmed again. Pods of the batch may have left under one of them.
   */
  superseded?: HistoryConfirmation[];
  /** The soak after the restore: how it ended, how long it ran, its last readings, and who decided when a person did. */
  soak?: HistorySoak;
}

export interface HistorySoak {
  /** passed; failed or unknown (the gate held); overridden: failed or unknown, and a person went on anyway; cut short: a person went on before its end. */
  outcome: 'passed' | 'failed' | 'unknown' | 'overridden' | 'cut short';
  seconds: number;
  at: string;
  by?: string;
  /** Each signal's last reading, or the failing one first. */
  readings: string[];
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
  rollback?: { at: string; by: string; trigger?: 'soak' };
  /** The surge pods' soak before the first batch was drained. */
  surgeSoak?: HistorySoak;
  batches: HistoryBatch[];
  /** The drain of the surge pods before the scale-down. */
  surgeDrain?: { ordinals: string; drainedAt?: string; confirmation?: HistoryConfirmation };
  /** The oldest batches left out when even folding could not keep the history within its size. */
  omittedBatches?: number;
}

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
export function newEntry(entries: HistoryEntry[], r: UpgradeRecord, taken: number[] = []): HistoryEntry {
  const back = Boolean(r.rollback);
  return {
    number: Math.max(0, ...entries.map((e) => e.number), ...taken) + 1,
    kind: r.undo ? 'undo' : 'upgrade',
    ...(r.undo?.upgrade !== undefined ? { undoOf: r.undo.upgrade } : {}),
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
    ...(r.rollback ? { rollback: { at: r.rollback.at, by: r.rollback.by, ...(r.rollback.trigger ? { trigger: r.rollback.trigger } : {}) } } : {}),
    batches: [],
  };
}

/** The history with the upgrade's entry changed by `change` (created first when missing), kept within its bounds. */
export function withEntry(entries: HistoryEntry[], r: UpgradeRecord, change: (e: HistoryEntry) => HistoryEntry, taken: number[] = []): HistoryEntry[] {
  const found = entryOf(entries, r);
  const entry = change(found ?? newEntry(entries, r, taken));
  const others = entries.filter((e) => e !== found);
  return fitHistory([...others, entry].sort((a, b) => a.number - b.number), entry.number);
}

/** The entry with this batch (by its walk and number) added or updated. */
export function withBatch(e: HistoryEntry, r: UpgradeRecord, index: number, fields: Omit<HistoryBatch, 'walk' | 'number' | 'ordinals'>): HistoryEntry {
  const walk = r.rollback ? 'back' : 'forward';
  const number = index + 1;
  const at = e.batches.findIndex((b) => b.walk === walk && b.number === number && !b.folded);
  // Folded already (the bound folded it in the write before a crash): its story is in that line.
  if (at < 0 && e.batches.some((b) => b.walk === walk && b.folded && number >= b.number && number < b.number + b.folded)) return e;
  const had = at >= 0 ? e.batches[at]! : undefined;
  // A new confirmation of a batch already confirmed keeps the earlier one (a rerun writing the same one does not).
  const earlier = had?.confirmation && fields.confirmation && JSON.stringify(had.confirmation) !== JSON.stringify(fields.confirmation) ? [...(had.superseded ?? []), had.confirmation] : had?.superseded;
  const batch: HistoryBatch = { ...had, walk, number, ordinals: toRanges(r.batches[index]!.ordinals), ...fields, ...(earlier ? { superseded: earlier } : {}) };
  const batches = at >= 0 ? e.batches.map((b, i) => (i === at ? batch : b)) : [...e.batches, batch];
  return { ...e, ...(e.toRevision || r.rollback || !r.targetRevision ? {} : { toRevision: r.targetRevision }), batches };
}

const size = (entries: HistoryEntry[]) => entries.reduce((n, e) => n + JSON.stringify(e).length + KEY_PREFIX.length + 8, 0);

/** Two neighbouring batches say the same thing: confirmed by one person the same way, drained, both walked through. */
/** What a folded line says when its batches' evidence lines differed but each found every pod drained. */
const FOLDED_EVIDENCE = 'every pod drained by the evidence';
/** Evidence that found every pod drained ("N of N pods drained ..."), or none at all. */
const evidenceDrained = (e?: string) => e === undefined || e === FOLDED_EVIDENCE || /^(\d+) of \1 pods drained/.test(e);

function foldable(a: HistoryBatch, b: HistoryBatch): boolean {
  const clean = (x: HistoryBatch) =>
    x.confirmation !== undefined && x.confirmation.connectionsDrained && x.confirmation.how !== 'forced-after-timeout' && evidenceDrained(x.confirmation.evidence) && !x.superseded && x.restoredAt !== undefined && (x.soak === undefined || x.soak.outcome === 'passed');
  return (a.soak === undefined) === (b.soak === undefined) && a.walk === b.walk && clean(a) && clean(b) && a.confirmation!.by === b.confirmation!.by && a.confirmation!.how === b.confirmation!.how && (a.confirmation!.evidence === undefined) === (b.confirmation!.evidence === undefined);
}

function fold(a: HistoryBatch, b: HistoryBatch): HistoryBatch {
  const evidence = a.confirmation!.evidence === b.confirmation!.evidence ? a.confirmation!.evidence : a.confirmation!.evidence && FOLDED_EVIDENCE;
  return {
    walk: a.walk,
    number: a.number,
    ordinals: joinRanges(a.ordinals, b.ordinals),
    ...(a.drainedAt ? { drainedAt: a.drainedAt } : {}),
    confirmation: { ...a.confirmation!, afterSeconds: Math.max(a.confirmation!.afterSeconds, b.confirmation!.afterSeconds), ...(evidence ? { evidence } : {}) },
    ...(b.rebuiltAt ? { rebuiltAt: b.rebuiltAt } : {}),
    restoredAt: b.restoredAt!,
    ...(b.soak ? { soak: b.soak } : {}),
    folded: (a.folded ?? 1) + (b.folded ?? 1),
  };
}

/**
 * The history within its bounds: the last HISTORY_KEEP upgrades; past HISTORY_MAX_BYTES the
 * `current` upgrade's oldest batches that say the same thing are folded first (never a forced or
 * undrained confirmation, nor one the evidence did not back), then older upgrades go, and last
 * the current one's oldest batches are left out, counted.
 */
export function fitHistory(entries: HistoryEntry[], current: number, maxBytes = HISTORY_MAX_BYTES): HistoryEntry[] {
  const entry = entries.find((e) => e.number === current)!;
  let others = entries.filter((e) => e !== entry).slice(-(HISTORY_KEEP - 1));
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
  // Then older upgrades go, oldest first; last, this upgrade's oldest batches, counted.
  while (others.length > 0 && bytes > maxBytes) {
    bytes -= size([others[0]!]);
    others = others.slice(1);
  }
  let omitted = 0;
  while (bytes > maxBytes && omitted < batches.length) bytes -= len(batches[omitted++]!);
  const fitted: HistoryEntry = omitted > 0 ? { ...entry, batches: batches.slice(omitted), omittedBatches: (entry.omittedBatches ?? 0) + omitted } : { ...entry, batches };
  return [...others, fitted].sort((x, y) => x.number - y.number);
}

const ENTRY_KEY = /^upgrade-(\d+)$/;

function parseEntry(key: string, text: string): HistoryEntry | undefined {
  const m = ENTRY_KEY.exec(key);
  if (!m) return undefined;
  try {
    const e = JSON.parse(text) as HistoryEntry;
    return e && e.number === Number(m[1]) && typeof e.startedAt === 'string' && Array.isArray(e.batches) ? e : undefined;
  } catch {
    return undefined;
  }
}

export interface DecodedHistory {
  /** Oldest first. */
  entries: HistoryEntry[];
  /** Keys that look like entries but do not read as one (someone's edit): left as they are, their numbers not reused. */
  unreadable: string[];
}

export function decodeHistory(data: Record<string, string> | undefined): DecodedHistory {
  const entries: HistoryEntry[] = [];
  const unreadable: string[] = [];
  for (const [key, text] of Object.entries(data ?? {})) {
    const e = parseEntry(key, text);
    if (e) entries.push(e);
    else if (key.startsWith(KEY_PREFIX)) unreadable.push(key);
  }
  return { entries: entries.sort((a, b) => a.number - b.number), unreadable };
}

/** Numbers a new entry must not take: those of keys that do not read as entries. */
export const takenNumbers = (h: DecodedHistory) => h.unreadable.flatMap((k) => (ENTRY_KEY.test(k) ? [Number(ENTRY_KEY.exec(k)![1])] : []));

/**
 * The change to write to the ConfigMap's data (a merge patch: null removes a key): the entries
 * added, changed or left out since `live`; every other key (a note, an entry that does not read)
 * stays as it is.
 */
export function historyPatch(entries: HistoryEntry[], live: Record<string, string> = {}): Record<string, string | null> {
  const patch: Record<string, string | null> = {};
  const kept = new Set(entries.map((e) => `${KEY_PREFIX}${e.number}`));
  for (const e of entries) {
    const key = `${KEY_PREFIX}${e.number}`;
    const text = JSON.stringify(e);
    if (live[key] !== text) patch[key] = text;
  }
  for (const [key, text] of Object.entries(live)) if (!kept.has(key) && parseEntry(key, text)) patch[key] = null;
  return patch;
}
