import { describe, expect, it } from 'vitest';
import { RecordError, advance, confirmationText, currentBatchIndex, decodeRecord, drainedOrdinals, encodeRecord, planBatches, serviceAnnotation, surgeOrdinals, type UpgradeRecord } from '../../src/core/upgrade.js';

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

  it('derives each Service annotation from the original and the drained ordinals only', () => {
    const original = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"edge","weights":[{"weight":0,"podIndexes":[0]}]}]}]}';
    let r = record({ services: [{ name: 'gw', ports: [{ proto: 'TCP', port: 80 }], original }] });
    expect(serviceAnnotation(r, r.services[0]!)).toBe(original);
    r = advance(r, 0, 'drained');
    expect(JSON.parse(serviceAnnotation(r, r.services[0]!)!).groups[0].statefulSets[1]).toEqual({ name: 'gw', weights: [{ weight: 0, podIndexes: [0, 1] }] });
    r = advance(advance(advance(advance(r, 0, 'confirmed'), 0, 'deleting'), 0, 'rebuilt'), 0, 'done');
    expect(serviceAnnotation(r, r.services[0]!)).toBe(original);
    r = { ...r, finish: { phase: 'drained', drainedAt: 'T' } };
    expect(JSON.parse(serviceAnnotation(r, r.services[0]!)!).groups[0].statefulSets[1].weights).toEqual([{ weight: 0, podIndexes: [5] }]);
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
    // ordinal 0 upgraded, 1 drained (pod maybe new already), 5 is the surge pod
    const back = rollbackRecord(r, [0, 1, 5], 'T2', 'bob');
    expect(back.targetImages).toEqual(r.originalImages);
    expect(back.originalImages).toEqual(r.targetImages);
    expect(back.targetRevision).toBe('gw-1');
    expect(back.batches).toEqual([
      { ordinals: [1], phase: 'drained', drainedAt: 'T1' },
      { ordinals: [0], phase: 'pending' },
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
