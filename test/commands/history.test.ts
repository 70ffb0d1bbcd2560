// `history` over what the walk wrote: every upgrade, newest first, and one in detail with each
// confirmation; and the history as the walk leaves it after each way out.
import { describe, expect, it } from 'vitest';
import { main } from '../../src/app.js';
import { fakeDeps } from '../support/fakes.js';
import { DRAIN, historyOf, ok, oneBatch, run, settled } from '../support/walk.js';

const upgrade = async (c: ReturnType<typeof settled>, image: string, end: 'finish' | 'abort' = 'finish') => {
  await ok(c, ['start', 'gw', '--image', `gw=${image}`]);
  // An abort before any batch: the pods stay on one revision, so the next upgrade may start.
  if (end === 'finish') await ok(c, ['next', 'gw', ...DRAIN]);
  await ok(c, [end, 'gw', ...DRAIN]);
};

describe('the upgrade history', () => {
  it('keeps every upgrade and every way it ended, each batch with who confirmed it and how', async () => {
    const c = settled('gw', 3);
    await upgrade(c, 'gw:2');
    await upgrade(c, 'gw:3', 'abort');
    await ok(c, ['start', 'gw', '--image', 'gw=gw:4']);
    await oneBatch(c);
    await ok(c, ['rollback', 'gw', ...DRAIN]);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    const h = historyOf(c);
    expect(h.map((e) => [e.number, e.outcome, e.fromImages[0]!.image, e.toImages[0]!.image, e.endedBy])).toEqual([
      [1, 'finished', 'gw:1', 'gw:2', 'tester'],
      [2, 'aborted', 'gw:2', 'gw:3', 'tester'],
      [3, 'rolled back', 'gw:2', 'gw:4', 'tester'],
    ]);
    expect(h[0]!.batches.map((b) => [b.walk, b.number, b.ordinals, b.confirmation?.by, b.confirmation?.how])).toEqual([
      ['forward', 1, '0', 'tester', 'yes'],
      ['forward', 2, '1', 'tester', 'yes'],
      ['forward', 3, '2', 'tester', 'yes'],
    ]);
    for (const b of h[0]!.batches) for (const at of [b.drainedAt, b.confirmation!.at, b.rebuiltAt, b.restoredAt]) expect(at).toMatch(/^2\d{3}-/);
    expect(h[0]!.surgeDrain).toMatchObject({ ordinals: '3', confirmation: { by: 'tester', how: 'yes' } });
    expect(h[1]!.batches).toEqual([]);
    expect(h[1]!.surgeDrain).toMatchObject({ ordinals: '3', confirmation: { how: 'yes' } });
    expect(h[2]!.rollback?.by).toBe('tester');
    expect(h[2]!.batches.map((b) => `${b.walk} ${b.ordinals}`)).toEqual(['forward 0', 'back 0']);
    expect(h[0]!.toRevision).toBe(c.revisionOf([{ name: 'gw', image: 'gw:2' }]));
  });

  it('lists newest first, shows one upgrade in detail, and as JSON', async () => {
    const c = settled('gw', 2);
    await upgrade(c, 'gw:2');
    await upgrade(c, 'gw:3');
    const list = await ok(c, ['history', 'gw']);
    const lines = list.out.split('\n').filter((l) => /│ [12] /.test(l));
    expect(lines.map((l) => l.match(/│ (\d) /)![1])).toEqual(['2', '1']);
    expect(lines[0]).toContain('gw=gw:3');
    expect(lines[0]).toContain('finished');
    const detail = await ok(c, ['history', 'gw', '--upgrade', '1']);
    expect(detail.out).toContain('Upgrade 1 of statefulset gw: finished');
    expect(detail.out).toMatch(/│ 1 +│ 0 +│ .*tester --yes/);
    expect(detail.out).toMatch(/│ surge +│ 2 /);
    const json = JSON.parse((await ok(c, ['history', 'gw', '-o', 'json'])).out);
    expect(json.map((e: { number: number }) => e.number)).toEqual([2, 1]);
    const one = JSON.parse((await ok(c, ['history', 'gw', '--upgrade', '2', '-o', 'json'])).out);
    expect(one.batches).toHaveLength(2);
  });

  it('answers with one read of the history, whatever the StatefulSet', async () => {
    const c = settled('gw', 2);
    await upgrade(c, 'gw:2');
    c.calls.length = 0;
    await ok(c, ['history', 'gw']);
    expect(c.calls).toEqual(['get configmap zerolossupgrade-history-gw']);
  });

  it.each([
    [['history', 'gw', '--upgrade', '7'], /no upgrade 7 in its history \(it has: 1\)/],
    [['history', 'gw', '--upgrade', '0'], /--upgrade takes the number of an upgrade/],
    [['history', 'gw', '-o', 'xml'], /unknown output format "xml"/],
  ])('%j is refused', async (args, message) => {
    const c = settled('gw', 2);
    await upgrade(c, 'gw:2');
    const r = await run(c, args);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(message);
  });

  it('says so when nothing is on record', async () => {
    const c = settled('gw', 2);
    const deps = fakeDeps(c);
    expect(await main(['history', 'gw'], deps)).toBe(0);
    expect(deps.io.stdout.text).toContain('no upgrades of statefulset "gw"');
  });

  it('a confirmation that cannot be put on record deletes nothing; the rerun writes it and goes on', async () => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    c.configMapError = Object.assign(new Error('forbidden: you may not update configmaps'), { status: 403 });
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('could not write the upgrade history (configmap "zerolossupgrade-history-gw"): forbidden');
    expect(c.pods.filter((p) => p.ordinal < 2).map((p) => `${p.uid} ${p.containers[0]!.image}`)).toEqual(['gw-uid-0 gw:1', 'gw-uid-1 gw:1']);
    expect(c.mutations.some((m) => m.startsWith('delete') || m.startsWith('evict'))).toBe(false);
    c.configMapError = undefined;
    await ok(c, ['next', 'gw', ...DRAIN]);
    expect(historyOf(c)[0]!.batches.map((b) => b.ordinals)).toEqual(['0', '1']);
  });

  it('a colleague writing the history meanwhile loses nothing: the write reads again and applies its change again', async () => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    const write = c.writeConfigMap.bind(c);
    let first = true;
    c.writeConfigMap = async (name, rv, data, labels) => {
      if (first) {
        first = false;
        // Someone else's edit lands between our read and our write.
        const cm = c.configMaps.get(name)!;
        c.configMaps.set(name, { ...cm, data: { ...cm.data, note: 'kept' }, resourceVersion: String(Number(cm.resourceVersion) + 500) });
      }
      return write(name, rv, data, labels);
    };
    await ok(c, ['next', 'gw', ...DRAIN]);
    expect(c.configMaps.get('zerolossupgrade-history-gw')!.data.note).toBe('kept');
    expect(historyOf(c)[0]!.batches).toHaveLength(2);
  });
});
