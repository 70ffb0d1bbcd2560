// The walk engine against the in-memory cluster in situations found by a review: Services and ports
// leaving mid-walk, drift on the way out, crash windows of rollback, ways out that must open.
import { describe, expect, it } from 'vitest';
import { RS_WEIGHT_ANNOTATION, weightOf } from '../../src/core/rs-weight.js';
import { FakeCluster, service } from '../support/fakes.js';
import { DRAIN, ok, oneBatch, recordOf, run, settled as cluster } from '../support/walk.js';

const DA = 'service.cloud.tencent.com/direct-access';
const TCP80 = { proto: 'TCP', port: 80 };

const weightIn = (c: FakeCluster, svc: string, ordinal: number, sts = 'gw') => weightOf(c.services.find((s) => s.name === svc)!.annotations[RS_WEIGHT_ANNOTATION], sts, TCP80, ordinal);
describe('a Service that leaves the walk while a pod is drained', () => {
  it('and comes back: its weights were given back as it left, so nothing of the walk stays on it', async () => {
    const c = cluster('gw', 2);
    c.services = [service(), service({ name: 'gw-b', resourceVersion: '8' })];
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    // Batch 1 is drained on both Services. While gw-0 is being rebuilt someone edits gw-b for a
    // while (direct access off, e.g. a chart revision under test).
    const setDirect = (v: string) => (c.services = c.services.map((s) => (s.name === 'gw-b' ? { ...s, annotations: { ...s.annotations, [DA]: v }, resourceVersion: String(++c.store.rv) } : s)));
    c.beforeWrite = (what) => {
      if (what === 'evict pod gw-0') setDirect('false');
    };
    await oneBatch(c);
    c.beforeWrite = () => undefined;
    expect(recordOf(c).services.map((s: { name: string }) => s.name)).toEqual(['gw']);
    // gw-b left the walk and got gw-0's weight back as it left.
    expect(weightIn(c, 'gw-b', 0)).toBe(10);
    // Put back as it was: it "joins the walk" with that 0 as its "before".
    setDirect('true');
    await ok(c, ['next', 'gw', ...DRAIN]);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(recordOf(c)).toBeUndefined();
    // Before the upgrade gw-b had no lb-rs-weight: every pod at 10. gw-0 is left out of gw-b for good.
    expect(weightIn(c, 'gw-b', 0)).toBe(10);
    expect(c.services.find((s) => s.name === 'gw-b')!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
  });
});

describe('drift during finish and abort', () => {
  it('finish stops when updateStrategy is no longer OnDelete', async () => {
    const c = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    c.sts = { ...c.sts!, updateStrategy: 'RollingUpdate' };
    const before = c.mutations.length;
    const r = await run(c, ['finish', 'gw', ...DRAIN]);
    // driftOf's own doc: "Checked before every change of `next` and `finish`".
    expect(r.code, r.err).toBe(3);
    expect(c.mutations.slice(before)).toEqual([]);
  });

  it('finish stops when the template moved to another revision mid-walk', async () => {
    const c = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    await c.patchStatefulSet('gw', c.sts!.resourceVersion, { images: [{ name: 'gw', image: 'gw:3' }] });
    const before = c.mutations.length;
    const r = await run(c, ['finish', 'gw', ...DRAIN]);
    expect(r.code, r.err).toBe(3);
    expect(c.mutations.slice(before)).toEqual([]);
  });
});

describe('two StatefulSets behind one Service that had no lb-rs-weight', () => {
  it('b starts while a has a pod drained: at the end the annotation is removed, as neither had one', async () => {
    const store = { services: [service({ name: 'gw', selector: { tier: 'edge' } })], rv: 1000 };
    const a = cluster('a', 2, store);
    const b = cluster('b', 2, store);
    for (const x of [a, b]) {
      x.sts = { ...x.sts!, podLabels: { ...x.sts!.podLabels, tier: 'edge' } };
      x.pods = x.pods.map((p) => ({ ...p, labels: { ...p.labels, tier: 'edge' } }));
    }
    await ok(a, ['start', 'a', '--image', 'gw=gw:2']);
    // a's first batch is drained (a crash, a soak at the confirmation, a slow rebuild): simulate by stopping after the drain.
    a.broken.add('gw:2');
    expect((await run(a, ['next', 'a', ...DRAIN])).code).toBe(3);
    a.broken.delete('gw:2');
    a.pods = a.pods.map((p) => (p.ordinal === 0 ? a.freshPod(0) : p));
    await ok(b, ['start', 'b', '--image', 'gw=gw:2']);
    await ok(a, ['next', 'a', ...DRAIN]);
    await ok(a, ['finish', 'a', ...DRAIN]);
    await ok(b, ['next', 'b', ...DRAIN]);
    await ok(b, ['finish', 'b', ...DRAIN]);
    // Nobody but the two walks touched it; it had none before: "removed if it had none".
    expect(store.services[0]!.annotations[RS_WEIGHT_ANNOTATION], store.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
  });
});

describe('rollback of a finish under way, killed right after its template patch', () => {
  it('the surge pods serve again during the whole walk back', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    // finish drains the surge (gw-2), then its scale-down fails: finish under way.
    const patch = c.patchStatefulSet.bind(c);
    c.patchStatefulSet = async (name, rv, change) => {
      if (change.replicas === 2) throw Object.assign(new Error('the process died'), { code: 'ECONNRESET' });
      return patch(name, rv, change);
    };
    expect((await run(c, ['finish', 'gw', ...DRAIN])).code).toBe(1);
    c.patchStatefulSet = patch;
    expect(weightIn(c, 'gw', 2)).toBe(0);
    // rollback: the template patch lands, then the process dies before the surge gets its weight back.
    const annotate = c.setServiceAnnotation.bind(c);
    let dead = true;
    c.setServiceAnnotation = async (...args) => {
      if (dead && recordOf(c)?.rollback) {
        dead = false;
        throw Object.assign(new Error('the process died'), { code: 'ECONNRESET' });
      }
      return annotate(...args);
    };
    expect((await run(c, ['rollback', 'gw', ...DRAIN])).code).toBe(1);
    expect(recordOf(c).rollback).toBeDefined();
    // Run again: the walk back. At every eviction the surge pod gw-2 should be serving ("surge pods serve again until the walk back ends").
    const atEviction: number[] = [];
    c.beforeWrite = (what) => {
      if (what.startsWith('evict pod')) atEviction.push(weightIn(c, 'gw', 2));
    };
    await ok(c, ['rollback', 'gw', ...DRAIN]);
    expect(atEviction.length).toBe(2);
    expect(atEviction).toEqual([10, 10]);
  });
});

describe('ways out that do not open', () => {
  it('the only Service is deleted mid-walk (moved to an Ingress): next refuses, abort still works', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await oneBatch(c);
    c.services = [];
    const next = await run(c, ['next', 'gw', ...DRAIN]);
    expect(next.code).toBe(3);
    expect(next.err).toContain('Put the Service back, or abort');
    const abort = await run(c, ['abort', 'gw', ...DRAIN]);
    expect(abort.code, abort.err).toBe(0);
  });

  it('a direct-access Service outside --service appears: next refuses and says abort, and abort works', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--service', 'gw']);
    await oneBatch(c);
    c.services = [...c.services, service({ name: 'gw-internal', resourceVersion: '9' })];
    const next = await run(c, ['next', 'gw', ...DRAIN]);
    expect(next.err).toContain('Abort (kubectl zerolossupgrade abort gw)');
    const abort = await run(c, ['abort', 'gw', ...DRAIN]);
    expect(abort.code, abort.err).toBe(0);
  });
});

