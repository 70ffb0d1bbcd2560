// The soak gate between batches: the pods just restored serve real traffic for the soak's
// duration while their restarts, readiness, Warning Events, CLB health and the metrics analyses
// are read every interval. It is recorded on the StatefulSet when it begins, so a rerun continues
// the time left. Passed, the walk goes on; failed (or unknown), it stops or walks back by itself
// (--on-failure rollback), and a person at the terminal chooses.
import { formatDuration } from '../core/duration.js';
import { GateError } from '../core/errors.js';
import { type HistorySoak, withBatch } from '../core/history.js';
import {
  analysisName,
  boundText,
  clbSignal,
  expandQuery,
  judgeAnalysis,
  MIN_READINGS,
  SURGE_SOAK,
  observe,
  readinessSignal,
  restartCounts,
  restartSignal,
  soakLine,
  soakRemainingMs,
  soakVerdict,
  warningSignal,
  type Analysis,
  type Signal,
  type SoakProgress,
  type SoakState,
} from '../core/soak.js';
import { soakOrdinals, soakSubject, type UpgradeRecord } from '../core/upgrade.js';
import { onRevision } from '../core/workload.js';
import type { Prometheus } from '../prometheus/client.js';
import { audit, saveRecord, type Upgrade, type WalkContext } from './context.js';
import { writeHistory } from './history.js';

export interface SoakOptions {
  /** --soak; undefined: what start recorded (record.soakMs), else none. */
  durationMs?: number;
  intervalMs: number;
  analyses: Analysis[];
  prometheus?: Prometheus;
  /** Watch every pod on the new revision, not only the batch's. */
  watchUpgraded: boolean;
  onFailure: 'stop' | 'rollback';
}

/** How long a batch restored now soaks: --soak, else the walk's default; never on a walk back. */
export function soakMsFor(ctx: WalkContext, record: UpgradeRecord): number {
  if (record.rollback) return 0;
  if (ctx.soak?.durationMs === 0 && record.soakMs && !ctx.warned.has('soak 0')) {
    ctx.warned.add('soak 0');
    ctx.ui.warn(`--soak 0: no soak in this run, although the upgrade was started with --soak ${formatDuration(record.soakMs)}`);
  }
  return ctx.soak?.durationMs ?? record.soakMs ?? 0;
}

/** The soak recorded with a batch's restore: it starts then, with the restart counts seen then. */
export function soakState(ctx: WalkContext, up: Upgrade, index: number, at: string): SoakState | undefined {
  const ms = soakMsFor(ctx, up.record);
  if (ms <= 0) return undefined;
  return beginSoak(up, index, at, ms);
}

/** A soak starting now: the batch's pods by uid (a replacement fails it) and the restarts already counted. */
export function beginSoak(up: Upgrade, index: number, at: string, ms: number): SoakState {
  const restarts = restartCounts(up.pods);
  const ordinals = soakOrdinals(up.record, { batch: index, startedAt: at, ms });
  const uids = Object.fromEntries(up.pods.filter((p) => ordinals.includes(p.ordinal)).map((p) => [p.name, p.uid]));
  return { batch: index, startedAt: at, ms, uids, ...(Object.keys(restarts).length ? { restartsAtStart: restarts } : {}) };
}

export type AfterSoak = 'continue' | 'stop' | 'rollback';

const serve = (subject: string) => (subject.includes(',') || subject.startsWith('the surge pods') ? 'keep serving' : 'keeps serving');

/** The upgrade as the soak last wrote it: every step reads and writes through this, never a stale copy. */
interface SoakSession {
  up: Upgrade;
  save(record: UpgradeRecord): Promise<void>;
  history(soak: HistorySoak): Promise<void>;
}

function soakSession(ctx: WalkContext, start: Upgrade, batch: number): SoakSession {
  const session: SoakSession = {
    up: start,
    save: async (record) => {
      session.up = { ...session.up, sts: await saveRecord(ctx.cluster, session.up.sts, record), record };
    },
    history: (soak) => writeHistory(ctx, session.up.record, (e) => (batch === SURGE_SOAK ? { ...e, surgeSoak: soak } : withBatch(e, session.up.record, batch, { soak }))),
  };
  return session;
}

