// Safe while others change the cluster, under the benchmark load: two StatefulSets behind one
// Service walked by two operators at once, a colleague's entry and a new port mid-walk, a GitOps
// revert, finish after a revert or a hand-made scale, updateStrategy changed mid-walk. Two referees
// judge every deletion: the simulator's CLB audit and a replay of the API's own watch events.
import { PatchStrategy, setHeaderOptions, type V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { decodeRecord } from '../../src/core/upgrade.js';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { runLoad, type LoadRun } from '../../sim/load.js';
import { BENCH_LOAD, loadBalancerService, sleep, statefulSet, until, type Workload } from '../../sim/scenarios.js';
import { ApiReferee, type RefereedDeletion } from './referee.js';
import { adminClients, expectDeletionsDrained, runPlugin, useSimulator } from './support.js';

const RECORD = 'zerolossupgrade.io/upgrade';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

function expectRefereed(deletions: RefereedDeletion[], pods: string[], listeners: string[]) {
  expect(deletions.map((d) => d.pod), JSON.stringify(deletions)).toEqual(pods);
  for (const d of deletions) expect(d.weights, d.pod).toEqual(Object.fromEntries(listeners.map((l) => [l, 0])));
}

describe('safe while others change the cluster', () => {
  const ctx = useSimulator({ propagationDelayMs: 1000, jitterMs: 300 });
  const { apps, core, kc } = adminClients();
  const drain = ['--yes', '--min-drain', '3s'];
  // The blind --min-drain must outlast every client connection: here streams live at most 1.5 s.
  // (Connections that outlive a fixed drain are what the drain evidence is for.)
  const load = { ...BENCH_LOAD, streams: 2, streamLifetimeMs: [500, 1500] as [number, number] };
  const plugin = async (ns: string, args: string[], expected = 0) => {
    const r = await runPlugin([...args, '-n', ns]);
    expect(r.code, `${args.join(' ')}:\n${r.stderr}`).toBe(expected);
    return r;
  };
  const annotation = async (ns: string, name: string) => (await core.readNamespacedService({ name, namespace: ns })).metadata?.annotations?.[RS_WEIGHT];
  /**
   * Another writer sets (or with null removes) lb-rs-weight under its own field manager, stamping
   * the Service as GitOps tools do (a tracking annotation), so managedFields keeps an entry for it.
   */
  const otherWriter = (ns: string, name: string, value: string | null, fieldManager: string) =>
    core.patchNamespacedService({ name, namespace: ns, fieldManager, body: { metadata: { annotations: { [RS_WEIGHT]: value, 'example.com/applied-by': `${fieldManager} ${Date.now()}` } } } }, merge);
  const withLoad = async <T>(vip: string, port: number, fn: () => Promise<T>): Promise<{ result: T; load: Awaited<LoadRun['done']> }> => {
    const run = runLoad({ ...load, targets: [{ host: vip, port }] });
    try {
      await sleep(1500);
      const result = await fn();
      // Longer than the slowest propagation, so a late weight change would still hit the load.
      await sleep(2500);
      run.stop();
      return { result, load: await run.done };
    } finally {
      run.stop();
    }
  };

  it('two StatefulSets behind one Service, two operators walking at once: both finish, every deletion at weight 0, every ordinal back as before, nothing lost', async () => {
    const ns = await ctx.env.namespace('shared');
    const a: Workload = { namespace: ns, name: 'a', replicas: 3, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    const b: Workload = { ...a, name: 'b' };
    for (const w of [a, b]) {
      const sts = statefulSet(w);
      sts.spec!.template.metadata!.labels = { ...sts.spec!.template.metadata!.labels, tier: 'edge' };
      await apps.createNamespacedStatefulSet({ namespace: ns, body: sts });
    }
    const before = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"b","weights":[{"weight":20,"podIndexes":[2]}]}]}]}';
    const svc: V1Service = loadBalancerService(a, 'edge', { [RS_WEIGHT]: before });
    svc.spec!.selector = { tier: 'edge' };
    await core.createNamespacedService({ namespace: ns, body: svc });
    const { vip } = await until('edge serving 6 pods', 90_000, async () => {
      const s = await core.readNamespacedService({ name: 'edge', namespace: ns });
      const lb = ctx.sim.clb.loadBalancers.get(s.metadata?.annotations?.['service.kubernetes.io/loadbalance-id'] ?? '');
      const ip = s.status?.loadBalancer?.ingress?.[0]?.ip;
      return lb && ip && lb.listeners[0]?.targets.length === 6 && lb.listeners[0].targets.every((t) => ctx.sim.clb.isHealthy(lb.id, lb.listeners[0]!.id, t)) ? { vip: ip } : undefined;
    });
    const referee = await ApiReferee.watch(kc, ns);
    const { load } = await withLoad(vip, 80, async () => {
      await plugin(ns, ['start', 'a', '--image', 'app=gw:2']);
      await plugin(ns, ['start', 'b', '--image', 'app=gw:2']);
      // Two operators, each one batch at a time, at the same time: their writes to `edge` race.
      await Promise.all(
        ['a', 'b'].map(async (name) => {
          for (let i = 0; i < 3; i++) await plugin(ns, ['next', name, ...drain, '--batches', '1']);
          await plugin(ns, ['finish', name, ...drain]);
        }),
      );
    });
    referee.stop();
    expect(await annotation(ns, 'edge')).toBe(before);
    expect({ failed: load.failed, cut: load.cut }, JSON.stringify(load)).toEqual({ failed: 0, cut: 0 });
    expect(load.sent).toBeGreaterThan(1000);
    for (const name of ['a', 'b']) {
      const deletions = ctx.sim.controller.deletions.filter((d) => d.namespace === ns && d.pod.startsWith(`${name}-`));
      expectDeletionsDrained(deletions, [`${name}-0`, `${name}-1`, `${name}-2`, `${name}-3`], ['edge 80']);
      expectRefereed(referee.deletions(name), [`${name}-0`, `${name}-1`, `${name}-2`, `${name}-3`], ['edge TCP/80']);
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${name}` })).items;
      expect(pods.map((p) => p.spec?.containers[0]?.image)).toEqual(['gw:2', 'gw:2', 'gw:2']);
    }
  });

  it("a colleague adds another StatefulSet's entry and a port mid-walk: the entry survives, the port is drained before every later deletion", async () => {
    const w: Workload = { namespace: await ctx.env.namespace('colleague'), name: 'gw', replicas: 3, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    const sts = statefulSet(w);
    sts.spec!.template.spec!.containers[0]!.ports!.push({ name: 'p8443', containerPort: 8443, protocol: 'TCP' });
    await apps.createNamespacedStatefulSet({ namespace: w.namespace, body: sts });
    await core.createNamespacedService({ namespace: w.namespace, body: loadBalancerService(w) });
    const { vip } = await ctx.env.serving(w);
    const referee = await ApiReferee.watch(kc, w.namespace);
    const { load } = await withLoad(vip, 80, async () => {
      await plugin(w.namespace, ['start', 'gw', '--image', 'app=gw:2']);
      await plugin(w.namespace, ['next', 'gw', ...drain, '--batches', '1']);
      // helm adds 443; a colleague parks another StatefulSet's pod (on the value as it is now).
      const now = JSON.parse((await annotation(w.namespace, 'gw')) ?? '{"defaultWeight":10,"groups":[]}');
      expect(now.groups ?? []).toEqual([]);
      await otherWriter(w.namespace, 'gw', '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"edge","weights":[{"weight":0,"podIndexes":[5]}]}]}]}', 'kubectl-edit');
      await core.patchNamespacedService({ name: 'gw', namespace: w.namespace, body: { spec: { ports: [{ name: 'p80', protocol: 'TCP', port: 80, targetPort: 8080 }, { name: 'p443', protocol: 'TCP', port: 443, targetPort: 8443 }] } } }, strategic);
      const r = await plugin(w.namespace, ['next', 'gw', ...drain]);
      expect(r.stderr).toContain('service port gw TCP/443 is new: it joins the walk');
      await plugin(w.namespace, ['finish', 'gw', ...drain]);
    });
    referee.stop();
    expect({ failed: load.failed, cut: load.cut }, JSON.stringify(load)).toEqual({ failed: 0, cut: 0 });
    const deletions = ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace);
    expect(deletions.map((d) => d.pod)).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-3']);
    expectDeletionsDrained(deletions.slice(0, 1), ['gw-0'], ['gw 80']);
    expectDeletionsDrained(deletions.slice(1), ['gw-1', 'gw-2', 'gw-3'], ['gw 80', 'gw 443']);
    expectRefereed(referee.deletions('gw').slice(1), ['gw-1', 'gw-2', 'gw-3'], ['gw TCP/80', 'gw TCP/443']);
    // The colleague's entry is there, and nothing of the walk's is left.
    expect(await annotation(w.namespace, 'gw')).toBe('{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"edge","weights":[{"weight":0,"podIndexes":[5]}]}]}]}');
  });

  it('a GitOps revert of the whole annotation during the drain: nothing deleted until drained again; the message names the writer', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('gitops'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    const { vip } = await ctx.env.deploy(w);
    const referee = await ApiReferee.watch(kc, w.namespace);
    const { result: r, load } = await withLoad(vip, 80, async () => {
      await plugin(w.namespace, ['start', 'gw', '--image', 'app=gw:2']);
      const walking = runPlugin(['next', 'gw', '-n', w.namespace, '--yes', '--min-drain', '6s', '--batches', '1']);
      await until('the drain on the Service', 30_000, async () => (await annotation(w.namespace, 'gw'))?.includes('"weight":0'));
      await sleep(1000);
      // Argo CD self-heals the Service from Git, where it has no lb-rs-weight.
      await otherWriter(w.namespace, 'gw', null, 'argocd-controller');
      return walking;
    });
    referee.stop();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('the drain no longer holds: service "gw" TCP/80 gives gw-0 a weight above 0 (lb-rs-weight last written by argocd-controller)');
    expect(r.stderr).toContain('pause its auto-sync');
    // Drained twice (the revert undid the first), confirmed once: after the second drain held.
    const events = (await core.listNamespacedEvent({ namespace: w.namespace, fieldSelector: 'involvedObject.kind=StatefulSet,involvedObject.name=gw' })).items;
    expect(events.filter((e) => e.reason === 'Drained').map((e) => e.message!.split(':')[0])).toEqual(['gw-0', 'gw-0']);
    expect(events.filter((e) => e.reason === 'DrainConfirmed').map((e) => e.message!.split(':')[0])).toEqual(['gw-0']);
    expect({ failed: load.failed, cut: load.cut }, JSON.stringify(load)).toEqual({ failed: 0, cut: 0 });
    const deletions = ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace);
    expectDeletionsDrained(deletions, ['gw-0'], ['gw 80']);
    expectRefereed(referee.deletions('gw'), ['gw-0'], ['gw TCP/80']);
  });

  it('finish after the annotation was reverted drains and confirms again; finish after replicas were raised by hand refuses and deletes nothing', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('finish'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    await plugin(w.namespace, ['start', 'gw', '--image', 'app=gw:2']);
    await plugin(w.namespace, ['next', 'gw', ...drain]);
    // Raised by hand: refused, nothing scaled or deleted.
    await apps.patchNamespacedStatefulSet({ name: 'gw', namespace: w.namespace, body: { spec: { replicas: 4 } } }, strategic);
    await until('gw-3 Ready', 60_000, async () => (await core.readNamespacedPod({ name: 'gw-3', namespace: w.namespace }).catch(() => undefined))?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    const refused = await plugin(w.namespace, ['finish', 'gw', ...drain], 3);
    expect(refused.stderr).toMatch(/has 4 replicas, but the walk expects 3 \(someone or an autoscaler changed spec.replicas\)/);
    expect((await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace })).spec?.replicas).toBe(4);
    expect(ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace && d.pod >= 'gw-2')).toEqual([]);
    await apps.patchNamespacedStatefulSet({ name: 'gw', namespace: w.namespace, body: { spec: { replicas: 3 } } }, strategic);
    await until('gw-3 gone', 60_000, async () => !(await core.readNamespacedPod({ name: 'gw-3', namespace: w.namespace }).catch(() => undefined)));
    // Reverted during finish's drain: drained and confirmed again before the scale-down. (The
    // refused run left the surge drained; helm takes that off first, so this run drains anew.)
    await otherWriter(w.namespace, 'gw', null, 'helm');
    const finishing = runPlugin(['finish', 'gw', '-n', w.namespace, '--yes', '--min-drain', '6s']);
    await until('the surge drain on the Service', 30_000, async () => (await annotation(w.namespace, 'gw'))?.includes('"weight":0'));
    await sleep(1000);
    await otherWriter(w.namespace, 'gw', null, 'flux-kustomize-controller');
    const r = await finishing;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('the drain no longer holds: service "gw" TCP/80 gives gw-2 a weight above 0 (lb-rs-weight last written by flux-kustomize-controller)');
    const surge = ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace && d.pod === 'gw-2');
    expectDeletionsDrained(surge, ['gw-2'], ['gw 80']);
    expect(await annotation(w.namespace, 'gw')).toBeUndefined();
  });

  it('updateStrategy switched to RollingUpdate mid-walk: the walk stops before its next change', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('strategy'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    await plugin(w.namespace, ['start', 'gw', '--image', 'app=gw:2']);
    await plugin(w.namespace, ['next', 'gw', ...drain, '--batches', '1']);
    const svc = (await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata!.resourceVersion;
    await apps.patchNamespacedStatefulSet({ name: 'gw', namespace: w.namespace, body: { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: null } } } }, strategic);
    const r = await plugin(w.namespace, ['next', 'gw', ...drain], 3);
    expect(r.stderr).toContain('error: statefulset "gw" now has updateStrategy RollingUpdate');
    expect((await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata!.resourceVersion).toBe(svc);
    const record = decodeRecord((await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace })).metadata!.annotations![RECORD]!);
    expect(record.batches[1]!.phase).toBe('pending');
  });
});
