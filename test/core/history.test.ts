import { describe, expect, it } from 'vitest';
import { HISTORY_KEEP, decodeHistory, entryOf, evidenceLine, fitHistory, historyConfirmation, historyPatch, takenNumbers, withBatch, withEntry, type HistoryEntry } from '../../src/core/history.js';
import { RECORD_VERSION, advance, planBatches, rollbackRecord, type UpgradeRecord } from '../../src/core/upgrade.js';

const record = (overrides: Partial<UpgradeRecord> = {}): UpgradeRecord => ({
  version: RECORD_VERSION, statefulSet: 'gw', startedAt: '2026-11-26T10:00:00.000Z', startedBy: 'alice',
  originalReplicas: 4, ordinalsStart: 0, surge: 1, batchSize: 1,
  originalRevision: 'gw-1', targetRevision: 'gw-2',
  originalImages: [{ name: 'gw', image: 'gw:1' }], targetImages: [{ name: 'gw', image: 'gw:2' }],
  services: [], batches: planBatches(0, 4, 1), ...overrides,
});
const confirmation = (by: string, how: 'prompt' | 'yes' | 'evidence' | 'forced-after-timeout' = 'prompt', drained = true) =>
  historyConfirmation({ by, at: '2026-11-26T10:05:00.000Z', weightZero: true, connectionsDrained: drained, afterSeconds: 40, how });
const walked = (e: HistoryEntry, r: UpgradeRecord, index: number, by = 'alice', how: Parameters<typeof confirmation>[1] = 'prompt', drained = true) =>
  withBatch(e, r, index, { drainedAt: `d${index}`, confirmation: confirmation(by, how, drained), rebuiltAt: `b${index}`, restoredAt: `r${index}` });

describe('history entries', () => {
  it('opens an entry per upgrade, numbered on, found again by its start', () => {
    let h = withEntry([], record(), (e) => e);
    const second = record({ startedAt: '2026-11-27T10:00:00.000Z', startedBy: 'bob' });
    h = withEntry(h, second, (e) => e);
    expect(h.map((e) => [e.number, e.startedBy, e.outcome])).toEqual([[1, 'alice', 'in progress'], [2, 'bob', 'in progress']]);
    h = withEntry(h, record(), (e) => ({ ...e, outcome: 'finished' }));
    expect(h.map((e) => [e.number, e.outcome])).toEqual([[1, 'finished'], [2, 'in progress']]);
    expect(entryOf(h, second)!.number).toBe(2);
  });

  it('records a batch once however often its steps are written (a rerun after a crash)', () => {
    const r = record();
    let h = withEntry([], r, (e) => withBatch(e, r, 0, { drainedAt: 'd0', confirmation: confirmation('alice') }));
    h = withEntry(h, r, (e) => withBatch(e, r, 0, { rebuiltAt: 'b0', restoredAt: 'r0' }));
    h = withEntry(h, r, (e) => withBatch(e, r, 0, { rebuiltAt: 'b0', restoredAt: 'r0' }));
    expect(h[0]!.batches).toEqual([{ walk: 'forward', number: 1, ordinals: '0', drainedAt: 'd0', confirmation: confirmation('alice'), rebuiltAt: 'b0', restoredAt: 'r0' }]);
  });

  it('keeps a walk back apart from the walk forward, and the from and to of the upgrade', () => {
    let r = record();
    for (const to of ['drained', 'confirmed', 'deleting', 'rebuilt', 'done'] as const) r = advance(r, 0, to);
    let h = withEntry([], r, (e) => walked(e, r, 0));
    const back = rollbackRecord(r, [], 'T9', 'bob');
    h = withEntry(h, back, (e) => walked({ ...e, rollback: { at: 'T9', by: 'bob' } }, back, 0, 'bob'));
    expect(h).toHaveLength(1);
    expect(h[0]!.batches.map((b) => [b.walk, b.number, b.ordinals, b.confirmation!.by])).toEqual([['forward', 1, '0', 'alice'], ['back', 1, '0', 'bob']]);
    expect([h[0]!.fromRevision, h[0]!.toRevision]).toEqual(['gw-1', 'gw-2']);
    // An entry first written from a turned-around record (an older plugin's upgrade) still says from and to rightly.
    const late = withEntry([], back, (e) => e)[0]!;
    expect([late.fromRevision, late.toRevision, late.fromImages[0]!.image, late.toImages[0]!.image]).toEqual(['gw-1', 'gw-2', 'gw:1', 'gw:2']);
  });

  it('names an undo and the upgrade it walks back', () => {
    const h = withEntry([], record({ undo: { upgrade: 3 } }), (e) => e);
    expect([h[0]!.kind, h[0]!.undoOf]).toEqual(['undo', 3]);
  });

  it('says how many pods the evidence found drained, and names the others', () => {
    const verdicts = [{ pod: 'gw-0', state: 'drained' as const, reasons: [] }, { pod: 'gw-1', state: 'not-yet' as const, reasons: ['2 connections'] }];
    expect(evidenceLine({ verdicts: verdicts.slice(0, 1), zeroPoints: 3, periodSeconds: 60 })).toBe('1 of 1 pods drained (3 zero points of 60s)');
    expect(evidenceLine({ verdicts, zeroPoints: 3, periodSeconds: 60 })).toBe('1 of 2 pods drained (3 zero points of 60s); gw-1 not-yet (2 connections)');
  });
});