describe('resume of a batch caught in "deleting"', () => {
  it('the health gate holds for the rest of the batch: another serving pod went NotReady meanwhile', async () => {
    const c = cluster('gw', 4);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--batch', '2']);
    // gw-0 is evicted, then the process dies before gw-1.
    const evict = c.evictPod.bind(c);
    c.evictPod = async (name, uid) => {
      if (name === 'gw-1') throw Object.assign(new Error('the process died'), { code: 'ECONNRESET' });
      return evict(name, uid);
    };
    expect((await run(c, ['next', 'gw', ...DRAIN])).code).toBe(1);
    c.evictPod = evict;
    expect(recordOf(c).batches[0].phase).toBe('deleting');
    // Hours later: gw-3 (pending, serving) is not Ready. The pending phase would refuse ("would cut capacity").
    c.pods = c.pods.map((p) => (p.ordinal === 3 ? { ...p, ready: false } : p));
    const uid1 = c.pods.find((p) => p.ordinal === 1)!.uid;
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(c.pods.find((p) => p.ordinal === 1)!.uid).toBe(uid1);
  });
});

describe('rollback killed between its template patch and retargeting', () => {
  it('when the controller made a new revision for the original template, rollback run again goes on', async () => {
    const c = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await oneBatch(c);
    const hash = c.revisionOf.bind(c);
    const patch = c.patchStatefulSet.bind(c);
    c.patchStatefulSet = async (name, rv, change) => {
      if (change.revisionPatch) {
        // The controller names the restored template afresh (collision count, defaulting).
        c.revisionOf = (cs) => (cs[0]!.image === 'gw:1' ? 'gw-fresh' : hash(cs));
        await patch(name, rv, change);
        throw Object.assign(new Error('the process died'), { code: 'ECONNRESET' });
      }
      return patch(name, rv, change);
    };
    expect((await run(c, ['rollback', 'gw', ...DRAIN])).code).toBe(1);
    c.patchStatefulSet = patch;
    expect(c.sts!.updateRevision).toBe('gw-fresh');
    const again = await run(c, ['rollback', 'gw', ...DRAIN]);
    // It says: "go back with kubectl zerolossupgrade rollback gw" -- which is what was just run.
    expect(again.code, again.err).toBe(0);
  });
});

