import { describe, expect, it } from 'vitest';
import { mergeWeights } from '../../src/core/rs-weight.js';
import { RecordError, advance, confirmationText, currentBatchIndex, decodeRecord, driftOf, drainedOrdinals, encodeRecord, expectedReplicas, planBatches, reconcileServices, redrain, servingOrdinals, surgeOrdinals, weightChange, type UpgradeRecord } from '../../src/core/upgrade.js';
import { pod, service, statefulSet } from '../support/fakes.js';

const record = (overrides: Partial<UpgradeRecord> = {}): UpgradeRecord => ({
  version: 1, statefulSet: 'gw', startedAt: '2026-11-26T10:00:00Z', startedBy: 'alice',
  originalReplicas: 5, ordinalsStart: 0, surge: 1, batchSize: 2,
  originalRevision: 'gw-1', targetRevision: 'gw-2',
  originalImages: [{ name: 'gw', image: 'gw:1' }], targetImages: [{ name: 'gw', image: 'gw:2' }],
  services: [{ name: 'gw', ports: [{ proto: 'TCP', port: 80 }], original: null }],
  batches: planBatches(0, 5, 2),
  ...overrides,
});

describe('planBatches', () => {
  it.each([
    [0, 5, 1, [[0], [1], [2], [3], [4]]],
    [0, 5, 2, [[0, 1], [2, 3], [4]]],
    [0, 10, 3, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]],
    [3, 4, 3, [[3, 4, 5], [6]]],
    [0, 2, 5, [[0, 1]]],
  ])('start %d, %d replicas, batch %d', (start, replicas, size, expected) => {
    expect(planBatches(start, replicas, size).map((b) => b.ordinals)).toEqual(expected);
  });
});

describe('surgeOrdinals', () => {
  it('are the ordinals right after the original replicas', () => {
    expect(surgeOrdinals({ ordinalsStart: 0, originalReplicas: 5, surge: 2 })).toEqual([5, 6]);
    expect(surgeOrdinals({ ordinalsStart: 10, originalReplicas: 3, surge: 1 })).toEqual([13]);
  });
});

describe('walking a batch', () => {
  it('goes through every phase in order and refuses to skip one', () => {
    let r = record();
    expect(currentBatchIndex(r)).toBe(0);
    expect(() => advance(r, 0, 'confirmed')).toThrow(RecordError);
    r = advance(r, 0, 'drained', { drainedAt: 'T1' });
    expect(drainedOrdinals(r)).toEqual([0, 1]);
    r = advance(r, 0, 'confirmed');
    r = advance(r, 0, 'deleting', { deleted: [{ pod: 'gw-0', uid: 'a' }] });
    r = advance(r, 0, 'rebuilt');
    expect(drainedOrdinals(r)).toEqual([0, 1]);
    r = advance(r, 0, 'done');
    expect(drainedOrdinals(r)).toEqual([]);
    expect(currentBatchIndex(r)).toBe(1);
    expect(() => advance(r, 0, 'done')).toThrow(/batch 1 is done/);
  });

  it('each write drains the batch in flight and gives back only what is being restored', () => {
    const original = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"edge","weights":[{"weight":0,"podIndexes":[0]}]}]}]}';
    let r = record({ services: [{ name: 'gw', ports: [{ proto: 'TCP', port: 80 }], original }] });
    const apply = (live: string | undefined, restoring: number[] = []) => mergeWeights(live, weightChange(r, r.services[0]!, restoring));
    expect(apply(original)).toBe(original);
    r = advance(r, 0, 'drained');
    const drained = apply(original)!;
    expect(JSON.parse(drained).groups[0].statefulSets[1]).toEqual({ name: 'gw', weights: [{ weight: 0, podIndexes: [0, 1] }] });
    r = advance(advance(advance(r, 0, 'confirmed'), 0, 'deleting'), 0, 'rebuilt');
    expect(weightChange(r, r.services[0]!, [0, 1]).drain).toEqual([]);
    const restored = apply(drained, [0, 1]);
    expect(restored).toBe(original);
    r = { ...advance(r, 0, 'done'), finish: { phase: 'drained', drainedAt: 'T' } };
    expect(JSON.parse(apply(restored)!).groups[0].statefulSets[1].weights).toEqual([{ weight: 0, podIndexes: [5] }]);
  });

  it('a port first seen mid-walk keeps its own baseline', () => {
    const r = record({ services: [{ name: 'gw', ports: [{ proto: 'TCP', port: 80 }, { proto: 'TCP', port: 443, baseline: '{"x":1}' }], original: null }] });
    expect(weightChange(r, r.services[0]!).ports).toEqual([
      { key: { proto: 'TCP', port: 80 }, baseline: undefined },
      { key: { proto: 'TCP', port: 443 }, baseline: '{"x":1}' },
    ]);
  });

  it('redrain sends a batch back to drained, dropping its confirmation', () => {
    let r = advance(advance(record(), 0, 'drained', { drainedAt: 'T0' }), 0, 'confirmed', { confirmation: { by: 'a', at: 'T1', weightZero: true, connectionsDrained: true, afterSeconds: 1 } });
    r = advance(r, 0, 'deleting', { deleted: [{ pod: 'gw-0', uid: 'u' }] });
    expect(redrain(r, 0, 'T9').batches[0]).toEqual({ ordinals: [0, 1], phase: 'drained', drainedAt: 'T9' });
    expect(() => advance(redrain(r, 0, 'T9'), 0, 'confirmed')).not.toThrow();
  });
});

