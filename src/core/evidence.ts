// Drain evidence: what the CLB and Cloud Monitor say about a drained pod, folded into one verdict.
// Pure: the readings come in, the verdict and its reasons go out. The rules are the careful
// operator's: every listener must read weight 0; connections count only in points that are present,
// that started after weight 0 was seen, and that follow each other without a gap. Missing data is
// "unknown", never zero.

/** One CLB listener of one Service port, as the Service declares it. */
export interface ListenerRef {
  service: string;
  /** The CLB id from the Service (service.kubernetes.io/loadbalance-id); absent before the CLB exists. */
  lbId?: string;
  protocol: string;
  port: number;
}

/** One pod IP on one listener, from DescribeTargets (weight) and DescribeTargetHealth (health). */
export interface TargetReading {
  lbId: string;
  protocol: string;
  port: number;
  ip: string;
  /** The backend port the CLB sends to: the pod's target port with direct access. */
  targetPort: number;
  /** undefined when the API left Weight out: unknown, never read as 0. */
  weight?: number;
  /** undefined when DescribeTargetHealth had no entry for it. */
  healthy?: boolean;
}

/** A Cloud Monitor point: the start of its period (ms) and its maximum. */
export interface ConnPoint {
  at: number;
  value: number;
}

/** ConNum of one backend (pod IP and target port) behind one listener. */
export interface ConnSeries {
  lbId: string;
  protocol: string;
  port: number;
  ip: string;
  targetPort: number;
  points: ConnPoint[];
}

/** Readings may fail as a whole (an API error): then they are unknown, with the error as reason. */
export type Readings<T> = { ok: T } | { error: string };

export type VerdictState = 'drained' | 'not-yet' | 'unknown';

export interface Verdict {
  state: VerdictState;
  reasons: string[];
}

export interface PodEvidence {
  pod: string;
  ip?: string;
  /** Every listener of every Service that routes to the pod: each must read weight 0. */
  listeners: ListenerRef[];
  targets: Readings<TargetReading[]>;
  connections: Readings<ConnSeries[]>;
  /** When the plugin first saw weight 0 on every listener (ms); connection points count only after it. */
  zeroWeightSince?: number;
  /** Warning Events of the service controller since the drain. */
  controllerWarnings: string[];
}

export interface EvidenceRules {
  /** Consecutive present zero points required. */
  zeroPoints: number;
  /** The monitor period in ms. */
  periodMs: number;
  now: number;
}

/** With no point for this many periods, the series is stale: monitoring has stopped or lags badly. */
export const STALE_AFTER_PERIODS = 5;

export const listenerName = (l: { lbId?: string; protocol: string; port: number }) => `${l.lbId ?? '(no CLB)'} ${l.protocol}/${l.port}`;
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** Weight 0 on every listener? Each listener gives one finding. */
export function weightFindings(e: Pick<PodEvidence, 'listeners' | 'targets' | 'ip'>): Verdict[] {
  if ('error' in e.targets) return [{ state: 'unknown', reasons: [`CLB targets unreadable: ${e.targets.error}`] }];
  if (!e.ip) return [{ state: 'unknown', reasons: ['the pod has no IP'] }];
  const readings = e.targets.ok;
  return e.listeners.map((l) => {
    if (!l.lbId) return { state: 'unknown', reasons: [`service ${l.service} has no CLB id yet`] };
    const mine = readings.filter((t) => t.lbId === l.lbId && t.protocol === l.protocol && t.port === l.port && t.ip === e.ip);
    if (mine.length === 0) return { state: 'unknown', reasons: [`${e.ip} is not registered on ${listenerName(l)}`] };
    if (mine.some((t) => t.weight === undefined)) return { state: 'unknown', reasons: [`the CLB gave no weight for ${e.ip} on ${listenerName(l)}`] };
    const open = mine.filter((t) => t.weight !== 0);
    if (open.length > 0) return { state: 'not-yet', reasons: [`weight ${open[0]!.weight} on ${listenerName(l)}`] };
    return { state: 'drained', reasons: [] };
  });
}

/** How many points at the end of the series are zero, present and one period apart. */
export function trailingZeroRun(points: ConnPoint[], periodMs: number): number {
  const sorted = [...points].sort((a, b) => a.at - b.at);
  let run = 0;
  for (let i = sorted.length - 1; i >= 0; i--) {
    const p = sorted[i]!;
    if (p.value !== 0) break;
    const newer = sorted[i + 1];
    if (newer && newer.at - p.at !== periodMs) break; // a gap: a missing point is not a zero
    run++;
  }
  return run;
}

/** Connections drained on every backend port? Each series gives one finding. */
export function connectionFindings(e: Pick<PodEvidence, 'connections' | 'zeroWeightSince'>, rules: EvidenceRules): Verdict[] {
  if ('error' in e.connections) return [{ state: 'unknown', reasons: [`Cloud Monitor unreadable: ${e.connections.error}`] }];
  if (e.connections.ok.length === 0) return [{ state: 'unknown', reasons: ['no backend to read connections for'] }];
  return e.connections.ok.map((s) => {
    const where = `${listenerName(s)} -> ${s.ip}:${s.targetPort}`;
    const latest = s.points.reduce((m, p) => Math.max(m, p.at), -Infinity);
    if (latest === -Infinity) return { state: 'unknown', reasons: [`no ConNum data for ${where}`] };
    if (rules.now - (latest + rules.periodMs) > STALE_AFTER_PERIODS * rules.periodMs) {
      return { state: 'unknown', reasons: [`no ConNum data for ${where} since ${clock(latest)}`] };
    }
    const last = s.points.find((p) => p.at === latest)!;
    if (last.value !== 0) return { state: 'not-yet', reasons: [`${last.value} connections on ${where} at ${clock(latest)}`] };
    if (e.zeroWeightSince === undefined) return { state: 'not-yet', reasons: [`connection points count once weight 0 is seen (${where})`] };
    const since = e.zeroWeightSince;
    const run = trailingZeroRun(s.points.filter((p) => p.at >= since), rules.periodMs);
    if (run >= rules.zeroPoints) return { state: 'drained', reasons: [] };
    return { state: 'not-yet', reasons: [`${run} of ${rules.zeroPoints} zero points since weight 0 on ${where}`] };
  });
}