describe('history bounds', () => {
  it(`keeps the last ${HISTORY_KEEP} upgrades`, () => {
    let h: HistoryEntry[] = [];
    for (let i = 0; i < HISTORY_KEEP + 3; i++) h = withEntry(h, record({ startedAt: `2026-11-${String(i + 1).padStart(2, '0')}` }), (e) => ({ ...e, outcome: 'finished' }));
    expect(h.map((e) => e.number)).toEqual(Array.from({ length: HISTORY_KEEP }, (_, i) => i + 4));
  });

  it('over its size folds batches that say the same thing, never a forced or undrained one, and keeps older upgrades when that suffices', () => {
    const n = 400;
    const r = record({ originalReplicas: n, batches: planBatches(0, n, 1) });
    let e = withEntry([], record({ startedAt: 'older' }), (x) => x)[0]!;
    const older = e;
    e = { ...withEntry([older], r, (x) => x)[1]! };
    for (let i = 0; i < n; i++) e = walked(e, r, i, i < 200 ? 'alice' : 'bob', i === 100 ? 'forced-after-timeout' : 'prompt', i !== 300);
    const full = [older, e];
    const bytes = JSON.stringify(e).length;
    const fitted = fitHistory(full, e.number, Math.floor(bytes / 2));
    expect(fitted.map((x) => x.number)).toEqual([older.number, e.number]);
    const batches = fitted[1]!.batches;
    expect(JSON.stringify(fitted).length).toBeLessThan(bytes / 2);
    expect(batches.length).toBeLessThan(n);
    // Every ordinal still accounted for, in order, and the forced and the undrained ones stand alone.
    expect(batches[0]).toMatchObject({ ordinals: '0-99', folded: 100, confirmation: { by: 'alice' } });
    const ordinals = batches.flatMap((b) => b.ordinals.split(',').flatMap((run) => { const [a, z = a] = run.split('-').map(Number); return Array.from({ length: z! - a! + 1 }, (_, k) => a! + k); }));
    expect(ordinals).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(batches.find((b) => b.ordinals === '100')).toMatchObject({ confirmation: { how: 'forced-after-timeout' } });
    expect(batches.find((b) => b.ordinals === '300')).toMatchObject({ confirmation: { connectionsDrained: false } });
    expect(batches.filter((b) => b.folded).every((b) => b.confirmation!.by === (Number(b.ordinals.split('-')[0]) < 200 ? 'alice' : 'bob'))).toBe(true);
    expect(batches.some((b) => (b.folded ?? 0) > 1)).toBe(true);
    // Folding stops once within the bound: the newest batches keep their own lines.
    expect(batches[batches.length - 1]!.folded).toBeUndefined();
  });

  it('leaves out the oldest batches, counted, when nothing folds', () => {
    const n = 200;
    const r = record({ originalReplicas: n, batches: planBatches(0, n, 1) });
    let e = withEntry([], r, (x) => x)[0]!;
    for (let i = 0; i < n; i++) e = walked(e, r, i, `person-${i}`);
    const fitted = fitHistory([e], e.number, 8000)[0]!;
    expect(JSON.stringify(fitted).length).toBeLessThanOrEqual(8000);
    expect(fitted.omittedBatches).toBe(n - fitted.batches.length);
    expect(fitted.batches[fitted.batches.length - 1]!.ordinals).toBe(String(n - 1));
  });

  it('stays within 512 KiB at 5000 replicas, batch 1', () => {
    const n = 5000;
    const r = record({ originalReplicas: n, batches: planBatches(0, n, 1) });
    let h = withEntry([], r, (x) => x);
    for (let i = 0; i < n; i++) h = withEntry(h, r, (e) => walked(e, r, i, 'alice', 'evidence'));
    expect(Object.entries(historyPatch(h)).reduce((n, [k, v]) => n + k.length + (v ?? '').length, 0)).toBeLessThan(512 * 1024);
    expect(h[0]!.omittedBatches).toBeUndefined();
  }, 60_000);
});