describe('spec.ordinals.start changed mid-walk is drift', () => {
  it('finish stops before its scale-down would remove a pod that is not the drained surge pod', async () => {
    const c = cluster('gw', 3);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    // Someone moves the ordinals (kubectl patch sts gw -p '{"spec":{"ordinals":{"start":1}}}'); the controller
    // now keeps gw-1..gw-4 (it removes gw-0 itself, which the plugin cannot stop).
    c.sts = { ...c.sts!, ordinalsStart: 1 };
    await c.patchStatefulSet('gw', c.sts.resourceVersion, { annotations: { touched: '1' } });
    expect(c.pods.map((p) => p.ordinal)).toEqual([1, 2, 3, 4]);
    const removed: { pod: string; weight: number }[] = [];
    const patch = c.patchStatefulSet.bind(c);
    c.patchStatefulSet = async (name, rv, change) => {
      const before = c.pods.map((p) => p.ordinal);
      const r = await patch(name, rv, change);
      for (const o of before) if (!c.pods.some((p) => p.ordinal === o)) removed.push({ pod: `gw-${o}`, weight: weightIn(c, 'gw', o) });
      return r;
    };
    const r = await run(c, ['finish', 'gw', ...DRAIN]);
    // Drift: finish stops before draining or scaling anything.
    expect(r.code).toBe(3);
    expect(r.err).toContain('now starts its ordinals at 1, not 0');
    expect(removed).toEqual([]);
    expect(c.sts!.replicas).toBe(4);
  });
});

describe('a Service port removed while a pod is drained', () => {
  it('its weights are given back as it leaves: nothing stays after finish, and the next start is not refused', async () => {
    const c = cluster('gw', 2);
    c.services = [service({ ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }, { protocol: 'TCP', port: 443, targetPort: 8443 }] })];
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    // While gw-0 is being rebuilt (drained on 80 and 443), port 443 is taken off the Service.
    c.beforeWrite = (what) => {
      if (what === 'evict pod gw-0') c.services = c.services.map((s) => ({ ...s, ports: s.ports.filter((p) => p.port !== 443), resourceVersion: String(++c.store.rv) }));
    };
    await ok(c, ['next', 'gw', ...DRAIN]);
    c.beforeWrite = () => undefined;
    await ok(c, ['finish', 'gw', ...DRAIN]);
    const left = c.services[0]!.annotations[RS_WEIGHT_ANNOTATION];
    // It had no lb-rs-weight before the upgrade, and the next release starts.
    expect(left, left).toBeUndefined();
    const again = await run(c, ['start', 'gw', '--image', 'gw=gw:3']);
    expect(again.code, again.err).toBe(0);
  });
});
