// The walk in a messy world, against the in-memory cluster that plays the StatefulSet controller:
// every release, every way out, other writers, drift. Every eviction is audited at the instant it
// is asked for: the weight each Service port gives that ordinal then must be 0.
import { describe, expect, it } from 'vitest';
import { GateError } from '../../src/core/errors.js';
import { RS_WEIGHT_ANNOTATION, weightOf } from '../../src/core/rs-weight.js';
import { makeUi } from '../../src/ui/terminal.js';
import { saveRecord } from '../../src/walk/context.js';
import { withLock } from '../../src/walk/lock.js';
import { FakeCluster, fakeIo, service } from '../support/fakes.js';
import { DRAIN, RECORD, historyOf, ok, oneBatch, recordOf, run, settled } from '../support/walk.js';


interface Eviction {
  pod: string;
  /** "service proto/port" -> the weight the live annotation gives the ordinal at that instant. */
  weights: Record<string, number>;
}

/** A settled StatefulSet (see settled) whose evictions are audited at the instant they are asked for. */
function cluster(name = 'gw', replicas = 3, store?: FakeCluster['store']) {
  const c = settled(name, replicas, store);
  const evictions: Eviction[] = [];
  c.beforeWrite = (what) => {
    const m = /^evict pod (.+)-(\d+)$/.exec(what);
    if (!m || !c.pods.some((p) => p.name === `${m[1]}-${m[2]}`)) return;
    const weights: Record<string, number> = {};
    for (const s of c.services) {
      if (s.selector.app !== name) continue;
      for (const p of s.ports) weights[`${s.name} ${p.protocol}/${p.port}`] = weightOf(s.annotations[RS_WEIGHT_ANNOTATION], name, { proto: p.protocol, port: p.port }, Number(m[2]));
    }
    evictions.push({ pod: `${m[1]}-${m[2]}`, weights });
  };
  return { c, evictions };
}

/** Every eviction happened with weight 0 on every port of every selecting Service; at least `n` of them. */
function expectDrainedEvictions(evictions: Eviction[], n: number, ports = 1) {
  expect(evictions.length).toBeGreaterThanOrEqual(n);
  for (const e of evictions) {
    expect(Object.keys(e.weights)).toHaveLength(ports);
    expect(e).toEqual({ pod: e.pod, weights: Object.fromEntries(Object.keys(e.weights).map((k) => [k, 0])) });
  }
}

const revisions = (c: FakeCluster) => c.pods.map((p) => `${p.name}@${p.revision}`);

describe('every release, not just the first', () => {
  it('three upgrades in a row, then a rollback of the last one mid-walk: each walk completes, every eviction at weight 0', async () => {
    const { c, evictions } = cluster();
    const walk = async (image: string) => {
      await ok(c, ['start', 'gw', '--image', `gw=${image}`]);
      await ok(c, ['next', 'gw', ...DRAIN]);
      await ok(c, ['finish', 'gw', ...DRAIN]);
      expect(c.pods.map((p) => p.containers[0]!.image)).toEqual([image, image, image]);
      expect(new Set(c.pods.map((p) => p.revision)).size).toBe(1);
      expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
      expect(c.sts!.replicas).toBe(3);
      expect(recordOf(c)).toBeUndefined();
    };
    await walk('gw:2');
    await walk('gw:3');
    const beforeV4 = c.pods[0]!.revision;
    await ok(c, ['start', 'gw', '--image', 'gw=gw:4']);
    // Walk one batch, then turn around.
    await oneBatch(c);
    expect(revisions(c)[0]).not.toBe(`gw-0@${beforeV4}`);
    await ok(c, ['rollback', 'gw', ...DRAIN]);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(c.pods.map((p) => `${p.name}@${p.revision}`)).toEqual(['gw-0', 'gw-1', 'gw-2'].map((n) => `${n}@${beforeV4}`));
    expect(c.pods.map((p) => p.containers[0]!.image)).toEqual(['gw:3', 'gw:3', 'gw:3']);
    // 3 per upgrade x 2, 1 forward and 1 back in the third.
    expect(evictions.map((e) => e.pod)).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-0', 'gw-1', 'gw-2', 'gw-0', 'gw-0']);
    expectDrainedEvictions(evictions, 8);
  });

  it('rebuilt means on the target revision: images an admission webhook pins to a digest still count', async () => {
    const { c, evictions } = cluster();
    c.imageRewrite = (i) => `${i}@sha256:${'b'.repeat(64)}`;
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(c.pods.every((p) => p.containers[0]!.image === `gw:2@sha256:${'b'.repeat(64)}`)).toBe(true);
    expectDrainedEvictions(evictions, 3);
  });
});

