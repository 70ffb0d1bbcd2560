// The soak gate: after a batch is back in service its new pods serve real traffic for a while, and
// what they do meanwhile decides whether the walk goes on. Pure: the signals are judged from what
// the walk read (pods, Events, the CLB, Prometheus answers); the walk reads and acts.
import { formatDuration } from './duration.js';
import { onRevision, podTrouble, type PodSnapshot } from './workload.js';

/** A metrics analysis: a PromQL instant query and the bound every value it returns must keep. */
export interface Analysis {
  query: string;
  bound: { kind: 'max' | 'min'; value: number };
}

/** The `batch` of the surge pods' soak: they run the new release first, so they prove it first. */
export const SURGE_SOAK = -1;

/** What the record keeps of a soak under way (or failed), so that a rerun continues it. */
export interface SoakState {
  /** Index of the batch whose pods soak; SURGE_SOAK: the surge pods, before the first batch is drained. */
  batch: number;
  startedAt: string;
  ms: number;
  /** Container restarts already counted when the soak began ("pod/container" -> count; zeros left out). */
  restartsAtStart?: Record<string, number>;
  /** The batch's pods when the soak began, by name: a pod replaced since (a new uid) fails the soak. */
  uids?: Record<string, string>;
  /** Set when the soak failed: the walk does not go on by itself. */
  failed?: { at: string; reason: string };
}

export type Outcome = 'ok' | 'failed' | 'unknown';

/** One signal at one reading: its name, what it says and the values behind it. */
export interface Signal {
  name: string;
  outcome: Outcome;
  detail: string;
}

/** An Event the soak looks at (Warnings only). */
export interface WarningEvent {
  kind: string;
  name: string;
  uid?: string;
  reason: string;
  message: string;
  at: string;
  source: string;
}

/** A Prometheus instant query's answer, reduced to what a bound is checked against. */
export type QueryAnswer =
  | { kind: 'vector'; samples: { labels: Record<string, string>; value: number }[] }
  | { kind: 'scalar'; value: number }
  | { kind: 'error'; message: string };

export const soakRemainingMs = (s: SoakState, now: number) => Math.max(0, Date.parse(s.startedAt) + s.ms - now);

/** The restart counts of every container of these pods ("pod/container" -> count), zeros left out. */
export function restartCounts(pods: PodSnapshot[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pods) for (const r of p.restarts ?? []) if (r.count > 0) out[`${p.name}/${r.container}`] = r.count;
  return out;
}

/** Restarts since the soak began, with how each container last ended (OOMKilled, Error ...). */
export function restartSignal(watched: PodSnapshot[], atStart: Record<string, number>): Signal {
  const restarted: string[] = [];
  for (const p of watched) {
    for (const r of p.restarts ?? []) {
      const more = r.count - (atStart[`${p.name}/${r.container}`] ?? 0);
      if (more > 0) restarted.push(`${p.name} ${r.container} restarted ${more}x${r.lastTermination ? ` (last: ${r.lastTermination})` : ''}`);
    }
  }
  return restarted.length > 0 ? { name: 'restarts', outcome: 'failed', detail: restarted.join('; ') } : { name: 'restarts', outcome: 'ok', detail: 'none' };
}

/**
 * Every watched pod is there, Running and Ready, on the walk's target revision, and the pods the
 * soak began with are still the same ones (a replacement starts its counters and Events afresh).
 */
export function readinessSignal(names: string[], pods: PodSnapshot[], expect: { revision?: string; uids?: Record<string, string> } = {}): Signal {
  const trouble = names
    .map((n) => {
      const p = pods.find((x) => x.name === n);
      const was = expect.uids?.[n];
      if (p && was && p.uid !== was) return [n, `replaced during the soak (uid ${was} -> ${p.uid})`] as const;
      if (p && expect.revision && !onRevision(p, expect.revision)) return [n, `not on revision ${expect.revision} (${p.revision ?? 'no revision'})`] as const;
      return [n, podTrouble(p)] as const;
    })
    .filter(([, t]) => t);
  if (trouble.length > 0) return { name: 'readiness', outcome: 'failed', detail: trouble.map(([n, t]) => `${n}: ${t}`).join('; ') };
  return { name: 'readiness', outcome: 'ok', detail: `${names.length}/${names.length} Ready` };
}

/** Warning Events since the soak began on the watched pods (by uid) or from the controller on the walk's Services. */
export function warningSignal(events: WarningEvent[], podUids: Set<string>, services: string[], since: string): Signal {
  const relevant = events.filter((e) => e.at >= since && ((e.kind === 'Pod' && e.uid !== undefined && podUids.has(e.uid)) || (e.kind === 'Service' && services.includes(e.name))));
  if (relevant.length === 0) return { name: 'warnings', outcome: 'ok', detail: 'none' };
  const shown = relevant.slice(-3).map((e) => `${e.kind} ${e.name} ${e.reason}: ${e.message}`);
  return { name: 'warnings', outcome: 'failed', detail: `${relevant.length} Warning Event${relevant.length === 1 ? '' : 's'}: ${shown.join('; ')}` };
}

/** The CLB's health checks of the new targets (drain evidence on): rows of pod, listener, healthy. */
export function clbSignal(rows: { pod: string; listener: string; healthy?: boolean }[]): Signal {
  const unhealthy = rows.filter((r) => r.healthy === false);
  if (unhealthy.length > 0) return { name: 'clb health', outcome: 'failed', detail: unhealthy.map((r) => `${r.pod} unhealthy on ${r.listener}`).join('; ') };
  const unknown = rows.filter((r) => r.healthy === undefined);
  if (rows.length === 0 || unknown.length > 0) return { name: 'clb health', outcome: 'unknown', detail: rows.length === 0 ? 'no target reported' : `no health reported for ${unknown.map((r) => `${r.pod} on ${r.listener}`).join(', ')}` };
  return { name: 'clb health', outcome: 'ok', detail: `${rows.length} target${rows.length === 1 ? '' : 's'} healthy` };
}

