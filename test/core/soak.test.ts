import { describe, expect, it } from 'vitest';
import {
  clbSignal,
  expandQuery,
  judgeAnalysis,
  observe,
  readinessSignal,
  restartCounts,
  restartSignal,
  soakRemainingMs,
  soakVerdict,
  warningSignal,
  type Analysis,
  type QueryAnswer,
  type Signal,
  type WarningEvent,
} from '../../src/core/soak.js';
import { decodeRecord, encodeRecord, planBatches, rollbackRecord, type UpgradeRecord } from '../../src/core/upgrade.js';
import { pod } from '../support/fakes.js';

const max = (value: number): Analysis => ({ query: 'q', bound: { kind: 'max', value } });
const min = (value: number): Analysis => ({ query: 'q', bound: { kind: 'min', value } });
const vector = (...values: number[]): QueryAnswer => ({ kind: 'vector', samples: values.map((value, i) => ({ labels: (values.length > 1 ? { pod: `gw-${i}` } : {}) as Record<string, string>, value })) });

describe('an analysis judged on one answer', () => {
  it('passes only when every value keeps the bound, at the bound included', () => {
    expect(judgeAnalysis('a', max(0.01), vector(0.01)).outcome).toBe('ok');
    expect(judgeAnalysis('a', max(0.01), vector(0, 0.005)).outcome).toBe('ok');
    expect(judgeAnalysis('a', min(5), vector(5)).outcome).toBe('ok');
    expect(judgeAnalysis('a', min(5), { kind: 'scalar', value: 7 }).outcome).toBe('ok');
  });

  it('a value beyond the bound fails it even beside NaN, and +Inf counts as beyond a max', () => {
    expect(judgeAnalysis('a', max(0.01), vector(Number.NaN, 0.5)).outcome).toBe('failed');
    expect(judgeAnalysis('a', max(0.01), vector(Infinity)).outcome).toBe('failed');
  });

  it('fails when any one value is beyond it, naming that series and value', () => {
    const s = judgeAnalysis('analysis 1', max(0.01), vector(0, 0.05));
    expect(s).toEqual({ name: 'analysis 1', outcome: 'failed', detail: '{pod="gw-1"} 0.05 (<= 0.01)' });
    expect(judgeAnalysis('a', min(5), { kind: 'scalar', value: 4.99 }).outcome).toBe('failed');
  });

  it('is unknown, never ok, on an error, no series, or a value that is not a number', () => {
    expect(judgeAnalysis('a', max(1), { kind: 'error', message: 'HTTP 503' })).toEqual({ name: 'a', outcome: 'unknown', detail: 'query failed: HTTP 503' });
    expect(judgeAnalysis('a', max(1), vector())).toMatchObject({ outcome: 'unknown', detail: 'no series (<= 1)' });
    expect(judgeAnalysis('a', max(1), vector(Number.NaN))).toMatchObject({ outcome: 'unknown' });
    // NaN beside a good value still is not a pass.
    expect(judgeAnalysis('a', max(1), vector(0, Number.NaN))).toMatchObject({ outcome: 'unknown' });
  });
});

