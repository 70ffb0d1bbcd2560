// Found by a second review of the walk: a rollback that stopped a finish, Services joining with the
// walk's own zeros, leaving Services, own scale-downs seen again, the lock, the dry-run restore.
import { describe, expect, it } from 'vitest';
import { RS_WEIGHT_ANNOTATION, weightOf } from '../../src/core/rs-weight.js';
import { FakeCluster, service } from '../support/fakes.js';
import { DRAIN, ok, oneBatch, recordOf, run, settled as cluster } from '../support/walk.js';

const DA = 'service.cloud.tencent.com/direct-access';
const TCP80 = { proto: 'TCP', port: 80 };

const annotationOf = (c: FakeCluster, svc = 'gw') => c.services.find((s) => s.name === svc)!.annotations[RS_WEIGHT_ANNOTATION];
const weightIn = (c: FakeCluster, svc: string, ordinal: number, sts = 'gw') => weightOf(annotationOf(c, svc), sts, TCP80, ordinal);
const died = () => Object.assign(new Error('the process died'), { code: 'ECONNRESET' });

/** finish drains the surge pod gw-2, then dies before its scale-down: a finish under way. */
async function finishUnderWay(c: FakeCluster) {
  const patch = c.patchStatefulSet.bind(c);
  c.patchStatefulSet = async (name, rv, change) => {
    if (change.replicas === 2) throw died();
    return patch(name, rv, change);
  };
  expect((await run(c, ['finish', 'gw', ...DRAIN])).code).toBe(1);
  c.patchStatefulSet = patch;
  expect(weightIn(c, 'gw', 2)).toBe(0);
}

/** rollback's template patch lands, then the process dies before the surge gets its weight back. */
async function rollbackDiesAfterPatch(c: FakeCluster) {
  const annotate = c.setServiceAnnotation.bind(c);
  let dead = true;
  c.setServiceAnnotation = async (...args) => {
    if (dead && recordOf(c)?.rollback) {
      dead = false;
      throw died();
    }
    return annotate(...args);
  };
  expect((await run(c, ['rollback', 'gw', ...DRAIN])).code).toBe(1);
  c.setServiceAnnotation = annotate;
  expect(recordOf(c).rollback).toBeDefined();
  expect(recordOf(c).finish).toBeUndefined();
  expect(weightIn(c, 'gw', 2)).toBe(0);
}

describe('a surge pod drained by a finish that a rollback stopped', () => {
  it('rollback killed before the surge restore, then abort: gw-2 must not be left at weight 0 for good', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    await finishUnderWay(c);
    await rollbackDiesAfterPatch(c);
    // The operator gives up on the walk back: abort. It drains the surge again, capturing as "before"
    // the 0 the stopped finish left, and gives that 0 back.
    await ok(c, ['abort', 'gw', ...DRAIN]);
    expect(recordOf(c)).toBeUndefined();
    // The Service had no lb-rs-weight before the upgrade.
    expect(annotationOf(c), annotationOf(c)).toBeUndefined();
    // And the next release is not refused as "a drain left by an upgrade whose record was lost".
    const again = await run(c, ['start', 'gw', '--image', 'gw=gw:3']);
    expect(again.code, again.err).toBe(0);
  });

  it('rollback killed before the surge restore, then the walk back with next: the surge pod serves during it and ends restored', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    await finishUnderWay(c);
    await rollbackDiesAfterPatch(c);
    const atEviction: number[] = [];
    c.beforeWrite = (what) => {
      if (what.startsWith('evict pod')) atEviction.push(weightIn(c, 'gw', 2));
    };
    // "Run again, it continues the walk back" -- with next, which walks the same batches.
    await ok(c, ['next', 'gw', ...DRAIN]);
    c.beforeWrite = () => undefined;
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(atEviction).toEqual([10, 10]);
    expect(annotationOf(c), annotationOf(c)).toBeUndefined();
  });

  it('a colleague gave the surge pod weight 50 before finish drained it: rollback gives back 50, not the baseline', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    c.otherWriter('gw', '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":50,"podIndexes":[2]}]}]}]}', 'kubectl-edit');
    await finishUnderWay(c);
    expect(recordOf(c).finish.prior).toEqual({ 'gw TCP/80': [50] });
    await ok(c, ['rollback', 'gw', ...DRAIN]);
    // "Weights read right before the drain, restored afterwards": the drain before was 50.
    expect(weightIn(c, 'gw', 2)).toBe(50);
  });
});

describe('a Service that joins the walk mid-drain with the walk\'s own zero in its value', () => {
  it('a Service cloned from the live one (kubectl get svc -o yaml) while gw-0 is drained: gw-0 is not kept at 0 on it for good', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    // While gw-0 is drained, a colleague creates gw-internal from the live manifest of gw: the copy
    // carries lb-rs-weight as it is now, with gw-0 at 0 -- the walk's drain, not anyone's choice.
    c.beforeWrite = (what) => {
      if (what !== 'evict pod gw-0') return;
      const live = c.services.find((s) => s.name === 'gw')!;
      expect(weightOf(live.annotations[RS_WEIGHT_ANNOTATION], 'gw', TCP80, 0)).toBe(0);
      c.services = [...c.services, { ...live, name: 'gw-internal', resourceVersion: String(++c.store.rv), annotationWriters: {} }];
    };
    await oneBatch(c);
    c.beforeWrite = () => undefined;
    await ok(c, ['next', 'gw', ...DRAIN]);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    // start refuses exactly this value as "a drain left by an upgrade whose record was lost";
    // mid-walk it was adopted as gw-internal's "before" and given back as 0.
    expect(weightIn(c, 'gw-internal', 0)).toBe(10);
  });
});

