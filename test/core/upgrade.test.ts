import { describe, expect, it } from 'vitest';
import { mergeWeights } from '../../src/core/rs-weight.js';
import { RECORD_VERSION, RecordError, advance, capturePriors, confirmationText, currentBatchIndex, decodeRecord, driftOf, drainedOrdinals, encodeRecord, expectedReplicas, planBatches, reconcileServices, redrain, servingOrdinals, surgeOrdinals, weightChange, type UpgradeRecord } from '../../src/core/upgrade.js';
import { pod, service, statefulSet } from '../support/fakes.js';

const record = (overrides: Partial<UpgradeRecord> = {}): UpgradeRecord => ({
  version: RECORD_VERSION, statefulSet: 'gw', startedAt: '2026-11-26T10:00:00Z', startedBy: 'alice',
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
  it('round-trips a record in every phase of a batch', () => {
    let r = record();
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
    r = advance(r, 0, 'drained', { drainedAt: 'T1', prior: { 'gw TCP/80': [5, null] } });
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
    r = advance(advance(r, 0, 'confirmed', { confirmation: { by: 'alice', at: 'T2', weightZero: true, connectionsDrained: true, afterSeconds: 30, how: 'prompt' } }), 0, 'deleting', { deleted: [{ pod: 'gw-0', uid: 'u0' }] });
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
  });

  it('keeps only the batch in flight in full: a batch walked is a count (its story is in the history)', () => {
    let r = record();
    for (const to of ['drained', 'confirmed', 'deleting', 'rebuilt', 'done'] as const) r = advance(r, 0, to, { drainedAt: 'T1' });
    const back = decodeRecord(encodeRecord(r));
    expect(back.batches.map((b) => [b.ordinals, b.phase])).toEqual([[[0, 1], 'done'], [[2, 3], 'pending'], [[4], 'pending']]);
    expect(back.batches[0]).toEqual({ ordinals: [0, 1], phase: 'done' });
  });

  it('keeps the order and the first batch of a walk back (a drained batch first, then what is left in batches)', () => {
    const r = record({ batchSize: 2, batches: [{ ordinals: [3], phase: 'drained', drainedAt: 'T' }, { ordinals: [0, 1], phase: 'pending' }, { ordinals: [4, 2], phase: 'pending' }] });
    expect(decodeRecord(encodeRecord(r))).toEqual(r);
    expect(JSON.parse(encodeRecord(r)).plan).toEqual({ ordinals: '3,0-1,4,2', first: 1 });
  });

  it('refuses to write batches it could not read back', () => {
    expect(() => encodeRecord(record({ batches: [{ ordinals: [0], phase: 'pending' }, { ordinals: [1, 2, 3], phase: 'pending' }] }))).toThrow(RecordError);
    expect(() => encodeRecord(record({ batches: [{ ordinals: [0, 1], phase: 'pending' }, { ordinals: [2, 3], phase: 'drained' }] }))).toThrow(RecordError);
  });

  it('reads a version 1 record (every batch in full) and writes it back as version 2', () => {
    const v1 = { ...record(), version: 1, batches: [{ ordinals: [0, 1], phase: 'done', confirmation: { by: 'bob' } }, { ordinals: [2, 3], phase: 'drained', drainedAt: 'T' }, { ordinals: [4], phase: 'pending' }] };
    const r = decodeRecord(JSON.stringify(v1));
    expect(r.version).toBe(RECORD_VERSION);
    expect(r.batches[1]).toEqual({ ordinals: [2, 3], phase: 'drained', drainedAt: 'T' });
    const again = JSON.parse(encodeRecord(r));
    expect([again.version, again.done, again.plan]).toEqual([2, 1, { ordinals: '0-4' }]);
  });

  it.each([
    ['{', /not valid JSON/],
    ['{"version":4}', /version 4; this plugin reads versions 1 to 3/],
    ['{"version":2}', /incomplete/],
    ['{"version":1}', /incomplete/],
    ['{"version":2,"statefulSet":"gw","originalRevision":"r","services":[],"batchSize":1,"plan":{"ordinals":"0-x"},"done":0}', /incomplete/],
    ['{"version":2,"statefulSet":"gw","originalRevision":"r","services":[],"batchSize":1,"plan":{"ordinals":"0-1"},"done":3}', /incomplete/],
  ])('refuses %s', (text, message) => {
    expect(() => decodeRecord(text)).toThrow(message);
  });
});

describe('record size', () => {
  // Kubernetes allows 256 KiB for all annotations of an object together; the record must stay far below at any scale.
  const LIMIT = 8 * 1024;
  const live = (ordinals: number) => [service({ name: 'gw', annotations: { 'service.cloud.tencent.com/lb-rs-weight': JSON.stringify({ defaultWeight: 10, groups: [{ key: { proto: 'TCP', port: 80 }, statefulSets: [{ name: 'gw', weights: [{ weight: 7, podIndexes: Array.from({ length: ordinals }, (_, i) => i) }] }] }] }) } })];
  it.each([1000, 5000])('stays under 8 KiB through a full walk of %d replicas, batch 1, with evidence', (replicas) => {
    let r = record({ originalReplicas: replicas, batchSize: 1, batches: planBatches(0, replicas, 1), services: [{ name: 'gw', ports: [{ proto: 'TCP', port: 80 }, { proto: 'TCP', port: 443 }], original: null }] });
    const services = live(3);
    let largest = 0;
    let fullSize = 0;
    for (let i = 0; i < replicas; i++) {
      const o = r.batches[i]!.ordinals;
      const evidence = { verdicts: o.map((x) => ({ pod: `gw-${x}`, state: 'drained' as const, reasons: ['weight 0 on 2 listeners', '0 connections in 3 points'] })), zeroPoints: 3, periodSeconds: 60 };
      const steps: [Parameters<typeof advance>[2], Parameters<typeof advance>[3]][] = [
        ['drained', { drainedAt: '2026-11-26T10:00:00.000Z', prior: capturePriors(r, services, o) }],
        ['confirmed', { confirmation: { by: 'system:serviceaccount:platform:release-bot', at: '2026-11-26T10:01:00.000Z', weightZero: true, connectionsDrained: true, afterSeconds: 180, how: 'evidence', evidence } }],
        ['deleting', { deleted: o.map((x) => ({ pod: `gw-${x}`, uid: '0f8e2c1a-1234-4abc-9def-0123456789ab' })) }],
        ['rebuilt', { rebuiltAt: '2026-11-26T10:02:00.000Z' }],
        ['done', { doneAt: '2026-11-26T10:03:00.000Z' }],
      ];
      for (const [to, fields] of steps) {
        r = advance(r, i, to, fields);
        largest = Math.max(largest, encodeRecord(r).length);
      }
    }
    // The record that kept every batch in full would be far past the limit of all annotations (the control).
    fullSize = JSON.stringify(r).length;
    expect(fullSize).toBeGreaterThan(262_144);
    expect(largest).toBeLessThan(LIMIT);
    expect(largest).toBeGreaterThan(500);
    expect(decodeRecord(encodeRecord(r)).batches.filter((b) => b.phase === 'done')).toHaveLength(replicas);
  }, 60_000);
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