describe('the signals from the pods, the Events and the CLB', () => {
  const withRestarts = (ordinal: number, count: number, lastTermination?: string) => pod(ordinal, { restarts: [{ container: 'app', count, ...(lastTermination ? { lastTermination } : {}) }] });

  it('counts restarts since the soak began, with how the container ended', () => {
    const before = restartCounts([withRestarts(0, 2), withRestarts(1, 0)]);
    expect(before).toEqual({ 'gw-0/app': 2 });
    expect(restartSignal([withRestarts(0, 2), withRestarts(1, 0)], before).outcome).toBe('ok');
    expect(restartSignal([withRestarts(0, 3, 'OOMKilled (exit code 137)'), withRestarts(1, 0)], before)).toEqual({ name: 'restarts', outcome: 'failed', detail: 'gw-0 app restarted 1x (last: OOMKilled (exit code 137))' });
    expect(restartSignal([withRestarts(1, 1, 'Error (exit code 1)')], before).outcome).toBe('failed');
  });

  it('fails readiness for a pod replaced since the soak began, or not on the target revision', () => {
    expect(readinessSignal(['gw-0'], [pod(0, { uid: 'new', revision: 'gw-2' })], { revision: 'gw-2', uids: { 'gw-0': 'old' } })).toMatchObject({ outcome: 'failed', detail: 'gw-0: replaced during the soak (uid old -> new)' });
    expect(readinessSignal(['gw-0'], [pod(0, { uid: 'u', revision: 'gw-1' })], { revision: 'gw-2', uids: { 'gw-0': 'u' } })).toMatchObject({ outcome: 'failed', detail: 'gw-0: not on revision gw-2 (gw-1)' });
    expect(readinessSignal(['gw-0'], [pod(0, { uid: 'u', revision: 'gw-2' })], { revision: 'gw-2', uids: { 'gw-0': 'u' } }).outcome).toBe('ok');
  });

  it('fails readiness for a watched pod that is missing, terminating or not Ready, and only for watched ones', () => {
    const pods = [pod(0), pod(1, { ready: false }), pod(2, { deleting: true })];
    expect(readinessSignal(['gw-0'], pods)).toEqual({ name: 'readiness', outcome: 'ok', detail: '1/1 Ready' });
    const s = readinessSignal(['gw-0', 'gw-1', 'gw-2', 'gw-3'], pods);
    expect(s.outcome).toBe('failed');
    expect(s.detail).toBe('gw-1: Running but not Ready; gw-2: terminating; gw-3: missing');
  });

  it('fails on a Warning Event of a watched pod (by uid, not by a recycled name) or of the walk\'s Services, since the soak began', () => {
    const ev = (o: Partial<WarningEvent>): WarningEvent => ({ kind: 'Pod', name: 'gw-0', uid: 'u0', reason: 'BackOff', message: 'Back-off restarting failed container', at: '2026-12-02T10:00:05.000Z', source: 'kubelet', ...o });
    const since = '2026-12-02T10:00:00.000Z';
    expect(warningSignal([ev({})], new Set(['u0']), ['gw'], since)).toMatchObject({ outcome: 'failed', detail: '1 Warning Event: Pod gw-0 BackOff: Back-off restarting failed container' });
    // The old pod of the same name, an Event from before the soak, another Service: none count.
    expect(warningSignal([ev({ uid: 'old' }), ev({ at: '2026-12-02T09:59:59.000Z' }), ev({ kind: 'Service', name: 'other' })], new Set(['u0']), ['gw'], since).outcome).toBe('ok');
    expect(warningSignal([ev({ kind: 'Service', name: 'gw', uid: 's', reason: 'SyncLoadBalancerFailed' })], new Set(['u0']), ['gw'], since).outcome).toBe('failed');
  });

  it('fails on an unhealthy target, and is unknown with no health reported', () => {
    expect(clbSignal([{ pod: 'gw-0', listener: 'gw TCP/80', healthy: true }]).outcome).toBe('ok');
    expect(clbSignal([{ pod: 'gw-0', listener: 'gw TCP/80', healthy: true }, { pod: 'gw-0', listener: 'gw TCP/443', healthy: false }])).toEqual({ name: 'clb health', outcome: 'failed', detail: 'gw-0 unhealthy on gw TCP/443' });
    expect(clbSignal([{ pod: 'gw-0', listener: 'gw TCP/80' }]).outcome).toBe('unknown');
    expect(clbSignal([]).outcome).toBe('unknown');
  });
});

describe('the verdict of a soak', () => {
  const sig = (name: string, outcome: Signal['outcome']): Signal => ({ name, outcome, detail: outcome });

  it('passes only when nothing failed and every signal\'s latest reading is ok', () => {
    let p = observe({ latest: [] }, [sig('restarts', 'ok'), sig('analysis 1', 'unknown')]);
    expect(soakVerdict(p).outcome).toBe('unknown');
    p = observe(p, [sig('restarts', 'ok'), sig('analysis 1', 'ok')]);
    expect(soakVerdict(p)).toEqual({ outcome: 'passed' });
    p = observe(p, [sig('restarts', 'ok'), sig('analysis 1', 'unknown')]);
    expect(soakVerdict(p).outcome).toBe('unknown');
  });

  it('a failure at any reading stands, even when later readings are ok', () => {
    let p = observe({ latest: [] }, [sig('restarts', 'ok'), sig('analysis 1', 'failed')]);
    p = observe(p, [sig('restarts', 'ok'), sig('analysis 1', 'ok')]);
    expect(soakVerdict(p)).toEqual({ outcome: 'failed', reason: 'analysis 1: failed' });
  });

  it('one reading never decides, and a signal unknown in most readings is not a pass even if its last says ok', () => {
    expect(soakVerdict(observe({ latest: [] }, [sig('restarts', 'ok')]))).toEqual({ outcome: 'unknown', reason: 'restarts: ok in 1 of 1 readings' });
    let p = observe({ latest: [] }, [sig('analysis 1', 'unknown')]);
    p = observe(p, [sig('analysis 1', 'unknown')]);
    p = observe(p, [sig('analysis 1', 'ok')]);
    expect(soakVerdict(p)).toEqual({ outcome: 'unknown', reason: 'analysis 1: ok in 1 of 3 readings' });
  });

  it('unknown at the end is never a pass, and nothing read is not one either', () => {
    expect(soakVerdict(observe({ latest: [] }, [sig('analysis 1', 'unknown')])).outcome).toBe('unknown');
    expect(soakVerdict({ latest: [] }).outcome).toBe('unknown');
  });

  it('the time left counts from the recorded start, not from a rerun', () => {
    const s = { batch: 0, startedAt: '2026-12-02T10:00:00.000Z', ms: 300_000 };
    expect(soakRemainingMs(s, Date.parse('2026-12-02T10:01:00.000Z'))).toBe(240_000);
    expect(soakRemainingMs(s, Date.parse('2026-12-02T11:00:00.000Z'))).toBe(0);
  });
});