describe('two Services leave the walk at once while a pod is drained', () => {
  it('one is deleted, the other only stops being direct access: the second still gets its weights back', async () => {
    const c = cluster('gw', 2);
    // Record order: gw-a first, gw-b second.
    c.services = [service({ name: 'gw-a', resourceVersion: '7' }), service({ name: 'gw-b', resourceVersion: '8' }), service({ name: 'gw', resourceVersion: '9' })];
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    expect(recordOf(c).services.map((s: { name: string }) => s.name)).toEqual(['gw-a', 'gw-b', 'gw']);
    // While gw-0 is drained and being rebuilt: gw-a is deleted, gw-b has direct access turned off.
    c.beforeWrite = (what) => {
      if (what !== 'evict pod gw-0') return;
      c.services = c.services
        .filter((s) => s.name !== 'gw-a')
        .map((s) => (s.name === 'gw-b' ? { ...s, annotations: { ...s.annotations, [DA]: 'false' }, resourceVersion: String(++c.store.rv) } : s));
    };
    await oneBatch(c);
    c.beforeWrite = () => undefined;
    expect(recordOf(c).services.map((s: { name: string }) => s.name)).toEqual(['gw']);
    // gw-b left the walk: nothing of the walk may stay on it.
    expect(weightIn(c, 'gw-b', 0)).toBe(10);
  });
});

describe('a Service leaving the walk whose lb-rs-weight someone broke', () => {
  it('does not make every command, abort included, fail with an error that names no Service', async () => {
    const c = cluster('gw', 2);
    c.services = [service(), service({ name: 'gw-b', resourceVersion: '8' })];
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    // While gw-0 is drained and being rebuilt, gw-b is repurposed: direct access off, and its
    // annotation hand-edited into something that does not parse.
    c.beforeWrite = (what) => {
      if (what !== 'evict pod gw-0') return;
      c.services = c.services.map((s) => (s.name === 'gw-b' ? { ...s, annotations: { ...s.annotations, [DA]: 'false', [RS_WEIGHT_ANNOTATION]: '{"groups": [' }, resourceVersion: String(++c.store.rv) } : s));
    };
    await oneBatch(c).catch(() => undefined);
    c.beforeWrite = () => undefined;
    const abort = await run(c, ['abort', 'gw', ...DRAIN]);
    // Either it goes out (gw-b no longer carries the walk's traffic) or it stops as a gate that names gw-b.
    if (abort.code !== 0) {
      const error = abort.err.split('\n').find((l) => l.startsWith('error:')) ?? '';
      expect(abort.code, abort.err).toBe(3);
      expect(error).toContain('gw-b');
    }
  });
});

describe('rollback of a finish whose scale-down landed but whose record write was lost', () => {
  it('is refused up front like a finish that recorded "scaled", or completes: not a drift stop that says to scale the surge back up', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    // finish: the scale-down lands, then the process dies before recording "scaled".
    const patch = c.patchStatefulSet.bind(c);
    c.patchStatefulSet = async (name, rv, change) => {
      const r = await patch(name, rv, change);
      if (change.replicas === 2) throw died();
      return r;
    };
    expect((await run(c, ['finish', 'gw', ...DRAIN])).code).toBe(1);
    c.patchStatefulSet = patch;
    expect(recordOf(c).finish.phase).toBe('confirmed');
    expect(c.sts!.replicas).toBe(2);
    const before = c.mutations.length;
    const r = await run(c, ['rollback', 'gw', ...DRAIN]);
    if (r.code === 0) return;
    // Refused: then nothing may have changed (no template patch, no record rewritten without its finish).
    expect(r.err).not.toContain('--replicas 3');
    expect(c.mutations.slice(before)).toEqual([]);
  });
});

describe('--dry-run shows the requests the command would send', () => {
  it('next --dry-run: the restore step gives back what the Service gives the pod now, as the run does', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    // After start, a colleague gives gw-0 weight 30. The run captures 30 as its prior and gives it back.
    const thirty = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":30,"podIndexes":[0]}]}]}]}';
    c.otherWriter('gw', thirty, 'kubectl-edit');
    const plan = await ok(c, ['next', 'gw', '--dry-run', ...DRAIN]);
    const restore = plan.out.split('\n').findIndex((l) => l.includes('(restore)'));
    expect(restore, plan.out).toBeGreaterThan(0);
    const body = JSON.parse(plan.out.split('\n')[restore + 1]!.trim());
    const planned = body.metadata.annotations[RS_WEIGHT_ANNOTATION];
    // The real run:
    await oneBatch(c);
    expect(weightIn(c, 'gw', 0)).toBe(30);
    expect(weightOf(planned ?? undefined, 'gw', TCP80, 0)).toBe(30);
  });
});

describe('a retried scale-down whose first attempt landed', () => {
  it('finish recognises its own scale-down (409 on the retry) instead of stopping as replica drift', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    // The scale-down reaches the API server; its answer is lost; withRetry sends it again with the
    // old resourceVersion and gets 409 -- which the walk sees as a conflict.
    const patch = c.patchStatefulSet.bind(c);
    let once = true;
    c.patchStatefulSet = async (name, rv, change) => {
      if (once && change.replicas === 2) {
        once = false;
        await patch(name, rv, change);
        throw Object.assign(new Error('conflict'), { status: 409 });
      }
      return patch(name, rv, change);
    };
    const r = await run(c, ['finish', 'gw', ...DRAIN]);
    expect(r.code, r.err).toBe(0);
    expect(recordOf(c)).toBeUndefined();
  });
});
