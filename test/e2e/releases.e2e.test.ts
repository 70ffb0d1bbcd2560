// Every release and every way out, on the real control plane with the simulator: upgrades in a row
// (status.currentRevision never moves under OnDelete), rollback by recorded revision after a
// template change mid-walk, the health gate, PodDisruptionBudgets, and a failed wait that exits.
import { PatchStrategy, PolicyV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { decodeRecord } from '../../src/core/upgrade.js';
import { until, type Workload } from '../../sim/scenarios.js';
import { adminClients, expectDeletionsDrained, onTerminal, runPlugin, useSimulator } from './support.js';

const RECORD = 'zerolossupgrade.io/upgrade';
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

describe('every release and every way out', () => {
  const ctx = useSimulator({ propagationDelayMs: 500, jitterMs: 100 });
  const { apps, core, kc } = adminClients();
  const workload = async (prefix: string, replicas = 3): Promise<Workload> => {
    const w: Workload = { namespace: await ctx.env.namespace(prefix), name: 'gw', replicas, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    return w;
  };
  const plugin = async (w: Workload, args: string[], expected = 0) => {
    const r = await runPlugin([...args, '-n', w.namespace]);
    expect(r.code, `${args.join(' ')}:\n${r.stderr}`).toBe(expected);
    return r;
  };
  const drain = ['--yes', '--min-drain', '1s'];
  const pods = async (w: Workload) => (await core.listNamespacedPod({ namespace: w.namespace, labelSelector: `app=${w.name}` })).items.filter((p) => !p.metadata?.deletionTimestamp).sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
  const deletionsIn = (w: Workload) => ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace);

  it('three upgrades in a row, then a rollback of the last one: each walk completes, every deletion at weight 0', async () => {
    const w = await workload('releases');
    const revisionsSeen: string[] = [];
    for (const image of ['gw:2', 'gw:3', 'gw:4']) {
      await plugin(w, ['start', 'gw', '--image', `app=${image}`]);
      await plugin(w, ['next', 'gw', ...drain]);
      await plugin(w, ['finish', 'gw', ...drain]);
      const now = await pods(w);
      expect(now.map((p) => p.spec?.containers[0]?.image)).toEqual([image, image, image]);
      const revs = new Set(now.map((p) => p.metadata?.labels?.['controller-revision-hash']));
      expect(revs.size).toBe(1);
      revisionsSeen.push([...revs][0]!);
      const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
      expect(sts.metadata?.annotations?.[RECORD]).toBeUndefined();
      expect(sts.spec?.replicas).toBe(3);
    }
    // The controller never advanced currentRevision past the first release: what the old check tripped on.
    const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    expect(sts.status?.currentRevision).not.toBe(revisionsSeen[2]);
    expect(new Set(revisionsSeen).size).toBe(3);
    // The next release, walked one batch, then rolled back to the third.
    await plugin(w, ['start', 'gw', '--image', 'app=gw:5']);
    await plugin(w, ['next', 'gw', ...drain, '--batches', '1']);
    await plugin(w, ['rollback', 'gw', ...drain]);
    await plugin(w, ['finish', 'gw', ...drain]);
    const back = await pods(w);
    expect(back.map((p) => [p.metadata?.name, p.spec?.containers[0]?.image, p.metadata?.labels?.['controller-revision-hash']])).toEqual(
      ['gw-0', 'gw-1', 'gw-2'].map((n) => [n, 'gw:4', revisionsSeen[2]]),
    );
    const svc = await core.readNamespacedService({ name: 'gw', namespace: w.namespace });
    expect(svc.metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
    // 3 pods x 3 walks, gw-0 forth and back in the fourth, and every surge pod scaled away.
    expectDeletionsDrained(deletionsIn(w), ['gw-0', 'gw-0', 'gw-0', 'gw-0', 'gw-0', 'gw-1', 'gw-1', 'gw-1', 'gw-2', 'gw-2', 'gw-2', 'gw-3', 'gw-3', 'gw-3', 'gw-3'], ['gw 80']);

    // The history outlives the Events (the apiserver drops them after --event-ttl): delete them all.
    await core.deleteCollectionNamespacedEvent({ namespace: w.namespace });
    expect((await core.listNamespacedEvent({ namespace: w.namespace, fieldSelector: 'involvedObject.kind=StatefulSet' })).items).toEqual([]);
    const history = JSON.parse((await plugin(w, ['history', 'gw', '-o', 'json'])).stdout) as { number: number; outcome: string; toImages: { image: string }[]; toRevision: string; batches: { ordinals: string; confirmation: { by: string; how: string } }[] }[];
    expect(history.map((e) => [e.number, e.outcome, e.toImages[0]!.image])).toEqual([
      [4, 'rolled back', 'gw:5'],
      [3, 'finished', 'gw:4'],
      [2, 'finished', 'gw:3'],
      [1, 'finished', 'gw:2'],
    ]);
    expect(history.slice(1).map((e) => e.toRevision).reverse()).toEqual(revisionsSeen);
    for (const e of history.slice(1)) {
      expect(e.batches.map((b) => b.ordinals)).toEqual(['0', '1', '2']);
      for (const b of e.batches) expect(b.confirmation).toMatchObject({ by: 'zlu-operator', how: 'yes' });
    }
    const table = (await plugin(w, ['history', 'gw'])).stdout;
    expect(table.indexOf('app=gw:5')).toBeGreaterThan(-1);
    expect(table.indexOf('app=gw:5')).toBeLessThan(table.indexOf('app=gw:2'));
    const detail = (await plugin(w, ['history', 'gw', '--upgrade', '4'])).stdout;
    expect(detail).toContain('Upgrade 4 of statefulset gw: rolled back');
    expect(detail).toMatch(/Rolled back: 20\d\d-.* by zlu-operator/);
  });

  it('rollback after a template change mid-walk: every original ordinal ends on the original revision', async () => {
    const w = await workload('rbrev', 4);
    const original = (await pods(w))[0]!.metadata!.labels!['controller-revision-hash']!;
    await plugin(w, ['start', 'gw', '--image', 'app=gw:2', '--batch', '2']);
    await plugin(w, ['next', 'gw', ...drain, '--batches', '1']);
    // A colleague's `kubectl rollout restart`: a third revision of the template.
    await apps.patchNamespacedStatefulSet(
      { name: 'gw', namespace: w.namespace, body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } } },
      strategic,
    );
    const refused = await plugin(w, ['next', 'gw', ...drain], 3);
    expect(refused.stderr).toMatch(/error: the template of statefulset "gw" changed during the walk: revision gw-\w+, not gw-\w+/);
    // Someone deletes gw-3 meanwhile: it comes back on the intermediate revision.
    await core.deleteNamespacedPod({ name: 'gw-3', namespace: w.namespace });
    await until('gw-3 back on the intermediate revision', 60_000, async () => {
      const p = (await pods(w)).find((x) => x.metadata?.name === 'gw-3');
      const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
      return p?.metadata?.labels?.['controller-revision-hash'] === sts.status?.updateRevision && p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    });
    const rb = await plugin(w, ['rollback', 'gw', ...drain]);
    expect(rb.stderr).toContain('the template changed since start');
    expect(rb.stderr).toMatch(/spec\.template\.metadata\.annotations\.kubectl\.kubernetes\.io\/restartedAt: \(none\) -> 20\d\d-/);
    await plugin(w, ['finish', 'gw', ...drain]);
    const after = await pods(w);
    expect(after.map((p) => [p.metadata?.name, p.metadata?.labels?.['controller-revision-hash'], p.spec?.containers[0]?.image])).toEqual(
      ['gw-0', 'gw-1', 'gw-2', 'gw-3'].map((n) => [n, original, 'gw:1']),
    );
    const all = deletionsIn(w);
    // The surge pods go highest ordinal first.
    expect(all.map((d) => d.pod)).toEqual(['gw-0', 'gw-1', 'gw-3', 'gw-0', 'gw-1', 'gw-3', 'gw-5', 'gw-4']);
    // The third is the test's own undrained delete; every one the plugin made was drained.
    expectDeletionsDrained([...all.slice(0, 2), ...all.slice(3)], ['gw-0', 'gw-1', 'gw-0', 'gw-1', 'gw-3', 'gw-5', 'gw-4'], ['gw 80']);
  });

  it('surge pods in ImagePullBackOff or unschedulable: next refuses before draining, naming the pods and why', async () => {
    const w = await workload('gate', 2);
    // helm changes the template (an image that cannot be pulled); start adopts it.
    await apps.patchNamespacedStatefulSet(
      { name: 'gw', namespace: w.namespace, body: { spec: { template: { metadata: { annotations: { 'sim.zerolossupgrade.io/fault': 'image-pull' } }, spec: { containers: [{ name: 'app', image: 'gw:missing' }] } } } } },
      strategic,
    );
    const started = await plugin(w, ['start', 'gw', '--timeout', '5s'], 3);
    expect(started.stderr).toMatch(/gw-2: app ImagePullBackOff: Back-off pulling image "gw:missing"/);
    const svcBefore = (await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata!.resourceVersion;
    const next = await plugin(w, ['next', 'gw', ...drain], 3);
    expect(next.stderr).toMatch(/error: not every pod that should be serving is Running and Ready, so draining gw-0 would cut capacity: gw-2: app ImagePullBackOff: Back-off pulling image "gw:missing"\. Nothing was changed/);
    expect((await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata!.resourceVersion).toBe(svcBefore);
    expect(deletionsIn(w)).toEqual([]);
    await plugin(w, ['abort', 'gw', ...drain]);

    // A template the scheduler cannot place: the scheduler's own message.
    await apps.patchNamespacedStatefulSet(
      { name: 'gw', namespace: w.namespace, body: { spec: { template: { metadata: { annotations: { 'sim.zerolossupgrade.io/fault': null } }, spec: { nodeSelector: { 'zerolossupgrade.test/nowhere': 'true' }, containers: [{ name: 'app', image: 'gw:3' }] } } } } },
      strategic,
    );
    const unschedulable = await plugin(w, ['start', 'gw', '--timeout', '5s'], 3);
    expect(unschedulable.stderr).toMatch(/gw-2: Pending, not scheduled: Unschedulable: 0\/\d+ nodes are available: .*node affinity\/selector/);
    expect((await plugin(w, ['next', 'gw', ...drain], 3)).stderr).toContain('gw-2: Pending, not scheduled');
    await plugin(w, ['abort', 'gw', ...drain]);
    // No serving pod was deleted: only the surge pod in ImagePullBackOff (it had an IP and a CLB
    // target, so it was drained first); the unschedulable one never ran.
    expectDeletionsDrained(deletionsIn(w), ['gw-2'], ['gw 80']);
    expect((await pods(w)).map((p) => [p.metadata?.name, p.spec?.containers[0]?.image])).toEqual([['gw-0', 'gw:1'], ['gw-1', 'gw:1']]);
  });

  it('a PodDisruptionBudget with maxUnavailable 0: the walk waits and says why, deletes nothing, and goes on when the budget allows', async () => {
    const w = await workload('pdb', 2);
    const policy = kc.makeApiClient(PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({ namespace: w.namespace, body: { metadata: { name: 'gw' }, spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'gw' } } } } });
    await plugin(w, ['start', 'gw', '--image', 'app=gw:2']);
    await until('the budget counted', 30_000, async () => (await policy.readNamespacedPodDisruptionBudget({ name: 'gw', namespace: w.namespace })).status?.currentHealthy === 3);
    const running = runPlugin(['next', 'gw', '-n', w.namespace, ...drain, '--timeout', '90s']);
    // While the budget refuses: still drained, nothing deleted.
    await until('the walk to wait on the budget', 60_000, async () => {
      const r = decodeRecord((await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace })).metadata!.annotations![RECORD]!);
      return r.batches[0]!.phase === 'deleting';
    });
    await new Promise((r) => setTimeout(r, 4000));
    expect(deletionsIn(w)).toEqual([]);
    await policy.patchNamespacedPodDisruptionBudget({ name: 'gw', namespace: w.namespace, body: { spec: { maxUnavailable: 1 } } }, strategic);
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/waiting to evict gw-0: .*(disruption budget|gw)/i);
    await plugin(w, ['finish', 'gw', ...drain]);
    expectDeletionsDrained(deletionsIn(w), ['gw-0', 'gw-1', 'gw-2'], ['gw 80']);
  });

  it('on a terminal, a wait that times out exits with code 3 within a second of printing the error', async () => {
    const w = await workload('tty-timeout', 1);
    await apps.patchNamespacedStatefulSet(
      { name: 'gw', namespace: w.namespace, body: { spec: { template: { metadata: { annotations: { 'sim.zerolossupgrade.io/fault': 'image-pull' } }, spec: { containers: [{ name: 'app', image: 'gw:missing' }] } } } } },
      strategic,
    );
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', KUBECONFIG: inject('operatorKubeconfig') };
    const r = await onTerminal(['start', 'gw', '-n', w.namespace, '--timeout', '3s'], [], env);
    expect(r.screen).toContain('error: surge pods did not become Ready within --timeout');
    expect(r.code).toBe(3);
    expect(r.errorAt).toBeDefined();
    expect(r.closedAt - r.errorAt!).toBeLessThan(1000);
  });
});