describe('rollback by recorded revision', () => {
  it('after a template change mid-walk, every original ordinal ends on the original revision', async () => {
    const { c, evictions } = cluster('gw', 4);
    const original = c.pods[0]!.revision;
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--batch', '2']);
    await oneBatch(c);
    // A colleague's `rollout restart` moves the template to a third revision.
    await c.patchStatefulSet('gw', c.sts!.resourceVersion, { images: [{ name: 'gw', image: 'gw:2-restarted' }] });
    const stopped = await run(c, ['next', 'gw', ...DRAIN]);
    expect(stopped.code).toBe(3);
    expect(stopped.err).toMatch(/template of statefulset "gw" changed during the walk: revision gw-\w+, not gw-\w+/);
    // The pod of the next batch is recreated by someone on the intermediate revision.
    c.pods = c.pods.map((p) => (p.ordinal === 2 ? c.freshPod(2) : p));
    const intermediate = c.pods[2]!.revision;
    expect(intermediate).not.toBe(original);
    const rolledBack = await run(c, ['rollback', 'gw', ...DRAIN]);
    expect(rolledBack.code, rolledBack.err).toBe(0);
    expect(rolledBack.err).toMatch(/the template changed since start .*spec\.template\.spec\.containers\[gw\]\.image: gw:2 -> gw:2-restarted/s);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(c.pods.map((p) => p.revision)).toEqual([original, original, original, original]);
    expect(c.pods.map((p) => p.containers[0]!.image)).toEqual(['gw:1', 'gw:1', 'gw:1', 'gw:1']);
    expect(evictions.map((e) => e.pod).sort()).toEqual(['gw-0', 'gw-0', 'gw-1', 'gw-1', 'gw-2']);
    expectDrainedEvictions(evictions, 5);
  });
});

describe('the health gate before each batch', () => {
  it('surge pods in ImagePullBackOff: next refuses before draining and names them and why', async () => {
    const { c, evictions } = cluster();
    c.broken.add('gw:bad');
    const started = await run(c, ['start', 'gw', '--image', 'gw=gw:bad', '--timeout', '1s']);
    expect(started.code).toBe(3);
    expect(started.err).toContain('gw-3: gw ImagePullBackOff: Back-off pulling image');
    const servicesBefore = JSON.stringify(c.services);
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/error: not every pod that should be serving is Running and Ready, so draining gw-0 would cut capacity: gw-3: gw ImagePullBackOff: Back-off pulling image\. Nothing was changed/);
    expect(JSON.stringify(c.services)).toBe(servicesBefore);
    expect(evictions).toEqual([]);
    // The way out: abort scales the broken surge away after draining it.
    await ok(c, ['abort', 'gw', ...DRAIN]);
    expect(c.pods.map((p) => p.name)).toEqual(['gw-0', 'gw-1', 'gw-2']);
    expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
  });

  it('an unschedulable pod is named with the scheduler message', async () => {
    const { c } = cluster();
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    c.pods = c.pods.map((p) => (p.ordinal === 3 ? { ...p, phase: 'Pending', ready: false, unschedulable: 'Unschedulable: 0/3 nodes are available: 3 Insufficient tke.cloud.tencent.com/eni-ip.' } : p));
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('gw-3: Pending, not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient tke.cloud.tencent.com/eni-ip.');
  });
});