describe('reconcileServices', () => {
  const live = (name: string, ports: number[], weights?: string) =>
    service({ name, ports: ports.map((port) => ({ protocol: 'TCP', port, targetPort: port })), annotations: { 'service.cloud.tencent.com/direct-access': 'true', ...(weights ? { 'service.cloud.tencent.com/lb-rs-weight': weights } : {}) } });
  const weightsOf = (s: ReturnType<typeof live>) => s.annotations['service.cloud.tencent.com/lb-rs-weight'];

  it('keeps the record as it is when nothing changed', () => {
    const r = record();
    expect(reconcileServices(r, [live('gw', [80])], weightsOf).record).toBe(r);
  });

  it('adds a new Service with its value now, a new port with its value now, and drops a removed Service', () => {
    const r = record({ services: [{ name: 'gw', ports: [{ proto: 'TCP', port: 80 }], original: null }, { name: 'old', ports: [{ proto: 'TCP', port: 80 }], original: null }] });
    const d = reconcileServices(r, [live('gw', [80, 443], '{"a":1}'), live('gw-internal', [8080], '{"b":2}')], weightsOf);
    expect(d.added).toEqual(['gw-internal']);
    expect(d.removed).toEqual(['old']);
    expect(d.newPorts).toEqual(['gw TCP/443']);
    expect(d.record.services).toEqual([
      { name: 'gw', ports: [{ proto: 'TCP', port: 80 }, { proto: 'TCP', port: 443, baseline: '{"a":1}' }], original: null },
      { name: 'gw-internal', ports: [{ proto: 'TCP', port: 8080 }], original: '{"b":2}' },
    ]);
  });
});

