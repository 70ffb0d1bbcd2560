// Bad input against the real cluster: a clear message, a non-zero exit, and the StatefulSet's and
// Services' resourceVersions unchanged.
import { beforeAll, describe, expect, it } from 'vitest';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { loadBalancerService, statefulSet, until, type Workload } from '../../sim/scenarios.js';
import { adminClients, runPlugin, useSimulator } from './support.js';

describe('refusals leave the cluster unchanged', () => {
  const ctx = useSimulator({ propagationDelayMs: 200, jitterMs: 50 });
  let ns: string;
  const { apps, core } = adminClients();
  const workload = (name: string, extra: Partial<Workload> = {}): Workload => ({ namespace: ns, name, replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5, ...extra });

  beforeAll(async () => {
    ns = await ctx.env.namespace('refuse');
    await ctx.env.deploy(workload('ok'));
    await ctx.env.deploy(workload('rolling', { strategy: 'RollingUpdate' }));
    const bad = workload('badanno');
    const plain = workload('plain');
    for (const w of [bad, plain, workload('lonely')]) await apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet(w) });
    for (const name of ['badanno', 'plain', 'lonely']) await ctx.env.rolledOut(workload(name), 'gw:1');
    // The malformed annotation comes later, on running pods, as an edit does: created with it, the
    // Service would never sync, so TKE's readiness gate would keep its pods from ever being Ready.
    await core.createNamespacedService({ namespace: ns, body: loadBalancerService(bad, 'badanno', { [RS_WEIGHT]: '{"groups":[' }) });
    const svc = loadBalancerService(plain);
    delete svc.metadata!.annotations!['service.cloud.tencent.com/direct-access'];
    await core.createNamespacedService({ namespace: ns, body: svc });
    // The StatefulSet controller keeps writing status for a moment after the pods are Ready:
    // wait until every resourceVersion holds still, or a refusal would seem to have changed something.
    let last = '';
    await until('the namespace at rest', 30_000, async () => {
      const now = JSON.stringify(await versions());
      const still = now === last;
      last = now;
      if (!still) await new Promise((r) => setTimeout(r, 1500));
      return still;
    });
  });

  const versions = async () => ({
    sts: Object.fromEntries((await apps.listNamespacedStatefulSet({ namespace: ns })).items.map((s) => [s.metadata!.name!, s.metadata!.resourceVersion])),
    svc: Object.fromEntries((await core.listNamespacedService({ namespace: ns })).items.map((s) => [s.metadata!.name!, s.metadata!.resourceVersion])),
    pods: (await core.listNamespacedPod({ namespace: ns })).items.map((p) => `${p.metadata!.name}/${p.metadata!.uid}${p.metadata?.deletionTimestamp ? ' deleting' : ''}`).sort(),
  });

  it.each([
    ['RollingUpdate strategy', ['start', 'rolling', '--image', 'app=gw:2'], 3, 'has updateStrategy RollingUpdate'],
    ['unknown container', ['start', 'ok', '--image', 'nope=gw:2'], 3, 'has no container "nope" (it has: app)'],
    ['malformed existing annotation', ['start', 'badanno', '--image', 'app=gw:2'], 3, 'malformed service.cloud.tencent.com/lb-rs-weight annotation: not valid JSON'],
    ['Service without direct-access', ['start', 'plain', '--image', 'app=gw:2'], 3, 'is not in CLB direct-to-pod mode'],
    ['no selecting Service', ['start', 'lonely', '--image', 'app=gw:2'], 3, 'no LoadBalancer Service selects the pods of statefulset "lonely"'],
    ['StatefulSet not found', ['start', 'ghost', '--image', 'app=gw:2'], 1, 'statefulsets "ghost" not found'],
    ['invalid image reference', ['start', 'ok', '--image', 'app=Bad Image'], 2, 'is not a valid image reference'],
    ['next without start', ['next', 'ok', '--yes'], 3, 'no upgrade is in progress on statefulset "ok"'],
    ['finish without start', ['finish', 'ok', '--yes'], 3, 'no upgrade is in progress on statefulset "ok"'],
  ])('%s', async (_, args, code, message) => {
    const before = await versions();
    const r = await runPlugin([...args, '-n', ns]);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toMatch(/^error: /m);
    expect(r.code).toBe(code);
    expect(await versions()).toEqual(before);
  });

  it('finish too early lists the pods not yet walked and changes nothing', async () => {
    expect((await runPlugin(['start', 'ok', '--image', 'app=gw:2', '-n', ns])).code).toBe(0);
    const before = await versions();
    const r = await runPlugin(['finish', 'ok', '--yes', '-n', ns]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('error: pods not yet walked: ok-0, ok-1; walk them with: kubectl zerolossupgrade next ok (or pass --force)');
    expect(await versions()).toEqual(before);
  });

  it('--dry-run on every changing command prints requests and leaves every resourceVersion unchanged', async () => {
    // 'ok' has an upgrade recorded by the test above.
    const before = await versions();
    for (const args of [['next', 'ok'], ['finish', 'ok', '--force'], ['abort', 'ok'], ['rollback', 'ok'], ['start', 'badanno', '--image', 'app=gw:2']]) {
      const r = await runPlugin([...args, '--dry-run', '-n', ns]);
      if (args[1] === 'badanno') {
        expect(r.code).toBe(3); // preflight still refuses in a dry run
        continue;
      }
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^dry run: nothing was changed\. In order, the command would:\n1\. /);
    }
    const next = await runPlugin(['next', 'ok', '--dry-run', '-n', ns]);
    expect(next.stdout).toContain('POST pods/ok-0/eviction');
    expect(await versions()).toEqual(before);
    // No refusal and no dry run in this file deleted a pod (the pods of 5 StatefulSets, 2 each, and the surge pod of 'ok').
    expect(before.pods).toHaveLength(11);
    expect(ctx.sim.controller.deletions.filter((d) => d.namespace === ns)).toEqual([]);
  });
});