/** Not yet beats unknown beats drained; the reasons of the deciding state are kept. */
export function combine(findings: Verdict[]): Verdict {
  for (const state of ['not-yet', 'unknown'] as const) {
    const hits = findings.filter((f) => f.state === state);
    if (hits.length > 0) return { state, reasons: [...new Set(hits.flatMap((f) => f.reasons))] };
  }
  return { state: 'drained', reasons: [] };
}

/** One verdict for one drained pod. */
export function podVerdict(e: PodEvidence, rules: EvidenceRules): Verdict {
  const v = combine([...weightFindings(e), ...connectionFindings(e, rules)]);
  if (v.state === 'drained') return v;
  return { state: v.state, reasons: [...v.reasons, ...e.controllerWarnings.map((w) => `service controller: ${w}`)] };
}

/** Weight 0 everywhere right now (the first half of the evidence, which starts the connection count). */
export function weightIsZero(e: Pick<PodEvidence, 'listeners' | 'targets' | 'ip'>): boolean {
  return combine(weightFindings(e)).state === 'drained';
}

const BARS = '▁▂▃▄▅▆▇█';

/** A small trend of the last points: one bar each, a gap shown as a space, scaled to the maximum. */
export function sparkline(points: ConnPoint[], periodMs: number, count = 8): string {
  if (points.length === 0) return '';
  const sorted = [...points].sort((a, b) => a.at - b.at);
  const end = sorted.at(-1)!.at;
  const max = Math.max(...sorted.map((p) => p.value));
  const bar = (v: number) => (max === 0 ? BARS[0]! : BARS[Math.round((v / max) * (BARS.length - 1))]!);
  let s = '';
  for (let i = count - 1; i >= 0; i--) {
    const at = end - i * periodMs;
    if (at < sorted[0]!.at) continue;
    const p = sorted.find((x) => x.at === at);
    s += p ? bar(p.value) : ' ';
  }
  return s;
}

/** Listener settings that change what weight 0 means, each as a warning to read before draining. */
export interface ListenerSettings {
  lbId: string;
  protocol: string;
  port: number;
  scheduler?: string;
  sessionExpireTime?: number;
  rescheduleInterval?: number;
  deregisterTargetRst?: boolean;
  attrFlags?: string[];
}

export function listenerWarnings(l: ListenerSettings): string[] {
  const at = listenerName(l);
  const w: string[] = [];
  if ((l.sessionExpireTime ?? 0) > 0) {
    w.push(`${at}: session persistence is on (${l.sessionExpireTime}s): clients bound to a drained pod may keep reaching it until their sessions expire; how weight 0 interacts with it is undocumented`);
  }
  if (l.scheduler === 'IP_HASH') w.push(`${at}: scheduler IP_HASH: clients are pinned by address; check that weight 0 moves them`);
  if ((l.rescheduleInterval ?? 0) > 0 || (l.attrFlags ?? []).some((f) => /reschedul/i.test(f))) {
    w.push(`${at}: rescheduling is configured (interval ${l.rescheduleInterval ?? 0}s): if "reschedule on zero weight" is on, weight 0 CUTS long connections instead of letting them finish`);
  }
  if (l.deregisterTargetRst) w.push(`${at}: reset on deregistration is on: connections still open when a pod is deleted are reset`);
  return w;
}

/** What the walk shows of the evidence: one row per pod and listener, one verdict per pod. */
export interface EvidenceRow {
  pod: string;
  listener: string;
  /** The CLB's weight for the pod on the listener, or why there is none. */
  weight: number | 'unknown' | 'not registered';
  /** undefined when the CLB reported no health for it. */
  healthy?: boolean;
  connections: string;
  trend: string;
}

export interface EvidenceView {
  at: number;
  periodSeconds?: number;
  rows: EvidenceRow[];
  verdicts: { pod: string; ip?: string; gate: string; verdict: Verdict }[];
  controllerVersion: string;
  events: string[];
}

/** No listener reads a weight above 0 (a weight that cannot be read is not held against the drain here). */
export const noWeightAboveZero = (v: Pick<EvidenceView, 'rows'>) => v.rows.every((r) => typeof r.weight !== 'number' || r.weight === 0);
/** Every listener reads weight 0. */
export const allWeightsZero = (v: Pick<EvidenceView, 'rows'>) => v.rows.every((r) => r.weight === 0);
/** Every listener gives the pod traffic: a weight above 0 and healthy. */
export const serving = (v: Pick<EvidenceView, 'rows'>) => v.rows.every((r) => typeof r.weight === 'number' && r.weight > 0 && r.healthy === true);
export const weightsUnreadable = (v: Pick<EvidenceView, 'rows'>) => v.rows.some((r) => r.weight === 'unknown');

/** What the record and the audit Event keep of the evidence at a confirmation. */
export interface EvidenceSummary {
  verdicts: { pod: string; state: VerdictState; reasons: string[] }[];
  zeroPoints: number;
  periodSeconds: number;
}

export function summaryLine(s: EvidenceSummary): string {
  return s.verdicts.map((v) => `${v.pod} ${v.state}${v.reasons.length ? ` (${v.reasons.join('; ')})` : ''}`).join(', ');
}