describe('driftOf', () => {
  const r = record();
  const sts = statefulSet({ replicas: 6, updateRevision: 'gw-2' });
  it.each([
    ['nothing', {}, undefined],
    ['updateStrategy', { updateStrategy: 'RollingUpdate' }, /now has updateStrategy RollingUpdate: its controller replaces pods itself/],
    ['replicas', { replicas: 8 }, /has 8 replicas, but the walk expects 6 .* kubectl scale statefulset gw --replicas 6/],
    ['a third revision', { updateRevision: 'gw-3' }, /template of statefulset "gw" changed during the walk: revision gw-3, not gw-2 .* rollback gw, or stop with kubectl zerolossupgrade abort gw/],
  ] as const)('%s', (_, change, message) => {
    const drift = driftOf(r, { ...sts, ...change });
    if (message === undefined) expect(drift).toBeUndefined();
    else expect(drift).toMatch(message);
  });

  it('expects the original replicas once finish scaled back, and serves the surge until then', () => {
    expect(expectedReplicas(r)).toBe(6);
    expect(servingOrdinals(r, [0, 1])).toEqual([2, 3, 4, 5]);
    const scaled = { ...r, finish: { phase: 'scaled' as const, drainedAt: 'T' } };
    expect(expectedReplicas(scaled)).toBe(5);
    expect(servingOrdinals(scaled, [])).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('record encoding', () => {
  it('round-trips', () => {
    const r = record();
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
  });
  it.each([
    ['{', /not valid JSON/],
    ['{"version":2}', /version 2; this plugin reads version 1/],
    ['{"version":1}', /incomplete/],
  ])('refuses %s', (text, message) => {
    expect(() => decodeRecord(text)).toThrow(message);
  });
});

describe('rollbackRecord', () => {
  it('turns the walk around: targets swap, upgraded ordinals walk back, a batch caught mid-walk stays drained', async () => {
    const { rollbackRecord } = await import('../../src/core/upgrade.js');
    let r = record({ batchSize: 1, batches: planBatches(0, 5, 1) });
    for (const to of ['drained', 'confirmed', 'deleting', 'rebuilt', 'done'] as const) r = advance(r, 0, to, to === 'drained' ? { drainedAt: 'T0' } : {});
    r = advance(r, 1, 'drained', { drainedAt: 'T1' });
    // ordinal 0 upgraded, 1 drained (pod maybe new already), 3 on an intermediate revision, 5 is the surge pod
    const pods = [pod(0, { revision: 'gw-2' }), pod(1, { revision: 'gw-2' }), pod(2, { revision: 'gw-1' }), pod(3, { revision: 'gw-1b' }), pod(4, { revision: 'gw-1' }), pod(5, { revision: 'gw-2' })];
    const back = rollbackRecord(r, pods, 'T2', 'bob');
    expect(back.targetImages).toEqual(r.originalImages);
    expect(back.originalImages).toEqual(r.targetImages);
    expect(back.targetRevision).toBe('gw-1');
    expect(back.batches).toEqual([
      { ordinals: [1], phase: 'drained', drainedAt: 'T1' },
      { ordinals: [0], phase: 'pending' },
      { ordinals: [3], phase: 'pending' },
    ]);
    expect(drainedOrdinals(back)).toEqual([1]); // what stays at weight 0 across the turn
    expect(back.rollback).toEqual({ at: 'T2', by: 'bob', from: r.targetImages });
  });
});

describe('confirmationText', () => {
  const base = { by: 'alice', at: 'T', weightZero: true, connectionsDrained: true, afterSeconds: 42 };

  it('says what was confirmed, by whom, how and after how long', () => {
    expect(confirmationText(base)).toBe('weight 0 and connections drained, confirmed by alice 42s after the drain');
    expect(confirmationText({ ...base, how: 'prompt' })).toBe('weight 0 and connections drained, confirmed by alice 42s after the drain');
    expect(confirmationText({ ...base, how: 'yes' })).toBe('weight 0 and connections drained, confirmed by alice (--yes) 42s after the drain');
  });

  it('names the evidence it rested on, and a forced confirmation as such', () => {
    const evidence = { verdicts: [{ pod: 'gw-0', state: 'drained' as const, reasons: [] }, { pod: 'gw-1', state: 'not-yet' as const, reasons: ['2 connections on lb-1 TCP/80'] }], zeroPoints: 3, periodSeconds: 60 };
    expect(confirmationText({ ...base, how: 'evidence', evidence })).toBe(
      'weight 0 and connections drained, confirmed by alice on the drain evidence (--require-evidence) 42s after the drain; evidence: gw-0 drained, gw-1 not-yet (2 connections on lb-1 TCP/80)',
    );
    expect(confirmationText({ ...base, connectionsDrained: false, how: 'forced-after-timeout' })).toBe('weight 0, connections NOT drained, confirmed by alice FORCED after --drain-timeout 42s after the drain');
  });
});