describe('PodDisruptionBudgets', () => {
  it('waits while a budget refuses, saying which, and goes on when it allows; never a plain delete', async () => {
    const { c, evictions } = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    c.budgetRefusals = 1;
    const r = await ok(c, ['next', 'gw', '--yes', '--min-drain', '0s', '--timeout', '10s']);
    expect(r.err).toContain('waiting to evict gw-0: The disruption budget gw-pdb needs 3 healthy pods and has 3 currently');
    expect(evictions.map((e) => e.pod)).toEqual(['gw-0', 'gw-0']);
    expectDrainedEvictions(evictions, 2);
  });

  it('stops at --timeout with nothing deleted and the pods drained', async () => {
    const { c } = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    c.budgetRefusals = 100;
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/error: gw-0 was not evicted within --timeout \(1s\): The disruption budget gw-pdb .* stays drained/);
    expect(c.mutations.filter((m) => m.startsWith('delete pod'))).toEqual([]);
    expect(recordOf(c).batches[0].phase).toBe('deleting');
    expect(weightOf(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION], 'gw', { proto: 'TCP', port: 80 }, 0)).toBe(0);
  });
});

describe('others change the cluster mid-walk', () => {
  it('two StatefulSets behind one Service, walked at the same time, one batch each in turn: both finish, every ordinal back as before', async () => {
    const before = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"b","weights":[{"weight":30,"podIndexes":[1]}]}]}]}';
    const store = { services: [service({ name: 'gw', selector: { tier: 'edge' }, annotations: { 'service.cloud.tencent.com/direct-access': 'true', [RS_WEIGHT_ANNOTATION]: before } })], rv: 1000 };
    const a = cluster('a', 2, store);
    const b = cluster('b', 2, store);
    for (const x of [a.c, b.c]) {
      x.sts = { ...x.sts!, podLabels: { ...x.sts!.podLabels, tier: 'edge' } };
      x.pods = x.pods.map((p) => ({ ...p, labels: { ...p.labels, tier: 'edge' } }));
    }
    // The audit of each sees the one Service (its selector is on tier, not app).
    for (const x of [a, b]) {
      const name = x.c.sts!.name;
      x.c.beforeWrite = (what) => {
        const m = /^evict pod (.+)-(\d+)$/.exec(what);
        if (m) x.evictions.push({ pod: `${m[1]}-${m[2]}`, weights: { 'gw TCP/80': weightOf(store.services[0]!.annotations[RS_WEIGHT_ANNOTATION], name, { proto: 'TCP', port: 80 }, Number(m[2])) } });
      };
    }
    await ok(a.c, ['start', 'a', '--image', 'gw=gw:2']);
    await ok(b.c, ['start', 'b', '--image', 'gw=gw:2']);
    for (let i = 0; i < 2; i++) {
      await oneBatch(a.c);
      await oneBatch(b.c);
    }
    await ok(a.c, ['finish', 'a', ...DRAIN]);
    await ok(b.c, ['finish', 'b', ...DRAIN]);
    expect(store.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBe(before);
    for (const x of [a, b]) {
      expect(x.evictions.map((e) => e.pod)).toEqual([`${x.c.sts!.name}-0`, `${x.c.sts!.name}-1`]);
      expectDrainedEvictions(x.evictions, 2);
    }
  });

  it("a colleague adds another StatefulSet's entry and a port mid-walk: the entry survives, the port is drained before the next deletion", async () => {
    const { c, evictions } = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await oneBatch(c);
    const edge = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"edge","weights":[{"weight":0,"podIndexes":[4]}]}]}]}';
    c.otherWriter('gw', edge, 'kubectl-edit');
    c.services = c.services.map((s) => ({ ...s, ports: [...s.ports, { protocol: 'TCP', port: 443, targetPort: 8443 }] }));
    const r = await ok(c, ['next', 'gw', ...DRAIN]);
    expect(r.err).toContain('service port gw TCP/443 is new: it joins the walk');
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(evictions.map((e) => e.pod)).toEqual(['gw-0', 'gw-1']);
    expect(evictions[1]!.weights).toEqual({ 'gw TCP/80': 0, 'gw TCP/443': 0 });
    expectDrainedEvictions(evictions.slice(1), 1, 2);
    expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBe(edge);
  });

  it('a GitOps revert of the whole annotation between confirmation and deletion: nothing deleted until drained again, the writer named', async () => {
    const { c, evictions } = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    const audit = c.beforeWrite;
    let reverted = false;
    c.beforeWrite = (what, body) => {
      audit(what, body);
      const record = (body as { annotations?: Record<string, string | null> } | undefined)?.annotations?.[RECORD];
      if (!reverted && record && record.includes('"phase":"deleting"')) {
        reverted = true;
        c.otherWriter('gw', undefined, 'argocd-application-controller');
      }
    };
    const r = await ok(c, ['next', 'gw', ...DRAIN]);
    expect(reverted).toBe(true);
    expect(r.err).toContain('the drain no longer holds: service "gw" TCP/80 gives gw-0 a weight above 0 (lb-rs-weight last written by argocd-application-controller)');
    expect(r.err).toContain('pause its auto-sync');
    expect(c.events.filter((e) => e.includes('DrainConfirmed: gw-0'))).toHaveLength(2);
    expect(evictions.map((e) => e.pod)).toEqual(['gw-0']);
    expectDrainedEvictions(evictions, 1);
  });

  it('a writer that keeps undoing the drain stops the run after three drains again, with nothing deleted', async () => {
    const { c, evictions } = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    const audit = c.beforeWrite;
    c.beforeWrite = (what, body) => {
      audit(what, body);
      // Every save of a confirmation: the GitOps loop has put the annotation back again.
      const record = (body as { annotations?: Record<string, string | null> } | undefined)?.annotations?.[RECORD];
      if (record?.includes('"confirmation"') || record?.includes('"phase":"drained"')) c.otherWriter('gw', undefined, 'argocd-controller');
    };
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/error: the drain of gw-0 was undone 4 times in this run .*nothing was deleted\. Stop whatever keeps rewriting lb-rs-weight/);
    expect(r.err.match(/the drain no longer holds/g)).toHaveLength(3);
    expect(evictions).toEqual([]);
    expect(c.mutations.filter((m) => m.startsWith('delete pod'))).toEqual([]);
  });

  it('finish after the annotation was reverted: drained and confirmed again before the scale-down', async () => {
    const { c } = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    let reverted = false;
    const atScaleDown: number[] = [];
    c.beforeWrite = (_what, body) => {
      const change = body as { annotations?: Record<string, string | null>; replicas?: number } | undefined;
      if (change?.replicas === 1) atScaleDown.push(weightOf(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION], 'gw', { proto: 'TCP', port: 80 }, 1));
      if (!reverted && change?.annotations?.[RECORD]?.includes('"phase":"confirmed"')) {
        reverted = true;
        c.otherWriter('gw', undefined);
      }
    };
    const r = await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(reverted).toBe(true);
    expect(r.err).toContain('the drain no longer holds: service "gw" TCP/80 gives gw-1 a weight above 0');
    expect(c.events.filter((e) => e.includes('DrainConfirmed: surge pods'))).toHaveLength(2);
    expect(atScaleDown).toEqual([0]);
    expect(c.pods.map((p) => p.name)).toEqual(['gw-0']);
  });

  it('finish after replicas were raised by hand: refused, nothing scaled or deleted', async () => {
    const { c } = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    await c.patchStatefulSet('gw', c.sts!.resourceVersion, { replicas: 5 });
    const pods = c.pods.map((p) => p.uid);
    const r = await run(c, ['finish', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/has 5 replicas, but the walk expects 3 \(someone or an autoscaler changed spec.replicas\)/);
    expect(c.sts!.replicas).toBe(5);
    expect(c.pods.map((p) => p.uid)).toEqual(pods);
  });

  it('updateStrategy switched to RollingUpdate mid-walk: the walk stops before its next change', async () => {
    const { c, evictions } = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    c.sts = { ...c.sts!, updateStrategy: 'RollingUpdate' };
    const services = JSON.stringify(c.services);
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('now has updateStrategy RollingUpdate');
    expect(JSON.stringify(c.services)).toBe(services);
    expect(evictions).toEqual([]);
  });

  it('a direct-access Service outside --service appearing mid-walk is refused by name before any deletion', async () => {
    const { c, evictions } = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--service', 'gw']);
    c.services = [...c.services, service({ name: 'gw-internal', resourceVersion: '9' })];
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('service "gw-internal" (direct access) also sends traffic to the pods of statefulset "gw" but is not one of --service (gw)');
    expect(evictions).toEqual([]);
  });
});