/**
 * Runs (or resumes) the recorded soak and settles it: passed and cleared, or failed and kept. What
 * comes next: go on, stop here (nothing more is drained), or walk back (the caller rolls back).
 */
export async function soakGate(ctx: WalkContext, start: Upgrade): Promise<{ up: Upgrade; next: AfterSoak }> {
  const state = start.record.soak!;
  const s = soakSession(ctx, start, state.batch);
  const names = soakSubject(start.record, state);
  if (state.failed) {
    ctx.ui.warn(`the soak of ${names} failed at ${state.failed.at}: ${state.failed.reason}`);
    return { next: await afterFailure(ctx, s, state), up: s.up };
  }
  // A rerun's --soak may make the recorded soak longer, never shorter: cutting it short is a person's call at the terminal.
  const soak = ctx.soak?.durationMs !== undefined && ctx.soak.durationMs > state.ms ? { ...state, ms: ctx.soak.durationMs } : state;
  if (soak !== state) await s.save({ ...s.up.record, soak }); // longer from now on, also for a run after a crash
  const run = await watchSoak(ctx, s.up, soak);
  const verdict = soakVerdict(run.progress);
  const readings = readingLines(run.progress);
  const seconds = Math.round((ctx.now().getTime() - Date.parse(soak.startedAt)) / 1000);
  if (verdict.outcome === 'passed' && !run.interrupted) {
    await settle(ctx, s, { outcome: 'passed', seconds, at: ctx.now().toISOString(), readings });
    ctx.ui.info(ctx.ui.errStyle.green(`soak of ${names} passed after ${formatDuration(seconds * 1000)}`));
    const next = await ctx.ui.choose(
      `Soak of ${names} passed. Go on?`,
      [
        { value: 'continue', name: 'Continue with the next batch' },
        { value: 'stop', name: 'Stop here; come back with `next`' },
        { value: 'rollback', name: 'Roll back the upgrade' },
      ],
      'continue' as AfterSoak,
    );
    return { up: s.up, next };
  }
  if (run.interrupted && !run.progress.failure) {
    // Interrupted before its end with nothing failed: the operator decides, and what they decide is on record.
    ctx.ui.info(`soak of ${names} interrupted after ${formatDuration(seconds * 1000)}, ${formatDuration(soakRemainingMs(soak, ctx.now().getTime()))} before its end${verdict.outcome === 'unknown' ? `; still unknown: ${verdict.reason}` : ''}`);
    const next = await ctx.ui.choose(
      `Soak of ${names} interrupted. What now?`,
      [
        { value: 'stop', name: 'Stop here; `next` resumes the soak for the time left' },
        { value: 'continue', name: 'Continue with the next batch now (recorded as cut short by you)' },
        { value: 'rollback', name: 'Roll back the upgrade' },
      ],
      'stop' as AfterSoak,
    );
    if (next === 'continue') await settle(ctx, s, { outcome: 'cut short', seconds, at: ctx.now().toISOString(), by: ctx.who, readings });
    return { up: s.up, next };
  }
  const outcome = verdict.outcome === 'passed' ? { outcome: 'unknown' as const, reason: 'interrupted' } : verdict;
  const reason = outcome.outcome === 'unknown' ? `unknown, which never passes a soak: ${outcome.reason}` : outcome.reason;
  const at = ctx.now().toISOString();
  const failed = { ...state, failed: { at, reason } };
  await s.save({ ...s.up.record, soak: failed });
  await s.history({ outcome: outcome.outcome, seconds, at, readings });
  ctx.ui.warn(`the soak of ${names} ${outcome.outcome === 'failed' ? 'FAILED' : 'did not pass'} after ${formatDuration(seconds * 1000)}: ${reason}`);
  await audit(ctx, s.up.sts, 'SoakFailed', `${names}: ${reason}`, 'Warning');
  return { next: await afterFailure(ctx, s, failed), up: s.up };
}