describe('history encoding', () => {
  it('one key per upgrade, read back oldest first; a patch names only what changed', () => {
    const h = withEntry(withEntry([], record(), (e) => e), record({ startedAt: 'later' }), (e) => e);
    const data = historyPatch(h) as Record<string, string>;
    expect(Object.keys(data)).toEqual(['upgrade-1', 'upgrade-2']);
    expect(decodeHistory({ ...data, unrelated: 'x' })).toEqual({ entries: h, unreadable: [] });
    const changed = withEntry(h, record(), (e) => ({ ...e, outcome: 'finished' }));
    expect(Object.keys(historyPatch(changed, data))).toEqual(['upgrade-1']);
  });

  it('removes an entry left out by the bounds, and never a key that is not one of its entries', () => {
    const h = withEntry([], record(), (e) => e);
    const live = { ...(historyPatch(h) as Record<string, string>), 'upgrade-7': JSON.stringify({ ...h[0], number: 7 }), note: 'kept', 'upgrade-policy': 'weekends only' };
    const patch = historyPatch(h.slice(0, 0).concat(h), live);
    expect(patch).toEqual({ 'upgrade-7': null });
  });

  it('an entry that does not read (edited by hand) is left as it is, and its number is not reused', () => {
    const live = { 'upgrade-1': '{', 'upgrade-policy': 'weekends only' };
    const read = decodeHistory(live);
    expect(read).toEqual({ entries: [], unreadable: ['upgrade-1', 'upgrade-policy'] });
    const h = withEntry(read.entries, record(), (e) => e, takenNumbers(read));
    expect(h[0]!.number).toBe(2);
    expect(Object.keys(historyPatch(h, live))).toEqual(['upgrade-2']);
  });
});

describe('a batch confirmed again', () => {
  it('keeps the earlier confirmation (the drain was undone and confirmed anew; pods may have left under either)', () => {
    const r = record();
    let e = withEntry([], r, (x) => withBatch(x, r, 0, { drainedAt: 'd0', confirmation: confirmation('alice', 'forced-after-timeout', false) }))[0]!;
    e = withBatch(e, r, 0, { drainedAt: 'd1', confirmation: confirmation('bob') });
    e = withBatch(e, r, 0, { drainedAt: 'd1', confirmation: confirmation('bob') });
    expect(e.batches).toHaveLength(1);
    expect(e.batches[0]!.confirmation!.by).toBe('bob');
    expect(e.batches[0]!.superseded!.map((c) => [c.by, c.how])).toEqual([['alice', 'forced-after-timeout']]);
  });
});

describe('folding', () => {
  it('a restore written again after its batch was folded (a crash before the record said done) adds no second line', () => {
    const r = record({ originalReplicas: 2, batches: planBatches(0, 2, 1) });
    let e = withEntry([], r, (x) => x)[0]!;
    for (let i = 0; i < 2; i++) e = walked(e, r, i, 'alice', 'yes');
    const folded = fitHistory([e], e.number, JSON.stringify(e).length - 10)[0]!;
    expect(folded.batches).toHaveLength(1);
    expect(folded.batches[0]!.folded).toBe(2);
    const again = withBatch(folded, r, 1, { rebuiltAt: 'b1', restoredAt: 'r1' });
    expect(again.batches).toEqual(folded.batches);
  });

  it('folds the current upgrade before older upgrades are dropped', () => {
    const n = 300;
    const r = record({ originalReplicas: n, batches: planBatches(0, n, 1) });
    let h: HistoryEntry[] = [];
    for (let i = 0; i < 3; i++) h = withEntry(h, record({ startedAt: `older-${i}` }), (x) => ({ ...x, outcome: 'finished' }));
    let e = withEntry(h, r, (x) => x).at(-1)!;
    for (let i = 0; i < n; i++) e = walked(e, r, i, 'alice', 'evidence');
    const full = [...h, e];
    const fitted = fitHistory(full, e.number, Math.floor(JSON.stringify(full).length / 3));
    expect(fitted.map((x) => x.number)).toEqual([1, 2, 3, 4]);
    expect(fitted.at(-1)!.batches.length).toBeLessThan(n);
  });

  it('never folds a confirmation the evidence did not back (the person overrode it)', () => {
    const r = record({ originalReplicas: 4, batches: planBatches(0, 4, 1) });
    let e = withEntry([], r, (x) => x)[0]!;
    for (let i = 0; i < 4; i++) {
      const evidence = i === 1 ? '0 of 1 pods drained (3 zero points of 60s); gw-1 not-yet (12 connections)' : '1 of 1 pods drained (3 zero points of 60s)';
      e = withBatch(e, r, i, { drainedAt: `d${i}`, confirmation: { ...confirmation('alice'), evidence }, rebuiltAt: `b${i}`, restoredAt: `r${i}` });
    }
    const fitted = fitHistory([e], e.number, 10)[0]!;
    // Folded as far as it goes, then the oldest left out: the override never merged into a fold.
    expect([...fitted.batches.map((b) => b.confirmation!.evidence)].every((ev) => ev !== 'every pod drained by the evidence')).toBe(true);
    const withOverride = fitHistory([e], e.number, JSON.stringify(e).length - 50)[0]!;
    expect(withOverride.batches.map((b) => b.ordinals)).toEqual(['0', '1', '2-3']);
  });
});