export const analysisName = (i: number) => `analysis ${i + 1}`;
export const boundText = (b: Analysis['bound']) => `${b.kind === 'max' ? '<=' : '>='} ${b.value}`;
const number = (v: number) => (Number.isInteger(v) ? String(v) : Number(v.toPrecision(4)).toString());

/**
 * One analysis judged on one answer. Every value must keep the bound; an error, no series or a value
 * that is not a number (0/0 with no traffic) is unknown: it never passes.
 */
export function judgeAnalysis(name: string, a: Analysis, answer: QueryAnswer): Signal {
  const within = (v: number) => (a.bound.kind === 'max' ? v <= a.bound.value : v >= a.bound.value);
  const head = `${boundText(a.bound)}`;
  if (answer.kind === 'error') return { name, outcome: 'unknown', detail: `query failed: ${answer.message}` };
  const samples = answer.kind === 'scalar' ? [{ labels: {}, value: answer.value }] : answer.samples;
  if (samples.length === 0) return { name, outcome: 'unknown', detail: `no series (${head})` };
  const label = (l: Record<string, string>) => {
    const keys = Object.keys(l).filter((k) => k !== '__name__');
    return keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${l[k]}"`).join(',')}} `;
  };
  const shown = samples.slice(0, 3).map((s) => `${label(s.labels)}${number(s.value)}`).join(', ') + (samples.length > 3 ? ` and ${samples.length - 3} more` : '');
  // A value beyond the bound fails whatever the other series say; then NaN (no traffic: 0/0) is unknown.
  const outside = samples.filter((s) => !Number.isNaN(s.value) && !within(s.value));
  if (outside.length > 0) return { name, outcome: 'failed', detail: `${outside.map((s) => `${label(s.labels)}${number(s.value)}`).slice(0, 3).join(', ')} (${head})` };
  if (samples.some((s) => Number.isNaN(s.value))) return { name, outcome: 'unknown', detail: `not a number: ${shown} (${head})` };
  return { name, outcome: 'ok', detail: `${shown} (${head})` };
}

/** Pod names as a regular expression for a label matcher inside a double-quoted PromQL string. */
export const podRegex = (names: string[]) => names.map((n) => n.replace(/[.\\^$|?*+()[\]{}]/g, (c) => `\\\\${c}`)).join('|');

/** $PODS, $UPGRADED and $NAMESPACE of a query put in. */
export function expandQuery(query: string, v: { pods: string[]; upgraded: string[]; namespace: string }): string {
  return query.replace(/\$(PODS|UPGRADED|NAMESPACE)\b/g, (_, k: string) => (k === 'PODS' ? podRegex(v.pods) : k === 'UPGRADED' ? podRegex(v.upgraded) : v.namespace));
}

/** Every signal read so far: the latest of each, how often each read ok of how many readings, and the first failure. */
export interface SoakProgress {
  latest: Signal[];
  counts?: Record<string, { ok: number; total: number }>;
  failure?: Signal;
}

export function observe(p: SoakProgress, signals: Signal[]): SoakProgress {
  const latest = [...p.latest.filter((s) => !signals.some((n) => n.name === s.name)), ...signals];
  const counts = { ...p.counts };
  for (const s of signals) {
    const c = counts[s.name] ?? { ok: 0, total: 0 };
    counts[s.name] = { ok: c.ok + (s.outcome === 'ok' ? 1 : 0), total: c.total + 1 };
  }
  return { latest, counts, failure: p.failure ?? signals.find((s) => s.outcome === 'failed') };
}

/** Readings a soak takes at least, even resumed past its end: one reading never decides. */
export const MIN_READINGS = 2;

export type SoakVerdict = { outcome: 'passed' } | { outcome: 'failed'; reason: string } | { outcome: 'unknown'; reason: string };

/**
 * A soak passes only when nothing failed during it, every signal was read at least MIN_READINGS
 * times and ok in at least half of them, and its latest reading says ok. Anything less (no series,
 * Prometheus down most of the time) leaves the verdict unknown, never passed.
 */
export function soakVerdict(p: SoakProgress): SoakVerdict {
  if (p.failure) return { outcome: 'failed', reason: `${p.failure.name}: ${p.failure.detail}` };
  if (p.latest.length === 0) return { outcome: 'unknown', reason: 'nothing was read' };
  const unknown = p.latest.filter((s) => s.outcome !== 'ok');
  if (unknown.length > 0) return { outcome: 'unknown', reason: unknown.map((s) => `${s.name}: ${s.detail}`).join('; ') };
  const seldom = p.latest.filter((s) => {
    const c = p.counts?.[s.name] ?? { ok: 1, total: 1 };
    return c.total < MIN_READINGS || c.ok * 2 < c.total;
  });
  if (seldom.length > 0) return { outcome: 'unknown', reason: seldom.map((s) => `${s.name}: ok in ${p.counts?.[s.name]?.ok ?? 1} of ${p.counts?.[s.name]?.total ?? 1} readings`).join('; ') };
  return { outcome: 'passed' };
}

/** One line a soak reading shows: time left, then each signal. */
export function soakLine(remainingMs: number, signals: Signal[]): string {
  const mark = (o: Outcome) => (o === 'ok' ? 'ok' : o === 'failed' ? 'FAILED' : 'unknown');
  return `${formatDuration(remainingMs)} left; ${signals.map((s) => `${s.name} ${mark(s.outcome)} (${s.detail})`).join(', ')}`;
}