/** A failed soak: a person chooses; unattended, --on-failure decides (stop unless rollback). */
async function afterFailure(ctx: WalkContext, s: SoakSession, state: SoakState): Promise<AfterSoak> {
  const name = s.up.record.statefulSet;
  const names = soakSubject(s.up.record, state);
  const rollbackHint = `roll back with: kubectl zerolossupgrade rollback ${name} -n ${ctx.cluster.namespace}`;
  if (ctx.ui.yes) {
    if (ctx.soak?.onFailure === 'rollback') {
      ctx.ui.warn(`--on-failure rollback: walking "${name}" back now`);
      return 'rollback';
    }
    throw new GateError(`the soak of ${names} did not pass (${state.failed!.reason}); nothing more is drained and ${names} ${serve(names)}. To go back, ${rollbackHint}; or run next in a terminal to soak again or go on`);
  }
  const next = await ctx.ui.choose(
    `The soak of ${names} did not pass. What now?`,
    [
      { value: 'rollback', name: 'Roll back the upgrade (the zero-loss walk back)' },
      { value: 'stop', name: `Stop here; ${names} ${serve(names)}` },
      { value: 'again', name: 'Soak again from now' },
      { value: 'continue', name: 'Continue with the next batch anyway (recorded as overridden by you)' },
    ],
    'stop',
  );
  if (next === 'again') {
    const fresh = (await ctx.cluster.readStatefulSetWithPods(name)).pods;
    await s.save({ ...s.up.record, soak: beginSoak({ ...s.up, pods: fresh }, state.batch, ctx.now().toISOString(), state.ms) });
    const again = await soakGate(ctx, s.up);
    s.up = again.up;
    return again.next;
  }
  if (next === 'continue') {
    const seconds = Math.round((Date.parse(state.failed!.at) - Date.parse(state.startedAt)) / 1000);
    await settle(ctx, s, { outcome: 'overridden', seconds, at: ctx.now().toISOString(), by: ctx.who, readings: [state.failed!.reason] });
    await audit(ctx, s.up.sts, 'SoakOverridden', `${names}: the failed soak (${state.failed!.reason}) overridden by ${ctx.who}`, 'Warning');
    return 'continue';
  }
  if (next === 'stop') ctx.ui.result(`stopped; ${names} ${serve(names)}. To go back, ${rollbackHint}`);
  return next;
}

/** The soak over: on the history and in an Event, then off the record (the walk goes on). */
async function settle(ctx: WalkContext, s: SoakSession, soak: HistorySoak): Promise<void> {
  const names = soakSubject(s.up.record, s.up.record.soak!);
  const surge = s.up.record.soak!.batch === SURGE_SOAK;
  await s.history(soak);
  const { soak: _, ...rest } = s.up.record;
  await s.save(surge ? { ...rest, surgeSoaked: true } : rest);
  if (soak.outcome === 'passed') await audit(ctx, s.up.sts, 'SoakPassed', `${names}: soaked ${formatDuration(soak.seconds * 1000)}; ${soak.readings.join('; ')}`);
  else if (soak.outcome === 'cut short') await audit(ctx, s.up.sts, 'SoakCutShort', `${names}: soak cut short after ${formatDuration(soak.seconds * 1000)} by ${ctx.who}; ${soak.readings.join('; ')}`, 'Warning');
}

const readingLines = (p: SoakProgress) => [...(p.failure ? [p.failure] : []), ...p.latest.filter((s) => s !== p.failure)].map((s) => `${s.name}: ${s.detail}`);