describe('no stuck states', () => {
  it('abort with a batch in flight whose pods were never deleted (a crash between save and delete) restores them', async () => {
    const { c, evictions } = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    // The state a crash right after saving `deleting` leaves: drained, pods untouched.
    const record = recordOf(c);
    record.batches[0] = { ...record.batches[0], phase: 'deleting', drainedAt: new Date().toISOString(), deleted: [{ pod: 'gw-0', uid: 'gw-uid-0' }] };
    await saveRecord(c, c.sts!, record);
    c.services = [{ ...c.services[0]!, annotations: { ...c.services[0]!.annotations, [RS_WEIGHT_ANNOTATION]: '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[0]}]}]}]}' } }];
    const r = await ok(c, ['abort', 'gw', ...DRAIN]);
    expect(r.out).toContain('aborted');
    expect(evictions).toEqual([]);
    expect(c.pods.map((p) => p.uid)).toEqual(['gw-uid-0', 'gw-uid-1']);
    expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
  });

  it('pods that come back broken can be rolled back', async () => {
    const { c, evictions } = cluster('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    c.broken.add('gw:2');
    const r = await run(c, ['next', 'gw', ...DRAIN]);
    expect(r.code).toBe(3);
    await ok(c, ['rollback', 'gw', ...DRAIN]);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(c.pods.map((p) => [p.name, p.containers[0]!.image, p.ready])).toEqual([['gw-0', 'gw:1', true], ['gw-1', 'gw:1', true]]);
    expectDrainedEvictions(evictions, 2);
  });

  it('finish killed right after its scale-down landed, before recording it, completes when run again', async () => {
    const { c } = cluster('gw', 1);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    const patch = c.patchStatefulSet.bind(c);
    c.patchStatefulSet = async (name, rv, change) => {
      const r = await patch(name, rv, change);
      if (change.replicas === 1) throw Object.assign(new Error('the process died'), { code: 'ECONNRESET' });
      return r;
    };
    expect((await run(c, ['finish', 'gw', ...DRAIN])).code).toBe(1);
    expect(recordOf(c).finish.phase).toBe('confirmed');
    c.patchStatefulSet = patch;
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(recordOf(c)).toBeUndefined();
    expect(c.pods.map((p) => p.name)).toEqual(['gw-0']);
    expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
  });

  it('a record that is not valid JSON exits 3 and says what to do', async () => {
    const { c } = cluster();
    c.sts = { ...c.sts!, annotations: { [RECORD]: '{"version":1,' } };
    for (const verb of ['next', 'finish', 'abort', 'rollback', 'start']) {
      const r = await run(c, [verb, 'gw', ...(verb === 'start' ? ['--image', 'gw=gw:2'] : DRAIN)]);
      expect(r.code, `${verb}: ${r.err}`).toBe(3);
      expect(r.err).toMatch(/not valid JSON/);
    }
    expect(c.mutations).toEqual([]);
  });

  it('finish without a terminal and without --yes refuses before any change', async () => {
    const { c } = cluster();
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    const before = [...c.mutations];
    const r = await run(c, ['finish', 'gw', '--min-drain', '0s']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('there is no terminal to ask on');
    expect(c.mutations).toEqual(before);
  });
});

describe('undo of a finished upgrade', () => {
  const finished = async (c: FakeCluster, image: string) => {
    await ok(c, ['start', 'gw', '--image', `gw=${image}`]);
    await ok(c, ['next', 'gw', ...DRAIN]);
    await ok(c, ['finish', 'gw', ...DRAIN]);
  };

  it('walks every pod back to the revision before the last upgrade, each drained first; the history says it is an undo', async () => {
    const { c, evictions } = cluster();
    const v1 = c.pods[0]!.revision;
    await finished(c, 'gw:2');
    evictions.length = 0;
    const r = await ok(c, ['rollback', 'gw', ...DRAIN]);
    expect(r.err).toContain(`Walking statefulset "gw" back to revision ${v1}, from before upgrade 1:`);
    expect(r.err).toContain('template changes:');
    // The walk back runs in the same command; finish ends it as usual.
    expect(recordOf(c).undo).toEqual({ upgrade: 1 });
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(c.pods.map((p) => `${p.name} ${p.revision} ${p.containers[0]!.image}`)).toEqual(['gw-0', 'gw-1', 'gw-2'].map((n) => `${n} ${v1} gw:1`));
    expect(evictions.map((e) => e.pod)).toEqual(['gw-0', 'gw-1', 'gw-2']);
    expectDrainedEvictions(evictions, 3);
    expect(c.sts!.replicas).toBe(3);
    expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
    const h = historyOf(c);
    expect(h.map((e) => [e.number, e.kind, e.undoOf, e.outcome, e.toRevision])).toEqual([
      [1, 'upgrade', undefined, 'finished', h[0]!.toRevision],
      [2, 'undo', 1, 'finished', v1],
    ]);
    expect(h[1]!.batches).toHaveLength(3);
  });

  it('--to-revision walks to another revision from the history', async () => {
    const { c, evictions } = cluster();
    const v1 = c.pods[0]!.revision!;
    await finished(c, 'gw:2');
    await finished(c, 'gw:3');
    evictions.length = 0;
    await ok(c, ['rollback', 'gw', '--to-revision', v1.slice(v1.lastIndexOf('-') + 1), ...DRAIN]);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(c.pods.map((p) => p.containers[0]!.image)).toEqual(['gw:1', 'gw:1', 'gw:1']);
    expectDrainedEvictions(evictions, 3);
    expect(historyOf(c).at(-1)).toMatchObject({ kind: 'undo', undoOf: 2, toRevision: v1 });
  });

  it.each([
    ['no finished upgrade on record', async (_c: FakeCluster) => {}, [], /no finished upgrade of statefulset "gw" is on record/],
    ['a template changed since the upgrade', async (c: FakeCluster) => {
      await finished(c, 'gw:2');
      // Someone rolled the template on by hand since; the pods followed.
      await c.patchStatefulSet('gw', c.sts!.resourceVersion, { images: [{ name: 'gw', image: 'gw:9' }] });
      c.pods = c.pods.map((p) => ({ ...p, revision: c.sts!.updateRevision, containers: [{ name: 'gw', image: 'gw:9' }] }));
    }, [], /runs revision .*, not .* where upgrade 1 left it: its template changed since\. Name the revision to walk to with --to-revision/],
    ['an unknown --to-revision', async (c: FakeCluster) => finished(c, 'gw:2'), ['--to-revision', 'nope'], /--to-revision "nope" is not a revision in the history of statefulset "gw" \(it has: /],
    ['--to-revision while an upgrade is in progress', async (c: FakeCluster) => {
      await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    }, ['--to-revision', 'x'], /--to-revision walks back a finished upgrade, but an upgrade of "gw" is in progress/],
  ])('refuses with %s, changing nothing', async (_what, setup, args, message) => {
    const { c } = cluster();
    await setup(c);
    const before = [...c.mutations];
    const r = await run(c, ['rollback', 'gw', ...args, ...DRAIN]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(message);
    expect(c.mutations).toEqual(before);
  });

  it('run again after it stopped, rollback continues the walk back (it does not turn it around)', async () => {
    const { c, evictions } = cluster();
    const v1 = c.pods[0]!.revision;
    await finished(c, 'gw:2');
    evictions.length = 0;
    // The walk back stops after one batch (soak), then the same command again.
    const { runRollback, validateRollbackOptions } = await import('../../src/commands/rollback.js');
    const soak = { ...makeUi({ yes: true }, fakeIo()), choose: async () => 'soak' as never };
    const o = validateRollbackOptions({ statefulset: 'gw', 'min-drain': '0s', timeout: '1s', 'force-unlock': false, 'dry-run': false, 'cloud-credentials': 'off', 'require-evidence': false, 'zero-points': 3, 'drain-timeout': '1s', 'force-after-timeout': false, 'evidence-interval': '1s', batch: 1, force: false, 'clb-backend-quota': 200 });
    await runRollback(o, c, soak, () => new Date(), async () => ({ off: 'off' }));
    expect(c.pods.filter((p) => p.revision === v1).map((p) => p.name)).toEqual(['gw-0', 'gw-3']); // gw-3: the surge pod
    const again = await ok(c, ['rollback', 'gw', ...DRAIN]);
    expect(again.err).toContain(`the walk back of upgrade 1 to revision ${v1} is under way: continuing it`);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(c.pods.map((p) => p.revision)).toEqual([v1, v1, v1]);
    expectDrainedEvictions(evictions, 3);
  });

  it('an undo the history cannot tie to a finished upgrade (--to-revision after an abort) is still an undo, and run again continues', async () => {
    const { c } = cluster();
    const v1 = c.pods[0]!.revision!;
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    await ok(c, ['next', 'gw', ...DRAIN]);
    await ok(c, ['abort', 'gw', ...DRAIN]);
    const { runRollback, validateRollbackOptions } = await import('../../src/commands/rollback.js');
    const soak = { ...makeUi({ yes: true }, fakeIo()), choose: async () => 'soak' as never };
    const o = validateRollbackOptions({ statefulset: 'gw', 'to-revision': v1, 'min-drain': '0s', timeout: '1s', 'force-unlock': false, 'dry-run': false, 'cloud-credentials': 'off', 'require-evidence': false, 'zero-points': 3, 'drain-timeout': '1s', 'force-after-timeout': false, 'evidence-interval': '1s', batch: 1, force: false, 'clb-backend-quota': 200 });
    await runRollback(o, c, soak, () => new Date(), async () => ({ off: 'off' }));
    expect(recordOf(c).undo).toEqual({});
    const again = await ok(c, ['rollback', 'gw', ...DRAIN]);
    expect(again.err).toContain(`the walk back to revision ${v1} is under way: continuing it`);
    await ok(c, ['finish', 'gw', ...DRAIN]);
    expect(c.pods.map((p) => p.revision)).toEqual([v1, v1, v1]);
    expect(historyOf(c).at(-1)).toMatchObject({ kind: 'undo', outcome: 'finished' });
    expect(historyOf(c).at(-1)!.undoOf).toBeUndefined();
  });

  it('with an autoscaler, --force walks back as start --force does', async () => {
    const { c } = cluster();
    await finished(c, 'gw:2');
    c.hpas = ['gw-hpa'];
    const refused = await run(c, ['rollback', 'gw', ...DRAIN]);
    expect(refused.code).toBe(3);
    expect(refused.err).toContain('pass --force');
    await ok(c, ['rollback', 'gw', '--force', ...DRAIN]);
    expect(recordOf(c).undo).toEqual({ upgrade: 1 });
  });

  it('--require-evidence without credentials is refused before the template changes', async () => {
    const { c } = cluster();
    await finished(c, 'gw:2');
    const before = [...c.mutations];
    const r = await run(c, ['rollback', 'gw', '--yes', '--min-drain', '0s', '--require-evidence', '--cloud-credentials', 'off']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('--require-evidence: the drain evidence is off');
    expect(c.mutations).toEqual(before);
  });

  it('--dry-run prints the patch to the old template and changes nothing', async () => {
    const { c } = cluster();
    await finished(c, 'gw:2');
    const before = [...c.mutations];
    const r = await ok(c, ['rollback', 'gw', '--dry-run']);
    expect(r.out).toContain('1. PATCH statefulset gw (strategic merge)');
    expect(r.out).toMatch(/"spec":\{"template":\{.*"image":"gw:1".*\},"replicas":4\}/);
    expect(c.mutations).toEqual(before);
  });
});

describe('writes that land', () => {
  it('a retried record write whose first attempt landed is recognised by reading back', async () => {
    const { c } = cluster();
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    const patch = c.patchStatefulSet.bind(c);
    let first = true;
    c.patchStatefulSet = async (name, rv, change) => {
      const r = await patch(name, rv, change);
      if (first) {
        first = false;
        // The response was lost; the retry finds the object moved: 409.
        throw Object.assign(new Error('conflict'), { status: 409 });
      }
      return r;
    };
    const record = { ...recordOf(c), startedBy: 'someone-else' };
    const saved = await saveRecord(c, c.sts!, record);
    expect(JSON.parse(saved.annotations[RECORD]!).startedBy).toBe('someone-else');
  });

  it('a lost lock stops the walk before its next change', async () => {
    const { c } = cluster();
    const writes: string[] = [];
    const error = await withLock(
      c,
      makeUi({}, fakeIo()),
      'gw',
      'tester',
      false,
      async (guarded) => {
        await guarded.patchStatefulSet('gw', c.sts!.resourceVersion, { annotations: { a: '1' } });
        writes.push('first');
        // Another session takes the lease; the next renewal (every 100 ms here) finds out.
        c.leases.set('zerolossupgrade-gw', { holder: 'bob', acquiredAt: 'T', renewedAt: new Date().toISOString(), durationSeconds: 30, resourceVersion: '999' });
        await new Promise((r) => setTimeout(r, 300));
        await guarded.setServiceAnnotation('gw', c.services[0]!.resourceVersion, RS_WEIGHT_ANNOTATION, '{}');
        writes.push('second');
      },
      0.3,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GateError);
    expect((error as Error).message).toMatch(/another session took the lock .* stopped before the next change/);
    expect(writes).toEqual(['first']);
    expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
    expect(c.leases.get('zerolossupgrade-gw')!.holder).toBe('bob');
  });
});


describe('the check before each eviction', () => {
  it('reads the pods from the batch\'s watch, and live while that watch is reconnecting', async () => {
    const watched = cluster('gw', 3).c;
    await ok(watched, ['start', 'gw', '--image', 'gw=gw:2', '--batch', '3', '--surge', '0']);
    watched.calls.length = 0;
    await ok(watched, ['next', 'gw', ...DRAIN]);
    const evicting = (c: FakeCluster) => c.calls.slice(c.calls.indexOf('followPods gw'));
    expect(evicting(watched).filter((x) => x === 'readStatefulSet gw')).toHaveLength(3);
    expect(evicting(watched).filter((x) => x === 'readStatefulSetWithPods gw').length).toBeLessThan(3);

    const behind = cluster('gw', 3).c;
    behind.podFeedBehind = true;
    await ok(behind, ['start', 'gw', '--image', 'gw=gw:2', '--batch', '3', '--surge', '0']);
    behind.calls.length = 0;
    await ok(behind, ['next', 'gw', ...DRAIN]);
    expect(evicting(behind).filter((x) => x === 'readStatefulSet gw')).toHaveLength(0);
    expect(evicting(behind).filter((x) => x === 'readStatefulSetWithPods gw').length).toBeGreaterThanOrEqual(3);
  });
});

describe('start --dry-run of a start that did not finish', () => {
  it('says what it would do and writes nothing', async () => {
    const { c } = cluster();
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    // As if the start died before recording the revision.
    const r = recordOf(c);
    delete r.targetRevision;
    const { encodeRecord } = await import('../../src/core/upgrade.js');
    c.sts = { ...c.sts!, annotations: { ...c.sts!.annotations, [RECORD]: encodeRecord(r) } };
    c.configMaps.clear();
    const before = [...c.mutations];
    const out = await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--dry-run']);
    expect(out.out).toContain('the start is recorded already');
    expect(c.mutations).toEqual(before);
    expect(c.configMaps.size).toBe(0);
  });
});
