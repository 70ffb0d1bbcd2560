// abort in the middle of a walk: no more pods rebuilt, surge drained and removed, Services restored.
import { describe, expect, it } from 'vitest';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import type { Workload } from '../../sim/scenarios.js';
import { adminClients, expectDeletionsDrained, runPlugin, runUntil, useSimulator } from './support.js';

describe('abort', () => {
  const ctx = useSimulator({ propagationDelayMs: 500, jitterMs: 100 });
  const { apps, core } = adminClients();

  it('mid-walk keeps upgraded pods new and the rest old, and ends with the cluster as before but for those', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('abort'), name: 'gw', replicas: 3, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    expect((await runPlugin(['start', 'gw', ...ns, '--image', 'app=gw:2'])).code).toBe(0);
    // The operator's session ends after the first batch (killed); a colleague aborts.
    expect((await runUntil(['next', 'gw', ...ns, '--yes', '--min-drain', '2s'], 'restored gw-0')).killed).toBe(true);
    const abort = await runPlugin(['abort', 'gw', ...ns, '--yes', '--min-drain', '2s']);
    expect(abort.stderr).toContain('surge pods drained and removed: gw-3');
    expect(abort.code, abort.stderr).toBe(0);
    const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    expect(sts.spec?.replicas).toBe(3);
    expect(sts.metadata?.annotations?.['zerolossupgrade.io/upgrade']).toBeUndefined();
    const svc = await core.readNamespacedService({ name: 'gw', namespace: w.namespace });
    expect(svc.metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
    const pods = (await core.listNamespacedPod({ namespace: w.namespace, labelSelector: 'app=gw' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods.map((p) => [p.metadata?.name, p.spec?.containers[0]?.image]).sort()).toEqual([['gw-0', 'gw:2'], ['gw-1', 'gw:1'], ['gw-2', 'gw:1']]);
    expectDeletionsDrained(ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace), ['gw-0', 'gw-3'], ['gw 80']);
  });
});