/** Reads every signal each interval until the soak's end, a failure, or a key. */
async function watchSoak(ctx: WalkContext, up: Upgrade, state: SoakState): Promise<{ progress: SoakProgress; interrupted: boolean }> {
  const record = up.record;
  const names = soakSubject(record, state);
  const o = ctx.soak ?? { intervalMs: 10_000, analyses: [], watchUpgraded: false, onFailure: 'stop' as const };
  ctx.ui.info(ctx.ui.errStyle.bold(`Soak of ${names}: ${formatDuration(soakRemainingMs(state, ctx.now().getTime()))} left of ${formatDuration(state.ms)}${ctx.ui.yes ? '' : ' (press any key to stop it and choose)'}`));
  for (const [i, a] of o.analyses.entries()) ctx.ui.info(`  ${analysisName(i)}: ${a.query} ${boundText(a.bound)} (${o.prometheus?.shown})`);
  const feed = await ctx.cluster.followPods(up.sts);
  const key = ctx.ui.keypress();
  const board = ctx.ui.board();
  let progress: SoakProgress = { latest: [] };
  let interrupted = false;
  let readings = 0;
  try {
    for (;;) {
      const signals = await readSignals(ctx, up, state, o, feed.pods() ?? (await ctx.cluster.readStatefulSetWithPods(record.statefulSet)).pods);
      progress = observe(progress, signals);
      const left = soakRemainingMs(state, ctx.now().getTime());
      board.show([`  soak of ${names}: ${formatDuration(left)} left`, ...signals.map((s) => `    ${mark(ctx, s)} ${s.name}: ${s.detail}`)], `soak of ${names}: ${soakLine(left, signals)}`);
      readings++;
      if (progress.failure || (left <= 0 && readings >= MIN_READINGS)) break;
      // Not unref'd: this wait is what keeps an unattended run alive until the soak ends.
      let timer: NodeJS.Timeout | undefined;
      const tick = await Promise.race([new Promise<'tick'>((r) => (timer = setTimeout(() => r('tick'), left > 0 ? Math.min(o.intervalMs, left) : o.intervalMs))), key.pressed.then(() => 'key' as const)]).finally(() => clearTimeout(timer));
      if (tick === 'key') {
        interrupted = true;
        break;
      }
    }
  } finally {
    board.done();
    key.stop();
    feed.close();
  }
  return { progress, interrupted };
}

const mark = (ctx: WalkContext, s: Signal) => (s.outcome === 'ok' ? ctx.ui.errStyle.green('ok     ') : s.outcome === 'failed' ? ctx.ui.errStyle.red('FAILED ') : ctx.ui.errStyle.yellow('unknown'));

/** One reading of every signal: the pods, the Warning Events, the CLB (evidence on), each analysis. */
async function readSignals(ctx: WalkContext, up: Upgrade, state: SoakState, o: Pick<SoakOptions, 'analyses' | 'prometheus' | 'watchUpgraded'>, pods: Upgrade['pods']): Promise<Signal[]> {
  const record = up.record;
  const batch = soakOrdinals(record, state);
  const upgraded = pods.filter((p) => onRevision(p, record.targetRevision)).map((p) => p.name);
  const batchNames = batch.map((o) => `${record.statefulSet}-${o}`);
  const watchedNames = o.watchUpgraded ? [...new Set([...batchNames, ...upgraded])] : batchNames;
  const watched = pods.filter((p) => watchedNames.includes(p.name));
  const signals: Signal[] = [restartSignal(watched, state.restartsAtStart ?? {}), readinessSignal(watchedNames, pods, { revision: record.targetRevision, uids: state.uids })];
  try {
    const events = await ctx.cluster.warningEvents(new Date(state.startedAt));
    signals.push(warningSignal(events, new Set(watched.map((p) => p.uid)), record.services.map((s) => s.name), state.startedAt));
  } catch (e) {
    signals.push({ name: 'warnings', outcome: 'unknown', detail: `Events not readable: ${(e as Error).message}` });
  }
  if (ctx.evidence.cloud) {
    try {
      const ordinals = watched.map((p) => p.ordinal);
      const view = await ctx.evidence.read(ctx.cluster, record, pods, ordinals, new Date(state.startedAt), ctx.now().getTime(), false);
      signals.push(clbSignal(view.rows));
    } catch (e) {
      signals.push({ name: 'clb health', outcome: 'unknown', detail: `not readable: ${(e as Error).message}` });
    }
  }
  const vars = { pods: batchNames, upgraded: upgraded.length ? upgraded : batchNames, namespace: ctx.cluster.namespace };
  const at = ctx.now();
  const answers = await Promise.all(o.analyses.map((a) => o.prometheus!.query(expandQuery(a.query, vars), at)));
  o.analyses.forEach((a, i) => signals.push(judgeAnalysis(analysisName(i), a, answers[i]!)));
  return signals;
}
