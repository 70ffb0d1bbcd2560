// The whole walk through the built binary, as the restricted operator, with the simulator playing
// TKE's controller and the CLB: start, next, finish leave exactly the intended state, and no pod
// is deleted while the CLB still gives it weight.
import { CoordinationV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { loadBalancerService, statefulSet, type Workload } from '../../sim/scenarios.js';
import { adminClients, expectDeletionsDrained, runPlugin, useSimulator } from './support.js';

const RECORD = 'zerolossupgrade.io/upgrade';

describe('start, next, finish', () => {
  const ctx = useSimulator({ propagationDelayMs: 1000, jitterMs: 200 });
  const { kc, apps, core } = adminClients();


  const snapshot = async (w: Workload, services: string[]) => {
    const sts = await apps.readNamespacedStatefulSet({ name: w.name, namespace: w.namespace });
    const pods = (await core.listNamespacedPod({ namespace: w.namespace, labelSelector: `app=${w.name}` })).items;
    const svcs = await Promise.all(services.map((name) => core.readNamespacedService({ name, namespace: w.namespace })));
    return { sts, pods, svcs };
  };

  async function walk(w: Workload, args: string[]) {
    const ns = ['-n', w.namespace];
    const start = await runPlugin(['start', w.name, ...ns, '--image', 'app=gw:2', ...args]);
    expect(start.stderr).not.toMatch(/^error/m);
    expect(start.code).toBe(0);
    const next = await runPlugin(['next', w.name, ...ns, '--yes', '--min-drain', '3s']);
    expect(next.stderr).not.toMatch(/^error/m);
    expect(next.code).toBe(0);
    expect(next.stdout).toContain('every pod of statefulset');
    const finish = await runPlugin(['finish', w.name, ...ns, '--yes', '--min-drain', '3s']);
    expect(finish.stderr).not.toMatch(/^error/m);
    expect(finish.code).toBe(0);
    return { start, next, finish };
  }

  function expectFinalState(w: Workload, after: Awaited<ReturnType<typeof snapshot>>, before: Awaited<ReturnType<typeof snapshot>>) {
    expect(after.sts.spec?.replicas).toBe(w.replicas);
    expect(after.sts.metadata?.annotations?.[RECORD]).toBeUndefined();
    expect(after.sts.spec?.template.spec?.containers[0]?.image).toBe('gw:2');
    const live = after.pods.filter((p) => !p.metadata?.deletionTimestamp);
    expect(live.map((p) => p.metadata?.name).sort()).toEqual(before.pods.map((p) => p.metadata?.name).sort());
    for (const p of live) {
      expect(p.spec?.containers[0]?.image).toBe('gw:2');
      expect(p.metadata?.labels?.['controller-revision-hash']).toBe(after.sts.status?.updateRevision);
    }
    after.svcs.forEach((s, i) => expect(s.metadata?.annotations?.[RS_WEIGHT]).toBe(before.svcs[i]!.metadata?.annotations?.[RS_WEIGHT]));
  }

  it('5 replicas, batch 1: every pod new, annotations as before, nothing deleted at weight > 0', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('walk5'), name: 'gw', replicas: 5, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    const before = await snapshot(w, ['gw']);
    await walk(w, []);
    const after = await snapshot(w, ['gw']);
    expectFinalState(w, after, before);
    // Each original once, and the surge pod scaled away: each at weight 0, no connection open.
    expectDeletionsDrained(ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace), ['gw-0', 'gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-5'], ['gw 80']);
    // The audit trail, in order, as `kubectl describe statefulset` shows it.
    const events = (await core.listNamespacedEvent({ namespace: w.namespace, fieldSelector: 'involvedObject.kind=StatefulSet,involvedObject.name=gw' })).items
      .filter((e) => e.source?.component === 'kubectl-zerolossupgrade')
      .sort((a, b) => Number(a.metadata!.resourceVersion) - Number(b.metadata!.resourceVersion));
    const perBatch = ['Drained', 'DrainConfirmed', 'PodsRebuilt', 'Restored'];
    expect(events.map((e) => e.reason)).toEqual(['UpgradeStarted', ...Array(5).fill(perBatch).flat(), 'Drained', 'DrainConfirmed', 'UpgradeFinished']);
    expect(events.find((e) => e.reason === 'DrainConfirmed')!.message).toMatch(/^gw-0: weight 0 and connections drained, confirmed by zlu-operator \(--yes\) \d+s after the drain$/);
  });

  it('10 replicas, batch 3, two ports, two Services, another StatefulSet already in the annotation', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('walk10'), name: 'gw', replicas: 10, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }, { port: 443, targetPort: 8443 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    const existing = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"edge","weights":[{"weight":0,"podIndexes":[2]}]}]}]}';
    await apps.createNamespacedStatefulSet({ namespace: w.namespace, body: statefulSet(w) });
    await core.createNamespacedService({ namespace: w.namespace, body: loadBalancerService(w, 'gw', { [RS_WEIGHT]: existing }) });
    await core.createNamespacedService({ namespace: w.namespace, body: loadBalancerService(w, 'gw-internal') });
    await ctx.env.serving(w, 'gw');
    await ctx.env.serving(w, 'gw-internal');
    const before = await snapshot(w, ['gw', 'gw-internal']);
    await walk(w, ['--batch', '3']);
    const after = await snapshot(w, ['gw', 'gw-internal']);
    expectFinalState(w, after, before);
    expect(after.svcs[0]!.metadata?.annotations?.[RS_WEIGHT]).toBe(existing);
    expect(after.svcs[1]!.metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
    // gw-0..gw-9 rebuilt and the three surge pods of --batch 3 scaled away, on two Services x two ports.
    const pods = Array.from({ length: 13 }, (_, i) => `gw-${i}`);
    expectDeletionsDrained(ctx.sim.controller.deletions.filter((x) => x.namespace === w.namespace), pods, ['gw 80', 'gw 443', 'gw-internal 80', 'gw-internal 443']);
  });

  it('two operators racing next: one is refused by the lock, nothing is done twice', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('race'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    expect((await runPlugin(['start', 'gw', '-n', w.namespace, '--image', 'app=gw:2'])).code).toBe(0);
    const during = await runPlugin(['status', 'gw', '-n', w.namespace, '-o', 'json']);
    expect(during.code).toBe(4); // in progress, waiting for the operator
    const view = JSON.parse(during.stdout);
    expect(view.upgrade).toMatchObject({ phase: 'walking', upgraded: 0, total: 2, startedBy: 'zlu-operator', batch: { index: 1, of: 2, phase: 'pending' } });
    expect(view.pods.map((p: { pod: string; step: string; weights: Record<string, number>; revisionState: string }) => [p.pod, p.step, p.weights, p.revisionState])).toEqual([
      ['gw-0', 'pending', { 'gw TCP/80': 10 }, 'old'],
      ['gw-1', 'pending', { 'gw TCP/80': 10 }, 'old'],
      ['gw-2', 'surge', { 'gw TCP/80': 10 }, 'new'],
    ]);
    const args = ['next', 'gw', '-n', w.namespace, '--yes', '--min-drain', '3s'];
    const [a, b] = await Promise.all([runPlugin(args), runPlugin(args)]);
    const codes = [a.code, b.code].sort();
    expect(codes).toEqual([0, 3]);
    const refused = a.code === 3 ? a : b;
    expect(refused.stderr).toMatch(/error: (statefulset "gw" is being changed by zlu-operator \(.* pid \d+\) since .*--force-unlock|another operator took the lock of statefulset "gw" just now)/);
    expectDeletionsDrained(ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace), ['gw-0', 'gw-1'], ['gw 80']);
    expect((await runPlugin(['finish', 'gw', '-n', w.namespace, '--yes', '--min-drain', '3s'])).code).toBe(0);
    const after = await runPlugin(['status', 'gw', '-n', w.namespace, '-o', 'json']);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout).upgrade).toBeNull();
    const leases = await kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: w.namespace });
    expect(leases.items).toEqual([]);
  });
});