describe('the query variables', () => {
  it('puts in the batch, every upgraded pod and the namespace, with regex characters escaped for a double-quoted string', () => {
    expect(expandQuery('x{pod=~"$PODS",namespace="$NAMESPACE"} / y{pod=~"$UPGRADED"}', { pods: ['gw-0', 'gw-1'], upgraded: ['gw-0', 'gw-1', 'gw-3'], namespace: 'prod' })).toBe(
      'x{pod=~"gw-0|gw-1",namespace="prod"} / y{pod=~"gw-0|gw-1|gw-3"}',
    );
    expect(expandQuery('{pod=~"$PODS"}', { pods: ['a.b-0'], upgraded: [], namespace: 'n' })).toBe('{pod=~"a\\\\.b-0"}');
    // A word that only starts like a variable stays.
    expect(expandQuery('$PODSX $NAMESPACE', { pods: ['p'], upgraded: [], namespace: 'n' })).toBe('$PODSX n');
  });
});

describe('the soak in the record', () => {
  const base = (): UpgradeRecord => ({
    version: 2, statefulSet: 'gw', startedAt: '2026-12-02T10:00:00.000Z', startedBy: 'alice', originalReplicas: 2, ordinalsStart: 0, surge: 1, batchSize: 1,
    originalRevision: 'gw-1', targetRevision: 'gw-2', originalImages: [{ name: 'app', image: 'a:1' }], targetImages: [{ name: 'app', image: 'a:2' }], services: [], batches: planBatches(0, 2, 1), soakMs: 60_000,
  });

  it('survives the annotation round trip, failed or under way', () => {
    const r = { ...base(), batches: [{ ...base().batches[0]!, phase: 'done' as const }, base().batches[1]!], soak: { batch: 0, startedAt: '2026-12-02T10:05:00.000Z', ms: 60_000, restartsAtStart: { 'gw-0/app': 1 }, failed: { at: '2026-12-02T10:05:30.000Z', reason: 'analysis 1: 0.05 (<= 0.01)' } } };
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
  });

  it('is written as version 3 only when it holds a soak, so that a plugin without the soak gate refuses it rather than walk past a failed soak', () => {
    const plain = { ...base(), soakMs: undefined };
    expect(JSON.parse(encodeRecord(plain)).version).toBe(2);
    expect(JSON.parse(encodeRecord(base())).version).toBe(3);
    expect(JSON.parse(encodeRecord({ ...plain, soak: { batch: -1, startedAt: '2026-12-02T10:05:00.000Z', ms: 1000 } })).version).toBe(3);
    expect(JSON.parse(encodeRecord({ ...plain, surgeSoaked: true })).version).toBe(3);
  });

  it('goes when the upgrade is turned back: the walk back does not soak', () => {
    const r = { ...base(), batches: [{ ...base().batches[0]!, phase: 'done' as const }, base().batches[1]!], soak: { batch: 0, startedAt: '2026-12-02T10:05:00.000Z', ms: 60_000 } };
    const back = rollbackRecord(r, [pod(0, { revision: 'gw-2' }), pod(1, { revision: 'gw-1' })], '2026-12-02T10:06:00.000Z', 'bob');
    expect(back.soak).toBeUndefined();
    expect(back.batches.map((b) => b.ordinals)).toEqual([[0]]);
  });
});
